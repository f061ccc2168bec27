"""The errors checks' building blocks: invalid uses a component must refuse, and edge cases.

The slides grade "Manejo adecuado de errores y casos límite": an invalid argument must raise a
``ValueError`` (or ``TypeError``) whose message names it, and batch size 1, non-square images and
the like must work. Each part's errors check lists its cases and calls ``check_errors``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autograder.checks.common import Case, Outcome, shape_problem, share_passed
from autograder.engine.client import SubmissionError
from autograder.engine.remote import Session
from autograder.i18n import _

REFUSALS = ("ValueError", "TypeError")
"""The exceptions an invalid argument should raise."""


@dataclass(frozen=True)
class Misuse:
    """A call a component must refuse: a ValueError (or TypeError) whose message names the problem."""

    label: str
    """The call, as feedback shows it."""
    attempt: Callable[[Session], Any]
    """Makes the call in the worker (a build, or a build and a forward)."""
    names: tuple[str, ...]
    """Words one of which the error's message must contain: the argument's name (or its value)."""


def _either(names: tuple[str, ...]) -> str:
    """``names`` as "a or b or c"."""
    # TRANSLATORS: joins the words one of which an error's message must contain, e.g. "class_idx or 7".
    return _(" or ").join(names)


def refusal_problem(session: Session, misuse: Misuse) -> str:
    """What is wrong with how the submission refuses ``misuse`` ("" when nothing)."""
    wanted = _("a ValueError naming {names}").format(names=_either(misuse.names))
    try:
        misuse.attempt(session)
    except SubmissionError as error:
        if not set(error.classes or (error.message.split(":")[0],)) & set(REFUSALS):
            hint = (" " + _("(an assert is skipped under python -O: raise ValueError)")
                    if error.message.startswith("AssertionError") else "")
            return _("{call}: expected {wanted}, got {error}{hint}").format(
                call=misuse.label, wanted=wanted, error=error.message[:160], hint=hint)
        if not any(name.lower() in error.message.lower() for name in misuse.names):
            return _("{call}: the error should name {names}: {error}").format(
                call=misuse.label, names=_either(misuse.names), error=error.message[:160])
        return ""
    return _("{call}: should raise {wanted}, but it did not").format(call=misuse.label, wanted=wanted)


def _raised(error: SubmissionError) -> str:
    if error.message.startswith("NotImplementedError"):
        return _("not implemented yet{where}").format(where=f" ({error.where})" if error.where else "")
    return _("raised {error}").format(error=error.message[:160])


def check_errors(session: Session, component: str, misuses: list[Misuse], edge_cases: list[Case],
                 more: tuple[Callable[[Session], str], ...] = ()) -> Outcome:
    """Invalid arguments are refused with errors that name them, and edge cases (batch size 1,
    non-square images) give the reference's output shapes; ``more``: further edge cases, each
    returning its problem ("" when none). The share of cases that pass."""
    problems = []  # the edge cases first: on unfinished code they say what is not implemented yet
    for index, case in enumerate(edge_cases):
        try:
            problems.append(shape_problem(session, case, index))
        except SubmissionError as error:
            problems.append(f"{case.label()}: {_raised(error)}")
    for edge in more:
        try:
            problems.append(edge(session))
        except SubmissionError as error:
            problems.append(f"{edge.__name__.replace('_', ' ')}: {_raised(error)}")
    problems += [refusal_problem(session, misuse) for misuse in misuses]
    problems = [problem for problem in problems if problem]
    total = len(misuses) + len(edge_cases) + len(more)
    return share_passed(total, problems,
                        _("{component}: all {misuses} invalid uses raise an error naming the problem, and all "
                          "{edge_cases} edge cases work").format(component=component, misuses=len(misuses),
                                                                 edge_cases=len(edge_cases) + len(more)),
                        _("invalid uses and edge cases of {component} handled").format(component=component))
