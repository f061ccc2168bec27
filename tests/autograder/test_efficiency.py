"""The efficiency checks' measuring workers: one pair per grading, the reference's shared by a process's gradings."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from autograder import paths
from autograder.checks.instructor import hidden
from autograder.grade import grade

sys.path.insert(0, str(Path(__file__).parent))
from test_grade import rubric  # noqa: E402

CHECKS = ("part3.mha.efficiency", "part3.encoder_block.efficiency")


def reference_pid() -> int:
    (shared,) = hidden._REFERENCE_WORKERS.values()
    return shared.worker.process.pid


@pytest.mark.slow
def test_the_reference_worker_serves_the_gradings_of_a_process_until_it_is_replaced(monkeypatch):
    monkeypatch.setattr(hidden, "_REFERENCE_WORKERS", {})
    monkeypatch.setattr(hidden, "REFERENCE_REUSES", 2)
    pids = []
    for _grading in range(3):
        graded = grade(paths.SOLUTIONS, rubric(*CHECKS), style=False)
        assert [r.score for r in graded.results] == [2.0, 2.0], [r.output for r in graded.results]
        pids.append(reference_pid())
    assert pids[0] == pids[1] != pids[2]  # two gradings served, then a fresh worker
    (shared,) = hidden._REFERENCE_WORKERS.values()
    assert shared.served == 1  # the third grading, counted once for its two checks
    shared.worker.close()
