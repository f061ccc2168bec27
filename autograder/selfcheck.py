"""Checks run inside a notebook: the lab notebook's test cells call ``assert_check``.

    from autograder.selfcheck import assert_check
    assert_check("part1.basic_block.shapes", globals())

The check grades the classes and functions defined in the notebook (``globals()``), in the
notebook's own process: the grader's requests are answered by the worker's code, through the
same message format as a worker subprocess (so tensors are copied both ways, as there). The
reference's values are live where the kit's solutions are importable (an instructor's
machine, ``nbgrader autograde``), and replayed from golden/ elsewhere (a student's copy).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import sys
import types
from pathlib import Path
from typing import Optional

import torch

from autograder import paths
from autograder.engine.client import SubmissionError
from autograder.i18n import _, course_language, speaking
from autograder.runtime.protocol import read_message, write_message
from autograder.runtime.worker import LAB_MODULES, WorkerState, answer


class NotebookWorker:
    """Answers the grader's requests in this process, from the definitions in ``namespace``.

    Every lab module name (``resnet``, ``vit``, ...) stands for the whole namespace: a notebook
    defines all its classes in one place.
    """

    def __init__(self, namespace: dict, device: str = "cpu") -> None:
        module = types.ModuleType("lab3_notebook")
        module.__dict__.update(namespace)
        module.__lab_source__ = "the notebook"
        self.state = WorkerState(Path.cwd(), device)
        self.state.modules = {name: module for name in LAB_MODULES}

    def request(self, header: dict, tensors: Optional[dict[str, torch.Tensor]] = None, timeout: float = 60.0):
        """Like ``Worker.request`` (the timeout aside: this is the student's own process)."""
        request, request_tensors = _round_trip(header, tensors)
        reply, out = answer(self.state, request, request_tensors)
        reply, reply_tensors = _round_trip(reply, out)
        if not reply.get("ok"):
            raise SubmissionError.from_reply(reply)
        return reply, reply_tensors


def _round_trip(header: dict, tensors: Optional[dict[str, torch.Tensor]]):
    """(header, tensors) as the other side of a pipe would read them: JSON values, copied tensors."""
    buffer = io.BytesIO()
    write_message(buffer, header, tensors)
    buffer.seek(0)
    return read_message(buffer)


def reference_mode() -> str:
    """``live`` where the reference solutions can be imported, else ``replay`` from golden/."""
    return "live" if importlib.util.find_spec("solutions") is not None else "replay"


@functools.lru_cache(maxsize=4)
def _rubric(path: str):
    from autograder.checks import CHECKS
    from autograder.rubric import load_rubric

    return load_rubric(path, CHECKS)


def run_notebook_check(check_id: str, namespace: dict, rubric_path: Path | str = paths.ROOT / "grading.yml",
                       device: str = "cpu"):
    """(fraction, feedback) of one rubric check on the definitions in ``namespace`` (the checks it
    uses run first, unscored, to name a root cause)."""
    from autograder.checking import Checking
    from autograder.checks import CHECKS

    rubric = _rubric(str(rubric_path))
    if check_id not in rubric.checks or check_id not in CHECKS:
        known = ", ".join(sorted(rubric.checks)[:5])
        raise KeyError(f"no check {check_id!r} in {rubric_path} (checks look like {known}, ...)")
    spec = CHECKS[check_id]
    # nbgrader gives no points to a test cell that writes to stderr: the student's warnings and
    # prints during the check go to stdout.
    with contextlib.redirect_stderr(sys.stdout), speaking(course_language(rubric.language)):
        outcome = Checking(NotebookWorker(namespace, device), None, rubric, reference_mode()).outcome(check_id)
        hint = "\n" + _("See the slides: {section}").format(section=spec.hint)
    return outcome.fraction, outcome.message if outcome.fraction >= 1 else outcome.message + hint


def assert_check(check_id: str, namespace: dict, rubric_path: Path | str = paths.ROOT / "grading.yml",
                 device: str = "cpu") -> None:
    """Print the check's feedback; raise AssertionError with it unless the check earns full marks."""
    fraction, feedback = run_notebook_check(check_id, namespace, rubric_path, device)
    with speaking(course_language(_rubric(str(rubric_path)).language)):
        if fraction < 1:
            raise AssertionError(_("{check}: {share} of its points").format(check=check_id, share=f"{fraction:.0%}")
                                 + f"\n{feedback}")
        print(_("{check}: passed.").format(check=check_id) + f" {feedback}")


def graded_after_due_date(count: int, points: float, shown: int) -> None:
    """Say, in a test cell, that ``count`` of its checks (``points`` points) are not run here: they
    run when the lab is graded, after the due date. ``shown``: the cell's checks that do run here."""
    with speaking(course_language(_rubric(str(paths.ROOT / "grading.yml")).language)):
        if shown:
            print(_("{count} more check(s) in this cell, worth {points} point(s), are graded after the due date, when "
                    "the lab is graded; the checks above ran here.").format(count=count, points=f"{points:g}"))
        else:
            print(_("Graded after the due date: this cell's {count} check(s), worth {points} point(s), run when the "
                    "lab is graded, not here. Nothing is checked yet, so passing this cell earns nothing by "
                    "itself.").format(count=count, points=f"{points:g}"))
