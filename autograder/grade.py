"""Grade one submission: run every check of the rubric against it in a worker."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from autograder.align import AlignmentError
from autograder.checks import CHECKS
from autograder.checks.common import Outcome
from autograder.checks.registry import CheckSpec
from autograder.client import SubmissionError, Worker, WorkerFailure
from autograder.forbidden import ForbiddenRule, resolve, violations
from autograder.remote import Session
from autograder.report import CheckResult
from autograder.rubric import CheckRule, Rubric


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is present, else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    return device


def _explain(spec: CheckSpec, error: Exception) -> str:
    """One line of feedback for a check that could not run to the end."""
    if isinstance(error, SubmissionError):
        if error.kind == "request":
            return f"{spec.component}: {error.message}"
        if error.message.startswith("NotImplementedError"):
            where = f" ({error.where})" if error.where else ""
            return f"{spec.component}: not implemented yet{where}"
        where = f" at {error.where}" if error.where else ""
        return f"{spec.component}: your code raised {error.message}{where}"
    if isinstance(error, WorkerFailure):
        return f"{spec.component}: {error}"
    if isinstance(error, AlignmentError):
        return f"{spec.component}: cannot line up your layers with the reference's: {error}"
    return f"{spec.component}: the grader could not finish this check ({type(error).__name__}: {error}); scored 0"


def run_check(spec: CheckSpec, rule: CheckRule, worker: Worker, submission: Path,
              training: Optional[dict] = None, forbidden: Sequence[ForbiddenRule] = ()) -> Outcome:
    """Run one check; any failure scores 0 with the reason (fail closed).

    A check whose modules contain a forbidden library class (the rubric's from-scratch rule)
    also scores 0, whatever it measured.
    """
    if not (submission / f"{spec.module}.py").is_file():
        return Outcome(0.0, f"{spec.component}: {spec.module}.py not found in the submission")
    session = Session(worker, rule.timeout_s, training)
    try:
        outcome = spec.run(session, rule)
    except Exception as error:  # noqa: BLE001 - whatever happened, the check scores 0 and says why
        return Outcome(0.0, _explain(spec, error))
    used = sorted({v for built in session.built for v in violations(built.modules, list(forbidden))})
    if used:
        return Outcome(0.0, f"{spec.component}: the lab asks for a from-scratch implementation, but "
                            f"{'; '.join(used[:3])}")
    fraction = min(1.0, max(0.0, float(outcome.fraction)))
    return Outcome(fraction if fraction == fraction else 0.0, outcome.message)


def grade(submission: Path, rubric: Rubric, device: str = "cpu") -> list[CheckResult]:
    """Every rubric check, in rubric order, against ``submission`` (a folder like skeletons/)."""
    submission = Path(submission).resolve()
    results = []
    forbidden = resolve(rubric.forbidden)
    with Worker(submission, resolve_device(device)) as worker:
        for check_id, rule in rubric.checks.items():
            spec = CHECKS[check_id]
            start = time.perf_counter()
            outcome = run_check(spec, rule, worker, submission, rubric.training, forbidden)
            message = outcome.message
            if outcome.fraction < 1:
                message += f"\nSee the slides: {spec.hint}"
            results.append(CheckResult(check_id, round(rule.points * outcome.fraction, 4), rule.points, message,
                                       rule.visibility, time.perf_counter() - start))
    return results
