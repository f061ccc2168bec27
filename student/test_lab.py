"""Lab 3 self-check: every visible autograder check on your work, one test each.

    pytest                       # checks skeletons/, the folder you complete
    LAB3_WORK=path pytest        # checks another folder laid out like skeletons/, or a .ipynb notebook

Your code is graded once, in a separate process, with the same checks and feedback as the
instructors' grader; the reference's values come from golden/ (no solutions needed). A failing
test's message is the check's feedback. The checks graded after the due date are not here.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder import paths
from autograder.checks import CHECKS
from autograder.golden_files import visible_rubric
from autograder.grade import grade
from autograder.rubric import load_rubric

RUBRIC = visible_rubric(load_rubric(paths.ROOT / "grading.yml", CHECKS))
WORK = Path(os.environ.get("LAB3_WORK", paths.ROOT / "skeletons"))


@pytest.fixture(scope="session")
def results() -> dict:
    if not WORK.exists():
        pytest.fail(f"{WORK} does not exist: set LAB3_WORK to your folder or notebook")
    graded = grade(WORK, RUBRIC, "cpu", sandbox="off", reference="replay")
    return {result.id: result for result in graded.results}


@pytest.mark.parametrize("check_id", list(RUBRIC.checks))
def test_check(results, check_id):
    result = results[check_id]
    assert result.score == result.max_score, f"{result.score:g}/{result.max_score:g} points\n{result.output}"
