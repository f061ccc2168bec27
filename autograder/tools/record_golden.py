"""golden/: the reference's values for the visible checks, recorded by grading solutions/.

``record`` grades the reference solutions with every visible check in record mode (see
``autograder.checks.golden``) and writes one file per check, keeping a committed file whose values
a fresh recording matches within ``same``'s tolerance (so that re-recording on another CPU changes
nothing). ``stale`` records afresh into a temporary folder and lists what differs.

Recording grades the reference with every visible check (about a minute), so golden/ also holds
``SOURCES``: a digest of every file the recording depends on. ``up_to_date`` says whether the
sources are those golden/ was recorded from; where they are, nothing needs recording again.
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
from autograder.checks.golden import SOURCES_FILE, sources_digest, up_to_date  # noqa: F401 - re-exported
from autograder.rubric import Rubric

"""The rubric visibility whose checks a student can run before the due date."""
FLOAT32_ROUNDING = 1e-5
"""How far, relative to a float32 tensor's largest value, another CPU's rounding may move a
recorded value: measured 1.2e-6 absolute on outputs up to 8.4 (part3.encoder_block.numerics on an
AMD EPYC against this machine's Intel Xeon), so 1.5e-7 of the scale; 1e-5 leaves room for deeper
networks and stays ten times under the float32 grading tolerance (atol 1e-4, rtol 1e-3)."""
FLOAT64_ROUNDING = 1e-9
"""The same for float64 values (rounding near 1e-16 per operation), under the float64 grading
tolerance (atol 1e-9, rtol 1e-7)."""


class GoldenError(RuntimeError):
    """The reference solutions did not pass a check they are recorded from."""


def record(rubric: Rubric, folder: Path = paths.GOLDEN) -> list[Path]:
    """Write ``folder``: one golden file per visible check of ``rubric`` and the sources' digest.
    A file whose values equal the fresh recording's (``same``) keeps its bytes. A check that takes no
    value from the reference (``CheckSpec.reference_values``) is not run: its file is empty."""
    from autograder.checks import CHECKS
    from autograder.grade import grade  # the grader imports the checks, which import this package's modules

    visible = rubric.visible()
    recorded = dataclasses.replace(visible, checks={check_id: rule for check_id, rule in visible.checks.items()
                                                    if CHECKS[check_id].reference_values})
    with tempfile.TemporaryDirectory(prefix="lab3-golden-") as scratch:
        for check_id in set(visible.checks) - set(recorded.checks):
            golden.golden_path(check_id, Path(scratch)).write_bytes(golden.dumps({}))
        graded = grade(paths.SOLUTIONS, recorded, "cpu", sandbox="off", reference="record", golden_folder=Path(scratch),
                       style=False)
        failing = [f"{r.id}: {r.output.splitlines()[0]}" for r in graded.results if r.score < r.max_score]
        if failing:
            raise GoldenError("the reference solutions must pass every check they are recorded from:\n"
                              + "\n".join(failing))
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.pt"):
            if old.stem not in visible.checks:
                old.unlink()
        written = []
        for check_id in visible.checks:
            target = golden.golden_path(check_id, folder)
            if not target.is_file() or _differences(check_id, Path(scratch), folder):
                shutil.copyfile(golden.golden_path(check_id, Path(scratch)), target)
            written.append(target)
    (folder / SOURCES_FILE).write_text(sources_digest(), encoding="utf-8")
    return written


def stale(rubric: Rubric, folder: Path = paths.GOLDEN) -> list[str]:
    """What differs between ``folder`` and a fresh recording; empty when it is up to date."""
    with tempfile.TemporaryDirectory(prefix="lab3-golden-") as scratch:
        record(rubric, Path(scratch))
        return compare(Path(scratch), folder, rubric)


def compare(fresh: Path, kept: Path, rubric: Rubric) -> list[str]:
    """What differs in the golden files of ``kept`` from those of ``fresh`` (a new recording)."""
    visible = rubric.visible()
    problems = [f"{path.name}: no check of the rubric records it" for path in sorted(kept.glob("*.pt"))
                if path.stem not in visible.checks]
    for check_id in visible.checks:
        if not golden.golden_path(check_id, kept).is_file():
            problems.append(f"{check_id}.pt: missing")
            continue
        problems += _differences(check_id, fresh, kept)
    return problems


def _differences(check_id: str, fresh: Path, kept: Path) -> list[str]:
    new, old = golden.load(check_id, fresh), golden.load(check_id, kept)
    problems = []
    for key in sorted(set(new) | set(old)):
        if key not in old or key not in new:
            problems.append(f"{check_id}.pt: {key!r} is {'missing' if key not in old else 'no longer recorded'}")
        elif not same(new[key], old[key]):
            problems.append(f"{check_id}.pt: {key!r} differs")
    return problems


def same(a: Any, b: Any) -> bool:
    """Equal plain values; floating-point tensors and lists of floats within what another CPU's
    rounding may change (``FLOAT32_ROUNDING`` of their largest value, ``FLOAT64_ROUNDING`` for
    float64 tensors), python floats alone within a relative 1e-5."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if (not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape
                or a.dtype != b.dtype):
            return False
        if a.is_floating_point():
            return _close(a, b, FLOAT64_ROUNDING if a.dtype == torch.float64 else FLOAT32_ROUNDING)
        return bool(torch.equal(a, b))
    if _floats(a) and _floats(b):
        # Values computed together (a layer's output sum and sum of squares): rounded on one scale.
        return len(a) == len(b) and _close(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                                           FLOAT32_ROUNDING)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-5)
    return type(a) is type(b) and a == b


def _floats(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and any(isinstance(v, float) for v in value) \
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _close(a: torch.Tensor, b: torch.Tensor, rounding: float) -> bool:
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=rounding, atol=rounding * max(scale, 1e-30)))
