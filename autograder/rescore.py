"""Rescore a graded class for a rubric whose points changed, without running any submission.

Each ``OUT/<id>/results.json`` keeps, per check, the share of its points the submission earned
(``extra_data.fraction``, also for a check worth 0 points). A new rubric's grade follows from it as a
regrade would make it: each check's score is its new points times that share (rounded as ``grade``
rounds it), its visibility the new rubric's, the totals summed again; the feedback, the times and the
other stored outcomes stay. Every results.json is checked before any is written: a check of the new
rubric the stored results lack, or results without the shares (written by a kit older than
``extra_data``), stop the whole rescore with the advice to regrade, so that a class is never half
rescored.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from autograder.batch import NOT_GRADED, graded, submissions
from autograder.grade import STYLE_ID, style_heading
from autograder.i18n import course_language, speaking
from autograder.report import CheckResult, results_json, write_results
from autograder.rubric import Rubric

REGRADE = ("regrade instead: `python -m autograder batch DIR --out NEW_OUT --rubric RUBRIC` (batch keeps the "
           "results it finds, so a regrade goes into a new OUT, or into this one after deleting its results)")


class RescoreError(ValueError):
    """The stored results cannot give the new rubric's grade; the message says which and to regrade."""


def rescore(data: dict, rubric: Rubric, where: str) -> dict:
    """``data`` (one results.json) scored with ``rubric``'s points and visibility; RescoreError naming
    ``where`` when a check of the rubric is not stored with its share of the points."""
    stored: dict[str, dict] = {}
    for test in data.get("tests", []):
        if isinstance(test, dict) and isinstance(test.get("name"), str):
            stored[test["name"]] = test
    rules = {check_id: (rule.points, rule.visibility) for check_id, rule in rubric.checks.items()}
    if STYLE_ID in stored or rubric.style.points:
        rules[STYLE_ID] = (rubric.style.points, "visible")
    absent = [check_id for check_id in rules if check_id not in stored]
    if absent:
        raise RescoreError(f"{where}: no stored outcome for {_some(absent)}, which the rubric scores")
    shares = {check_id: _share(stored[check_id]) for check_id in rules}
    unshared = [check_id for check_id, share in shares.items() if share is None]
    if unshared:
        raise RescoreError(f"{where}: no extra_data.fraction (the share of the points earned) for {_some(unshared)}: "
                           "results written by an older kit")
    results = []
    for check_id, (points, visibility) in rules.items():
        test, share = stored[check_id], shares[check_id]
        extra = test.get("extra_data") or {}
        output = str(test.get("output", ""))
        if check_id == STYLE_ID and not math.isclose(float(test.get("max_score", 0)), points):
            with speaking(course_language(rubric.language)):  # as the grade wrote it
                output = "\n".join([style_heading(points)] + output.split("\n")[1:])
        try:
            results.append(CheckResult(check_id, round(points * share, 4), points, output, visibility,
                                       float(extra.get("seconds", 0.0)), fraction=share,
                                       alternatives=tuple(extra.get("alternatives", ())),
                                       incident=str(extra.get("incident", ""))))
        except (TypeError, ValueError) as error:
            raise RescoreError(f"{where}: {check_id}: {error}") from None
    rescored = results_json(results, float(data.get("execution_time", 0.0)), str(data.get("output", "")))
    return {**data, **rescored}


def rescore_class(out: Path, rubric: Rubric, folder: Path | None = None,
                  log: Callable[[str], None] = print) -> list[str]:
    """Rescore every results.json in ``out`` with ``rubric`` (atomically each, and none unless all can be);
    the ids rescored. ``folder``: the class's submissions, to say which have no results yet."""
    names, rescored, problems = [], {}, []
    for name, data in graded(out):
        names.append(name)
        try:
            rescored[name] = rescore(data, rubric, str(out / name / "results.json"))
        except RescoreError as error:
            problems.append(str(error))
    if problems:
        shown = problems[:5] + ([f"... and {len(problems) - 5} more"] if len(problems) > 5 else [])
        raise RescoreError("\n".join(shown + [f"nothing was rescored; {REGRADE}"]))
    for name, data in rescored.items():
        write_results(out / name / "results.json", data)
    not_graded = sorted(entry.parent.name for entry in out.glob(f"*/{NOT_GRADED}"))
    log(f"rescored {len(names)} submission(s) with the rubric's points, running none"
        + (f"; {len(not_graded)} not graded (no results to rescore: rerun batch without --rescore)"
           if not_graded else ""))
    if folder is not None:
        ungraded = [name for name in submissions(folder) if name not in rescored and name not in not_graded]
        if ungraded:
            log(f"{len(ungraded)} submission(s) of {folder} have no results yet (batch without --rescore grades "
                f"them): {', '.join(ungraded[:5])}{' ...' if len(ungraded) > 5 else ''}")
    return names


def _share(test: dict) -> float | None:
    """The stored share of the points a test earned, from 0 to 1; None where there is none."""
    extra = test.get("extra_data")
    value = extra.get("fraction") if isinstance(extra, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        return None
    return float(value)


def _some(ids: list[str], shown: int = 4) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
