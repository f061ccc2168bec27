"""Running checks: one at a time, failing closed, and a submission's checks in dependency order.

A check whose component uses another (an encoder block uses the student's MultiHeadAttention)
names that one's failure as the root cause of its own. Where that failure is a known alternative
(``autograder.checks.known``), the check is judged against the reference with the same
alternative, so that one mistake costs points once (``grading.yml``: ``one_penalty_per_mistake``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from autograder.checks import CHECKS, golden
from autograder.checks.align import AlignmentError
from autograder.checks.common import Outcome
from autograder.checks.known import described
from autograder.checks.registry import CheckSpec
from autograder.engine.client import SubmissionError, WorkerFailure, WorkerTimeout
from autograder.engine.forbidden import ForbiddenRule, resolve, violations
from autograder.engine.remote import Session
from autograder.i18n import _
from autograder.rubric import CheckRule, Rubric, TrainingSettings


def _explain(spec: CheckSpec, error: Exception) -> str:
    """One line of feedback for a check that could not run to the end."""
    if isinstance(error, SubmissionError):
        if error.kind in ("request", "output"):
            return f"{spec.component}: {error.message}"
        if EARLIER_ERRORS.keys() & set(error.classes):
            return f"{spec.component}: {error.message.partition(': ')[2]}"
        if error.message.startswith("NotImplementedError"):
            where = f" ({error.where})" if error.where else ""
            return _("{component}: not implemented yet{where}").format(component=spec.component, where=where)
        if error.where:
            return _("{component}: your code raised {error} at {where}").format(
                component=spec.component, error=error.message, where=error.where)
        return _("{component}: your code raised {error}").format(component=spec.component, error=error.message)
    if isinstance(error, WorkerFailure):
        return f"{spec.component}: {error}"
    if isinstance(error, AlignmentError):
        return _("{component}: cannot line up your layers with the reference's: {error}").format(
            component=spec.component, error=error)
    return _("{component}: the grader could not finish this check ({error}); scored 0").format(
        component=spec.component, error=f"{type(error).__name__}: {error}")


LIMIT_ERRORS = {"TooManyTasks", "MemoryError"}
"""Exceptions a submission meets at a sandbox limit, by class name."""
EARLIER_ERRORS = {"StalledEarlier": "timeout", "CrashedEarlier": "crash"}
"""What a function that stalled or crashed a worker earlier in the grading raises when called again
(``autograder.engine.stalls``), by class name -> the incident it repeats."""


def incident(error: Exception) -> str:
    """The kind of incident (``autograder.report.INCIDENTS``) that ``error`` stopped a check with."""
    if isinstance(error, WorkerTimeout):
        return "timeout"
    if isinstance(error, WorkerFailure):
        return "crash"
    if isinstance(error, SubmissionError):
        earlier = [EARLIER_ERRORS[name] for name in error.classes if name in EARLIER_ERRORS]
        return earlier[0] if earlier else "limit" if LIMIT_ERRORS & set(error.classes) else "error"
    return "grader"


def run_check(spec: CheckSpec, rule: CheckRule, worker, submission: Optional[Path],
              training: Optional[TrainingSettings] = None, forbidden: Sequence[ForbiddenRule] = (),
              reference: str = "live", golden_folder: Optional[Path] = None,
              alternatives: tuple[str, ...] = ()) -> Outcome:
    """Run one check; any failure scores 0 with the reason (fail closed).

    Args:
        spec: the registered check.
        rule: its rubric rule (time limit, tolerances).
        worker: a ``Worker`` (or a notebook's stand-in) answering for the submission.
        submission: the folder whose ``<module>.py`` the check needs (None: a notebook's
            namespace, which holds every module's definitions).
        training: the rubric's training settings.
        forbidden: the from-scratch rule: a check whose modules contain one of these library
            classes scores 0, whatever it measured.
        reference: how the check gets the reference's values, a mode of
            ``autograder.checks.golden`` (live, record, replay), with golden files in ``golden_folder``;
            or ``cached``: replayed where the check has a golden file, and live where the file lacks a
            value (the caller makes sure the files were recorded from the sources as they are).
        alternatives: known alternatives the reference takes (the student's known mistakes in
            components this one uses). In record mode the check also records the reference's
            values with each known alternative of the checks it uses, one at a time, for replay.
    """
    if submission is not None and not (submission / f"{spec.module}.py").is_file():
        return Outcome(0.0, _("{component}: {file} not found in the submission").format(
            component=spec.component, file=f"{spec.module}.py"), incident="missing")
    mode = reference
    if reference == "cached":
        mode = "replay" if golden.golden_path(spec.id, golden_folder).is_file() else "live"
    session = Session(worker, rule.timeout_s, training)
    session.alternatives = alternatives
    try:
        with golden.checking(spec.id, mode, golden_folder):
            outcome = spec.run(session, rule)
            if reference == "record":
                for key in dict.fromkeys(key for used in spec.uses for key in CHECKS[used].alternatives):
                    recording = Session(worker, rule.timeout_s, training)
                    recording.alternatives = (key,)
                    spec.run(recording, rule)
    except golden.GoldenMissing as error:
        if reference == "cached":
            return run_check(spec, rule, worker, submission, training, forbidden, "live", golden_folder, alternatives)
        if reference != "replay" or len(alternatives) < 2:
            return Outcome(0.0, _explain(spec, error), incident=incident(error))
        # Only single alternatives are recorded: judge this rare combination without them here.
        outcome = run_check(spec, rule, worker, submission, training, forbidden, reference, golden_folder)
        return Outcome(outcome.fraction, outcome.message + "\n" + _("(this self-check cannot judge it with the known "
                       "mistakes of the parts it uses; the instructors' grade does)"), outcome.alternatives)
    except Exception as error:  # noqa: BLE001 - whatever happened, the check scores 0 and says why
        return Outcome(0.0, _explain(spec, error), incident=incident(error))
    used = sorted({v for built in session.built for v in violations(built.modules, list(forbidden))})
    if used:
        return Outcome(0.0, _("{component}: the lab asks for a from-scratch implementation, but {uses}").format(
            component=spec.component, uses="; ".join(used[:3])), incident="forbidden")
    fraction = min(1.0, max(0.0, float(outcome.fraction)))
    return Outcome(fraction if fraction == fraction else 0.0, outcome.message, tuple(outcome.alternatives),
                   outcome.incident)


@dataclass
class Checking:
    """The checks of one submission in one worker: each run once, the checks it uses first."""

    worker: object
    """A ``Worker`` (or a notebook's stand-in) answering for the submission."""
    submission: Optional[Path]
    """The submission's folder (None: a notebook's namespace)."""
    rubric: Rubric
    reference: str = "live"
    """How checks get the reference's values (``autograder.checks.golden``'s modes)."""
    golden_folder: Optional[Path] = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """Outcome of every check run so far, by id."""
    _running: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.forbidden = resolve(self.rubric.forbidden)

    def rule(self, check_id: str) -> CheckRule:
        """The rubric's rule, or for a check outside the rubric (run because another uses it) the
        rubric-wide tolerances, no points and the default time limit."""
        if check_id in self.rubric.checks:
            return self.rubric.checks[check_id]
        return CheckRule(0.0, "visible", self.rubric.defaults.timeout_s, dict(self.rubric.tolerances))

    def outcome(self, check_id: str) -> Outcome:
        """The check's outcome, run now (after the checks it uses) unless it already ran."""
        if check_id in self.outcomes:
            return self.outcomes[check_id]
        if check_id in self._running:
            raise ValueError(f"checks use each other in a cycle through {check_id}")
        self._running.add(check_id)
        spec = CHECKS[check_id]
        failing = {used: outcome for used in spec.uses if (outcome := self.outcome(used)).fraction < 1}
        matched = {key: used for used, outcome in failing.items() for key in outcome.alternatives}
        alternatives = tuple(matched) if self.rubric.one_penalty_per_mistake else ()
        outcome = run_check(spec, self.rule(check_id), self.worker, self.submission, self.rubric.training,
                            self.forbidden, self.reference, self.golden_folder, alternatives)
        judged = {key: matched[key] for key in alternatives}
        own_file_missing = self.submission is not None and not (self.submission / f"{spec.module}.py").is_file()
        # A root cause is a failing check this one builds on whose mistake was not judged with, and
        # that did not stop for the very reason this one did.
        causes = {} if own_file_missing else {used: failed for used, failed in failing.items()
                                              if used not in judged.values() and not same_failure(failed, outcome)}
        self.outcomes[check_id] = attributed(spec, outcome, causes, judged)
        self._running.discard(check_id)
        return self.outcomes[check_id]


def same_failure(one: Outcome, other: Outcome) -> bool:
    """Whether two checks stopped for the same reason, whatever component each names first (a file
    missing, a worker that stopped): then the one names no root cause in the other."""
    def reason(outcome: Outcome) -> str:
        return outcome.message.split("\n", 1)[0].split(": ", 1)[-1]
    return one.stopped and other.stopped and reason(one) == reason(other)


def attributed(spec: CheckSpec, outcome: Outcome, failing: dict[str, Outcome], judged: dict[str, str]) -> Outcome:
    """``outcome`` with its feedback naming the root causes first: the failing checks of what it uses
    (``failing``), and the known alternatives it was judged with (``judged``: key -> the check
    that found it)."""
    notes = [_("judged against a reference with your {component}'s known mistake, which {check} takes the points "
               "for: {mistake}").format(component=CHECKS[used].component, check=used, mistake=described(key))
             for key, used in judged.items()]
    if outcome.fraction < 1:
        causes = []
        for used in failing:
            component = CHECKS[used].component
            causes.append(_("{component} uses your {used_component}, which fails {check}: fix that first").format(
                component=spec.component, used_component=component, check=used)
                          if component != spec.component else
                          _("your {component} also fails {check}, which may cause this: fix that first").format(
                              component=component, check=used))
        lines = causes + [outcome.message] + [f"({note})" for note in notes]
    else:
        lines = [outcome.message] + [f"({note})" for note in notes]
    return Outcome(outcome.fraction, "\n".join(lines), outcome.alternatives, outcome.incident)


