"""Lab 3 self-check: every visible autograder check on your work, one test each.

    pytest                       # checks skeletons/, the folder you complete
    pytest -k mha                # only the checks whose id holds "mha" (part3.mha.*): seconds, not minutes
    LAB3_WORK=path pytest        # checks another folder laid out like skeletons/, or a .ipynb notebook

Your code is graded once, in a separate process, with the same checks and feedback as the
instructors' grader; the reference's values come from golden/ (no solutions needed). Only the
checks pytest selects are graded. A failing test prints one line, the start of the check's
feedback; ``python -m autograder check --only PART`` shows all of it, and your prints. The checks
graded after the due date are not here.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from autograder import paths
from autograder.checks import CHECKS
from autograder.grade import grade
from autograder.i18n import _, course_language, use
from autograder.rubric import load_rubric

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS).visible()
use(course_language(RUBRIC.language))  # this test session speaks the course's language
WORK = Path(os.environ.get("LAB3_WORK", paths.ROOT / "skeletons"))


@pytest.fixture(scope="session")
def results(request) -> dict:
    if not WORK.exists():
        pytest.fail(_("{path} does not exist: set LAB3_WORK to your folder or notebook").format(path=WORK),
                    pytrace=False)
    chosen = {item.callspec.params["check_id"] for item in request.session.items
              if hasattr(item, "callspec") and "check_id" in item.callspec.params}
    rubric = dataclasses.replace(RUBRIC, checks={c: r for c, r in RUBRIC.checks.items() if c in chosen})
    graded = grade(WORK, rubric, "cpu", sandbox="off", reference="replay", style=False)
    return {result.id: result for result in graded.results}


@pytest.mark.parametrize("check_id", list(RUBRIC.checks))
def test_check(results, check_id):
    result = results[check_id]
    if not result.passed:
        summary = result.output.splitlines()[0] if result.output else ""
        pytest.fail(_("{feedback} ({score}/{points} points)").format(
            feedback=summary, score=f"{result.score:g}", points=f"{result.max_score:g}"), pytrace=False)
