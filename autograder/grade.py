"""Grade one submission (a folder laid out like skeletons/, or a notebook): every rubric check, in a worker."""
from __future__ import annotations

import contextlib
import functools
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import torch

from autograder.checking import Checking
from autograder.checks import CHECKS, golden
from autograder.engine.client import SubmissionError, Worker, WorkerFailure
from autograder.engine.device import resolve_device
from autograder.engine.sandbox import Limits, Sandbox
from autograder.engine.submission import NotebookError, code_cells, extract
from autograder.i18n import N_, _, course_language, speaking
from autograder.lanes import split
from autograder.report import CheckResult, results_json
from autograder.rubric import Rubric
from autograder.runtime.values import ref
from autograder.runtime.worker import LAB_MODULES
from autograder.style import style_report

NOTEBOOK_CODE = "_notebook_cells.py"
"""A notebook's code cells as one file, written beside its extracted modules for the style report."""
SELF_CHECK_NOTE = N_("Your code ran in a process of its own, as when instructors grade; there it also runs in a "
                     "sandbox, with time and memory limits.")
"""The first note of a self-check's report, in place of the sandbox's."""
PRINTED_LINES_KEPT = 20
"""Lines of the submission's prints kept per check."""
NOTEBOOK_LOAD_TIMEOUT_S = 120.0
"""Seconds a worker may take to load a notebook's definitions before the checks start."""


@dataclass
class Graded:
    """One submission's grade: a result per rubric check, and notes for the whole report."""

    results: list[CheckResult]
    """One per rubric check, in rubric order."""
    notes: list[str] = field(default_factory=list)
    """Lines shown above the checks: how the worker was confined, what was made of a notebook."""
    style: Optional[CheckResult] = None
    """The clean-code report (``autograder.style``), shown after the checks."""

    @property
    def reported(self) -> list[CheckResult]:
        """What a report shows: the checks, then the clean-code report."""
        return self.results + ([self.style] if self.style is not None else [])

    def results_json(self, execution_time: float) -> dict:
        """Gradescope's ``results.json``, the notes as its top-level ``output``."""
        return results_json(self.reported, execution_time, "\n".join(self.notes))


def ungraded(rubric: Rubric, reason: str, notes: list[str]) -> Graded:
    """Every rubric check at 0, each saying ``reason`` (nothing could be graded)."""
    return Graded([CheckResult(check_id, 0.0, rule.points, reason, rule.visibility, fraction=0.0, incident="ungradable")
                   for check_id, rule in rubric.checks.items()], notes,
                  CheckResult(STYLE_ID, 0.0, rubric.style.points, reason, "visible", fraction=0.0,
                              incident="ungradable"))


def grade(submission: Path, rubric: Rubric, device: str = "cpu", sandbox: str = "auto",
          reference: str = "live", golden_folder: Optional[Path] = None, threads: int = 1, lanes: int = 1,
          progress: Optional[Callable[[CheckResult, int, int], None]] = None, show_prints: bool = False,
          style: bool = True, language: Optional[str] = None) -> Graded:
    """Every rubric check, in rubric order, against ``submission``: a folder laid out like
    skeletons/, or a notebook whose definitions are taken (``autograder.engine.submission``).

    ``sandbox`` is the mode of ``autograder.engine.sandbox``, with the rubric's limits. ``reference``
    and ``golden_folder``: where the reference's values come from (see ``autograder.checking.run_check``);
    ``auto``: ``cached`` where golden/ was recorded from the sources as they are, else ``live``.
    ``threads``: torch's threads in the grader and in the worker while grading (see ``Worker``).
    ``lanes``: workers that run the checks side by side (``autograder.lanes``; one for a batch).
    ``progress(result, done, total)`` is called as each check finishes. Each result keeps what the
    submission printed while it ran; unless ``show_prints``, a note says the report leaves them out.
    ``style``: whether to add the clean-code report. ``language``: of the feedback (default: the rubric's).
    """
    with speaking(language or course_language(rubric.language)):
        submission = Path(submission).resolve()
        device = resolve_device(device)
        if reference == "auto":
            reference = "cached" if golden_folder is None and golden.up_to_date(rubric_too=False) else "live"
        confinement = Sandbox(sandbox, Limits.of(rubric.sandbox))
        notes = [_(SELF_CHECK_NOTE) if show_prints and sandbox == "off" else confinement.note(device)]
        grade_folder = functools.partial(_grade_folder, rubric=rubric, device=device, sandbox=confinement, notes=notes,
                                         threads=threads, lanes=lanes, reference=reference, golden_folder=golden_folder,
                                         progress=progress, style=style)
        return _grade(submission, rubric, notes, threads, show_prints, grade_folder)


def _grade(submission: Path, rubric: Rubric, notes: list[str], threads: int, show_prints: bool,
           grade_folder: Callable[..., Graded]) -> Graded:
    with torch_threads(threads):
        if not (submission.is_file() and submission.suffix == ".ipynb"):
            graded = grade_folder(submission, notebook=False)
        else:
            with tempfile.TemporaryDirectory(prefix="lab3-notebook-") as folder:
                try:
                    notes += [_("Notebook: {note}").format(note=note) for note in extract(submission, Path(folder))]
                    (Path(folder) / NOTEBOOK_CODE).write_text(code_cells(submission), encoding="utf-8")
                except NotebookError as error:
                    return ungraded(rubric, _("the notebook cannot be graded: {error}").format(error=error),
                                    notes + [_("Notebook: {note}").format(note=error)])
                graded = grade_folder(Path(folder), notebook=True)
    printed = sum(len(r.printed.splitlines()) for r in graded.results)
    if printed and not show_prints:
        graded.notes.append(_("Your code printed {count} line(s) while it was graded; prints are left out of this "
                              "report (`python -m autograder check` shows them).").format(count=printed))
    return graded


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads in this process set to ``threads``, restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


LaneReport = tuple[str, Union[CheckResult, BaseException]]
"""What a lane reports of a check: its id, and its result or the error the grader itself met."""


def _grade_folder(folder: Path, notebook: bool, rubric: Rubric, device: str, sandbox: Sandbox, notes: list[str],
                  threads: int, lanes: int, reference: str, golden_folder: Optional[Path],
                  progress: Optional[Callable[[CheckResult, int, int], None]], style: bool) -> Graded:
    check_ids = list(rubric.checks)
    parts = split(check_ids, lanes)
    finished: "queue.Queue[LaneReport]" = queue.Queue()
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(Worker(folder, device, sandbox, threads)) for _ in parts]
        for worker in workers:
            worker.start()  # it loads torch and the submission while the grader prepares
        if notebook:
            notes += _notebook_errors(workers[0])
        lane_threads = [threading.Thread(target=_run_lane, daemon=True, name=f"lane {index}",
                                         args=(worker, part, folder, rubric, reference, golden_folder, finished.put))
                        for index, (worker, part) in enumerate(zip(workers, parts))]
        for thread in lane_threads:
            thread.start()
        results = _in_rubric_order(check_ids, finished, progress)
        for thread in lane_threads:
            thread.join()
    return Graded(results, notes, style_result(folder, notebook, rubric.style.points) if style else None)


def _run_lane(worker: Worker, check_ids: list[str], folder: Path, rubric: Rubric, reference: str,
              golden_folder: Optional[Path], report: Callable[[LaneReport], None]) -> None:
    """Run ``check_ids`` in ``worker``, in order, reporting (id, result) as each finishes, or
    (id, the error) for the first the grader itself could not finish."""
    run = Checking(worker, folder, rubric, reference=reference, golden_folder=golden_folder)
    for index, check_id in enumerate(check_ids):
        if index == 1:  # the worker is up: other workers these checks need load beside the checks
            _warm_up(worker, check_ids)
        try:
            report((check_id, _result(run, check_id, rubric.checks[check_id])))
        except BaseException as error:  # noqa: BLE001 - raised again in the grading's own thread
            report((check_id, error))
            return


def _result(run: Checking, check_id: str, rule) -> CheckResult:
    """One check's result, with its time and what the submission printed while it ran."""
    spec = CHECKS[check_id]
    worker = run.worker
    start = time.perf_counter()
    mark = worker.output_mark()
    outcome = run.outcome(check_id)
    message = outcome.message
    if outcome.fraction < 1:
        message += "\n" + _("See the slides: {section}").format(section=spec.hint)
    printed = "\n".join(worker.output_since(mark).splitlines()[-PRINTED_LINES_KEPT:])
    return CheckResult(check_id, round(rule.points * outcome.fraction, 4), rule.points, message, rule.visibility,
                       time.perf_counter() - start, printed, outcome.fraction, outcome.alternatives, outcome.incident)


def _in_rubric_order(check_ids: list[str], finished: "queue.Queue[LaneReport]",
                     progress: Optional[Callable[[CheckResult, int, int], None]]) -> list[CheckResult]:
    """The lanes' results as they finish, in rubric order; ``progress`` told of each in that order."""
    arrived: dict[str, CheckResult] = {}
    results: list[CheckResult] = []
    while len(results) < len(check_ids):
        check_id, result = finished.get()
        if isinstance(result, BaseException):
            raise result
        arrived[check_id] = result
        while len(results) < len(check_ids) and check_ids[len(results)] in arrived:
            results.append(arrived.pop(check_ids[len(results)]))
            if progress is not None:
                progress(results[-1], len(results), len(check_ids))
    return results


def _warm_up(worker: Worker, check_ids: list[str]) -> None:
    """Start what ``check_ids`` need besides ``worker`` (``CheckSpec.warm_up``), each once."""
    for warm_up in dict.fromkeys(CHECKS[c].warm_up for c in check_ids if CHECKS[c].warm_up is not None):
        try:
            warm_up(worker)
        except Exception:  # noqa: BLE001 - the check that needs what failed to start reports why
            pass


STYLE_ID = "code.style"
"""The clean-code report's id among the results."""


def style_result(folder: Path, notebook: bool, points: float) -> CheckResult:
    """The clean-code report (``autograder.style``) on the submission's lab files, or on the code
    cells of a notebook, as a result worth ``points`` (0: a report for the teaching assistant)."""
    start = time.perf_counter()
    if notebook:
        report = style_report([folder / NOTEBOOK_CODE])
    else:
        report = style_report([folder / f"{module}.py" for module in LAB_MODULES])
    text = style_heading(points) + "\n" + report.text()
    return CheckResult(STYLE_ID, round(points * report.fraction(), 4), points, text, "visible",
                       time.perf_counter() - start, fraction=report.fraction())


def style_heading(points: float) -> str:
    """The first line of the clean-code report's output: what it is and what it is worth."""
    return (_("Clean code (docstrings and ruff's findings; {points} points)").format(points=f"{points:g}") if points
            else _("Clean code (docstrings and ruff's findings; a report for the teaching assistant, no points)"))


def _notebook_errors(worker: Worker) -> list[str]:
    """Notes on the notebook statements that failed when its definitions were loaded in the worker."""
    try:
        reply, _tensors = worker.request({"op": "call", "target": ref("resnet.__notebook_errors__")},
                                         timeout=NOTEBOOK_LOAD_TIMEOUT_S)
    except (SubmissionError, WorkerFailure) as error:
        return [_("Notebook: its definitions could not be loaded: {error}").format(error=error)]
    errors = reply.get("result") if isinstance(reply.get("result"), list) else []
    return [_("Notebook: {error}; the definitions after it were still loaded").format(error=str(line)[:300])
            for line in errors[:20]]
