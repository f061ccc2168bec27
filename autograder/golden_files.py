"""golden/: the reference's values for the visible checks, recorded by grading solutions/.

``record`` grades the reference solutions with every visible check in record mode (see
``autograder.checks.golden``) and writes one file per check; ``stale`` records afresh into a
temporary folder and lists what differs from the committed files. Values are compared with a
tolerance: another CPU may round the last bits of a float differently.
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from autograder import paths
from autograder.checks import golden
from autograder.rubric import Rubric

SHOWN = "visible"
"""The rubric visibility whose checks a student can run before the due date."""


class GoldenError(RuntimeError):
    """The reference solutions did not pass a check they are recorded from."""


def visible_rubric(rubric: Rubric) -> Rubric:
    """``rubric`` with only the checks students see before the due date."""
    return dataclasses.replace(rubric, checks={k: r for k, r in rubric.checks.items() if r.visibility == SHOWN})


def record(rubric: Rubric, folder: Path = paths.GOLDEN) -> list[Path]:
    """Write ``folder`` afresh: one golden file per visible check of ``rubric``."""
    from autograder.grade import grade  # the grader imports the checks, which import this package's modules

    visible = visible_rubric(rubric)
    with tempfile.TemporaryDirectory(prefix="lab3-golden-") as scratch:
        graded = grade(paths.SOLUTIONS, visible, "cpu", sandbox="off", reference="record", golden_folder=Path(scratch))
        failing = [f"{r.id}: {r.output.splitlines()[0]}" for r in graded.results if r.score < r.max_score]
        if failing:
            raise GoldenError("the reference solutions must pass every check they are recorded from:\n" + "\n".join(failing))
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.pt"):
            old.unlink()
        written = []
        for check_id in visible.checks:
            target = golden.golden_path(check_id, folder)
            shutil.copyfile(golden.golden_path(check_id, Path(scratch)), target)
            written.append(target)
    return written


def stale(rubric: Rubric, folder: Path = paths.GOLDEN) -> list[str]:
    """What differs between ``folder`` and a fresh recording; empty when it is up to date."""
    with tempfile.TemporaryDirectory(prefix="lab3-golden-") as scratch:
        record(rubric, Path(scratch))
        return compare(Path(scratch), folder, rubric)


def compare(fresh: Path, kept: Path, rubric: Rubric) -> list[str]:
    """What differs in the golden files of ``kept`` from those of ``fresh`` (a new recording)."""
    visible = visible_rubric(rubric)
    problems = [f"{path.name}: no check of the rubric records it" for path in sorted(kept.glob("*.pt"))
                if path.stem not in visible.checks]
    for check_id in visible.checks:
        if not golden.golden_path(check_id, kept).is_file():
            problems.append(f"{check_id}.pt: missing")
            continue
        new, old = golden.load(check_id, fresh), golden.load(check_id, kept)
        for key in sorted(set(new) | set(old)):
            if key not in old or key not in new:
                problems.append(f"{check_id}.pt: {key!r} is {'missing' if key not in old else 'no longer recorded'}")
            elif not same(new[key], old[key]):
                problems.append(f"{check_id}.pt: {key!r} differs")
    return problems


def same(a: Any, b: Any) -> bool:
    """Equal plain values, floats and float tensors within a relative 1e-5."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.is_floating_point():
            return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-7 * max(1.0, float(b.abs().max()) if b.numel() else 1.0)))
        return bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-5)
    return type(a) is type(b) and a == b
