"""The zoo tests' setup: this folder's helpers on ``sys.path`` and one thread per process.

pytest's default import mode already puts a test file's folder on ``sys.path``; inserting it here
keeps ``import mutations`` working under ``--import-mode=importlib`` too.
"""
import sys
from pathlib import Path

import pytest
import torch

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
pytest.register_assert_rewrite("mutations")  # its shared assertions report like the tests' own


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Grade on one intra-op thread, here and in the workers (started with this environment).

    The models are small; on a shared 2-core machine OpenMP threads spin-waiting for each other
    make grading about four times slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(previous)
