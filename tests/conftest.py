"""What every test runs with.

- English: ``LAB3_LANG=en`` overrides the rubric's language (Spanish, the course's) here and in every
  process the tests start. The tests of the Spanish texts ask for Spanish themselves (``autograder/i18n.py``).
- One thread: torch here and in every worker the tests start (``OMP_NUM_THREADS``, read by each
  process's torch when it starts) uses one intra-op thread. The tests' models are small, and the
  suite runs one pytest process per core (pytest-xdist): on a 2-core machine, threads spin-waiting
  for each other across processes make grading several times slower.
"""
import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported, here and in the processes started from here

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def english():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB3_LANG", "en")
        yield


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    torch.set_num_threads(1)
    yield
