"""The zoo tests' setup: this folder's helpers on ``sys.path``.

pytest's default import mode already puts a test file's folder on ``sys.path``; inserting it here
keeps ``import mutations`` working under ``--import-mode=importlib`` too.
"""
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
pytest.register_assert_rewrite("mutations")  # its shared assertions report like the tests' own


