"""The check registry: stable ids -> check functions with what they grade and where to look."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from autograder.checks.common import Outcome
from autograder.engine.remote import Session


@dataclass(frozen=True)
class CheckSpec:
    """One registered check."""

    id: str
    """Stable id used in grading.yml, e.g. ``part1.basic_block.numerics``."""
    module: str
    """The submission file it needs, without ``.py`` (e.g. ``resnet``)."""
    component: str
    """What it grades, as students know it (e.g. ``BasicBlock``)."""
    hint: str
    """Where in the slides to look when it fails."""
    run: Callable[[Session, "CheckRuleLike"], Outcome]
    """The check itself: (session, rubric rule) -> outcome."""
    uses: tuple[str, ...] = ()
    """Checks of the components this check's component uses (the MultiHeadAttention inside an
    encoder block): their failures can be the root cause of this one's."""
    alternatives: tuple[str, ...] = ()
    """Keys of the known alternatives (``autograder.checks.known``) this check recognises."""
    reference_values: bool = True
    """False for a check that takes nothing from the reference solutions (the training smoke tests
    train the submission's own modules): its golden file is empty, written without running it."""
    warm_up: Optional[Callable[[object], None]] = None
    """Called with the submission's worker once its first check has run, to start what the check
    will need (processes of its own) while the checks before it run. Checks with the same warm-up
    share what it starts, so they run in the same worker (``autograder.lanes``)."""
    seconds: float = 0.05
    """About how long it takes to grade the reference solutions (``./kit run grade solutions``,
    results.json's ``extra_data.seconds``, 2-core Intel Xeon): only the ratios matter, to split a
    grading's checks evenly across workers (``autograder.lanes``)."""


CheckRuleLike = object  # the rubric's CheckRule: .tolerance (dtype -> Tolerance), .timeout_s


class Registry:
    """Collects checks from the per-component modules; ids are unique."""

    def __init__(self) -> None:
        self.checks: dict[str, CheckSpec] = {}

    def check(self, id: str, module: str, component: str, hint: str, uses: tuple[str, ...] = (),
              alternatives: tuple[str, ...] = (), reference_values: bool = True,
              warm_up: Optional[Callable[[object], None]] = None, seconds: float = 0.05):
        """Decorator registering ``run(session, rule) -> Outcome`` under ``id`` (see ``CheckSpec``)."""

        def register(run):
            if id in self.checks:
                raise ValueError(f"check id {id!r} registered twice")
            self.checks[id] = CheckSpec(id, module, component, hint, run, tuple(uses), tuple(alternatives),
                                        reference_values, warm_up, seconds)
            return run

        return register
