"""Check results and how they are shown: Gradescope's ``results.json`` and a terminal report.

``results.json`` follows Gradescope's autograder schema (top-level ``score``, ``max_score``,
``execution_time``, ``output`` and a ``tests`` list of ``name``, ``score``, ``max_score``,
``status``, ``output``, ``visibility``). It is written atomically, so a crash never leaves a
half-written file for Gradescope to read as a grade.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.i18n import N_, _
from autograder.rubric import EPS, VISIBILITIES

MAX_DETAIL_LINES = 10
"""Output lines shown under a failing check (or a report worth no points, such as the clean-code
report) in the terminal report, after its first line."""
MAX_PRINTED_LINES = 8
"""Lines of a submission's prints shown under a check when the report shows them."""
MAX_LINE_CHARS = 300
"""Characters shown of one output line in the terminal report."""

PART_TITLES = {
    "part1": N_("Part 1: ResNet"),
    "part2": N_("Part 2: Attention"),
    "part3": N_("Part 3: Vision Transformer"),
    "part4": N_("Part 4: Profiling and training"),
    "code": N_("Code quality"),
}
"""Part id (a check id's text before the first dot) -> heading (in English: translate with ``_``);
other parts show their id."""


INCIDENTS = {
    "missing": "a lab file is missing",
    "error": "the submission's code raised an error",
    "timeout": "the submission did not answer within the check's time limit",
    "crash": "the worker running the submission died (a signal, a sandbox limit, exit())",
    "limit": "the submission went past a sandbox limit (processes, memory)",
    "forbidden": "the submission used a library implementation the lab forbids",
    "ungradable": "nothing could be graded (a notebook that cannot be read)",
    "grader": "the grader could not finish the check",
}
"""Why a check stopped early (``CheckResult.incident``), as ``results.json`` names it."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one automatic check."""

    id: str
    """Check id, e.g. ``part1.basic_block.numerics``."""
    score: float
    """Points earned, from 0 to ``max_score``."""
    max_score: float
    """Points available, from the rubric."""
    output: str
    """Feedback: a one-line summary first, details (expected, seen, where to look) after."""
    visibility: str
    """Gradescope visibility: ``visible``, ``hidden`` or ``after_due_date``."""
    seconds: float = 0.0
    """Wall time the check took."""
    printed: str = ""
    """The last lines the submission printed while the check ran (never in ``results.json``)."""
    fraction: float | None = None
    """Share of the points earned, kept for a check worth no points (None: ``score / max_score``)."""
    alternatives: tuple[str, ...] = ()
    """Keys of the known alternatives (``autograder.checks.known``) the submission matched."""
    incident: str = ""
    """Why the check stopped early, one of ``INCIDENTS`` ("" when it ran to the end)."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"check id must be a non-empty string, got {self.id!r}")
        if not (math.isfinite(self.max_score) and self.max_score >= 0):
            raise ValueError(f"{self.id}: max_score must be a finite number >= 0, got {self.max_score!r}")
        if not (math.isfinite(self.score) and -EPS <= self.score <= self.max_score + EPS):
            raise ValueError(f"{self.id}: score must be from 0 to {self.max_score}, got {self.score!r}")
        if self.visibility not in VISIBILITIES:
            raise ValueError(f"{self.id}: visibility must be one of {', '.join(VISIBILITIES)}, got {self.visibility!r}")
        if not isinstance(self.output, str):
            raise ValueError(f"{self.id}: output must be a string, got {type(self.output).__name__}")
        if self.incident and self.incident not in INCIDENTS:
            raise ValueError(f"{self.id}: incident must be one of {', '.join(INCIDENTS)}, got {self.incident!r}")

    @property
    def share(self) -> float:
        """Share of the points earned, from 0 to 1 (also for a check worth no points)."""
        if self.fraction is not None:
            return self.fraction
        return self.score / self.max_score if self.max_score else 1.0

    @property
    def passed(self) -> bool:
        """Full marks (to within 1e-9)."""
        return self.score >= self.max_score - EPS

    @property
    def part(self) -> str:
        """The part the check belongs to: its id's text before the first dot."""
        return self.id.split(".", 1)[0]


def results_json(results: Iterable[CheckResult], execution_time: float, output: str = "") -> dict:
    """Gradescope's ``results.json`` for ``results``; ``output`` is shown above the tests.

    Each test's ``extra_data`` (kept by Gradescope, not shown to students) holds what the class
    report and a rescore read: ``seconds`` the check took, ``fraction`` of its points earned,
    the known ``alternatives`` matched, and the ``incident`` that stopped it (``INCIDENTS``).
    """
    results = list(results)
    _refuse_duplicates(results)
    return {
        "score": round(math.fsum(r.score for r in results), 4),
        "max_score": round(math.fsum(r.max_score for r in results), 4),
        "execution_time": round(float(execution_time), 3),
        "output": output,
        "tests": [
            {
                "name": r.id,
                "score": round(r.score, 4),
                "max_score": round(r.max_score, 4),
                "status": "passed" if r.passed else "failed",
                "output": r.output,
                "visibility": r.visibility,
                "extra_data": {"seconds": round(r.seconds, 3), "fraction": round(r.share, 6),
                               "alternatives": list(r.alternatives), "incident": r.incident},
            }
            for r in results
        ],
    }


def write_results(path: str | Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` atomically: the old file or the new one, never a part.

    The JSON is serialised first (NaN and infinity refused, as Gradescope cannot read them), then
    written with ``write_atomically``.
    """
    write_atomically(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: to a temporary file of its own in the same folder (so that
    processes writing the same path at once never share one), flushed to disk and renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def format_report(results: Sequence[CheckResult], title: str, notes: Sequence[str] = (),
                  show_prints: bool = False) -> str:
    """A plain-text report: ``notes`` under the title, then checks grouped by part (in order of first
    appearance), subtotals, total. ``show_prints``: the submission's prints under each check, marked
    as its own."""
    results = list(results)
    _refuse_duplicates(results)
    parts: dict[str, list[CheckResult]] = {}
    for r in results:
        parts.setdefault(r.part, []).append(r)
    score_width = max((len(_fraction(r.score, r.max_score)) for r in results), default=0)
    id_width = min(max((len(r.id) for r in results), default=0), 48)
    indent = " " * (2 + len("[PASS]") + 2 + score_width + 2)

    lines = [title, "=" * len(title)] + [line for note in notes for line in _clean_lines(note)]
    for part, members in parts.items():
        lines += ["", _(PART_TITLES[part]) if part in PART_TITLES else part]
        for r in members:
            first, *details = _clean_lines(r.output) or [""]
            head = f"  [{'PASS' if r.passed else 'FAIL'}]  {_fraction(r.score, r.max_score).rjust(score_width)}  "
            lines.append(f"{head}{r.id.ljust(id_width)}  {first}".rstrip())
            if not r.passed or r.max_score == 0:  # a failing check, or a report worth no points
                shown = details[:MAX_DETAIL_LINES]
                lines += [f"{indent}{line}".rstrip() for line in shown]
                if len(details) > len(shown):
                    lines.append(indent + _("... ({count} more lines)").format(count=len(details) - len(shown)))
            if show_prints and r.printed.strip():
                printed = _clean_lines(r.printed)[-MAX_PRINTED_LINES:]
                lines.append(indent + _("your code printed (last {count} lines):").format(count=len(printed)))
                lines += [f"{indent}| {line}".rstrip() for line in printed]
        passed = sum(r.passed for r in members)
        subtotal = _fraction(math.fsum(r.score for r in members), math.fsum(r.max_score for r in members), " / ")
        lines.append("  " + _("Subtotal: {points}  ({passed} of {count} checks passed)").format(
            points=subtotal, passed=passed, count=len(members)))
    total = _fraction(math.fsum(r.score for r in results), math.fsum(r.max_score for r in results), " / ")
    lines += ["", _("Total: {points}").format(points=total)]
    return "\n".join(lines) + "\n"


def _refuse_duplicates(results: Sequence[CheckResult]) -> None:
    seen: set[str] = set()
    repeated: set[str] = set()
    for r in results:
        (repeated if r.id in seen else seen).add(r.id)
    if repeated:
        raise ValueError(f"check id(s) reported more than once: {', '.join(sorted(repeated))}")


def _fraction(score: float, max_score: float, sep: str = "/") -> str:
    return f"{score:.2f}{sep}{max_score:.2f}"


def _clean_lines(text: str) -> list[str]:
    """``text`` as lines fit for a terminal: tabs expanded, control characters escaped, cut short."""
    lines = []
    for line in text.expandtabs(4).splitlines():
        line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in line)
        line = line.rstrip()
        if len(line) > MAX_LINE_CHARS:
            line = line[: MAX_LINE_CHARS - 3] + "..."
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; not every platform can open a folder, which is then fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
