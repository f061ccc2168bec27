"""The class report: ``OUT/report.html`` from the results ``batch`` wrote into OUT, for the instructor.

``python -m autograder report OUT`` (and the end of every ``batch``) reads ``OUT/<id>/results.json``
and ``OUT/<id>/not-graded.txt`` and writes one page, readable offline and self-contained (inline
CSS, no scripts, the figures as PNGs embedded in the page, so OUT holds no folder that is not a
submission's): the score distribution (the total and each part, the rubric's maxima marked, mean,
median, min and max); per check, its pass rate, mean points and the known alternatives the class
matched ("23 students: scores scaled by 1/sqrt(embed_dim) ..."), what to explain in the next class;
the submissions that could not be graded, hit a limit or used a forbidden library, with the reason;
and where the grading time went. Every text from the results (submission ids, feedback quoting the
students' code and errors) is HTML-escaped. Results written before ``extra_data`` existed still make
a page: what only ``extra_data`` holds reads n/a.
"""
from __future__ import annotations

import base64
import datetime
import html
import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from autograder.batch import NOT_GRADED
from autograder.report import INCIDENTS, PART_TITLES, write_atomically

REPORT = "report.html"
"""The page, in OUT."""
PROBLEM_INCIDENTS = ("ungradable", "forbidden", "limit", "crash", "timeout")
"""The incidents that put a submission in the table of those to look at, the gravest first."""
MAX_REASON_CHARS = 300
NA = "n/a"


class NoResults(ValueError):
    """The folder holds no results of ``batch``."""


@dataclass(frozen=True)
class Test:
    """One check of one submission, as its results.json tells it."""

    name: str
    score: float
    max_score: float
    status: str
    output: str
    seconds: Optional[float] = None
    """None: results written before extra_data."""
    fraction: Optional[float] = None
    alternatives: Optional[tuple[str, ...]] = None
    incident: Optional[str] = None

    @property
    def part(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def share(self) -> float:
        """Share of the points earned, from 0 to 1 (for a check worth no points too, where extra_data says it)."""
        if self.fraction is not None:
            return self.fraction
        return self.score / self.max_score if self.max_score else float(self.status == "passed")

    @property
    def passed(self) -> bool:
        return self.share >= 1 - 1e-6 if self.fraction is not None else self.status == "passed"


@dataclass
class Submission:
    """One submission of the class: its results, or why it has none (``problem``)."""

    id: str
    score: float = 0.0
    max_score: float = 0.0
    execution_time: Optional[float] = None
    tests: list[Test] = field(default_factory=list)
    problem: str = ""
    """Why there are no results: the grader's reason (not-graded.txt), or an unreadable results.json."""

    @property
    def graded(self) -> bool:
        return not self.problem

    @property
    def extra(self) -> bool:
        """Whether its results carry extra_data (seconds, fraction, alternatives, incident)."""
        return any(t.incident is not None for t in self.tests)


def _number(value, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _test(entry: dict) -> Test:
    extra = entry.get("extra_data")
    extra = extra if isinstance(extra, dict) else None
    seconds = fraction = alternatives = incident = None
    if extra is not None:
        seconds = _number(extra.get("seconds")) if extra.get("seconds") is not None else None
        fraction = _number(extra.get("fraction")) if extra.get("fraction") is not None else None
        found = extra.get("alternatives")
        alternatives = tuple(str(a) for a in found) if isinstance(found, list) else ()
        incident = str(extra.get("incident") or "")
    return Test(str(entry.get("name", "")), _number(entry.get("score")), _number(entry.get("max_score")),
                str(entry.get("status", "")), str(entry.get("output", "")), seconds, fraction, alternatives, incident)


def load_class(out: Path) -> list[Submission]:
    """Every submission ``batch`` left in ``out``, by id: a folder with results.json or not-graded.txt."""
    found = []
    for entry in sorted(e for e in Path(out).iterdir() if e.is_dir() and not e.name.startswith(".")):
        results, failed = entry / "results.json", entry / NOT_GRADED
        if results.is_file():
            try:
                data = json.loads(results.read_text(encoding="utf-8"))
                tests = data["tests"]
                if not isinstance(tests, list):
                    raise ValueError("its tests are not a list")
                found.append(Submission(entry.name, _number(data.get("score")), _number(data.get("max_score")),
                                        _number(data.get("execution_time"), None),
                                        [_test(t) for t in tests if isinstance(t, dict)]))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                found.append(Submission(entry.name, problem=f"its results.json cannot be read ({error})"))
        elif failed.is_file():
            reason = _first_line(failed.read_text(encoding="utf-8", errors="replace"))
            found.append(Submission(entry.name, problem=f"the grader failed: {reason or '(no reason given)'}"))
    return found


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."


def _most_common(values: Sequence[float]) -> float:
    return Counter(values).most_common(1)[0][0] if values else 0.0


@dataclass
class Scores:
    """The scores of the graded submissions in the total or one part, and its maximum."""

    title: str
    maximum: float
    scores: list[float]

    def row(self) -> list[str]:
        if not self.scores:
            return [self.title, f"{self.maximum:g}"] + [NA] * 4 + ["0"]
        return [self.title, f"{self.maximum:g}", f"{statistics.fmean(self.scores):.2f}",
                f"{statistics.median(self.scores):.2f}", f"{min(self.scores):g}", f"{max(self.scores):g}",
                str(len(self.scores))]


@dataclass
class CheckStats:
    """One check over the class."""

    name: str
    max_score: float
    taken: int = 0
    passed: int = 0
    points: float = 0.0
    shares: float = 0.0
    seconds: list[float] = field(default_factory=list)
    alternatives: Optional[Counter] = None
    """Alternative key -> submissions matching it here; None when no result of this check has extra_data."""
    incidents: Counter = field(default_factory=Counter)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.taken if self.taken else 0.0


@dataclass
class Problem:
    """A submission to look at: not graded, or stopped by an incident."""

    id: str
    what: str
    checks: str
    reason: str
    rank: int


@dataclass
class Summary:
    """What the page shows, computed from the submissions."""

    submissions: list[Submission]
    total: Scores
    parts: list[Scores]
    checks: list[CheckStats]
    alternatives: dict[str, tuple[set[str], list[str]]]
    """Alternative key -> (ids of the submissions matching it, the checks where it was seen), most students first."""
    problems: list[Problem]

    @property
    def graded(self) -> list[Submission]:
        return [s for s in self.submissions if s.graded]

    @property
    def times(self) -> list[float]:
        return [s.execution_time for s in self.graded if s.execution_time is not None]

    @property
    def timed_checks(self) -> list[CheckStats]:
        """The checks with measured seconds, the slowest over the class first."""
        return sorted((c for c in self.checks if c.seconds), key=lambda c: -sum(c.seconds))


def summarise(submissions: list[Submission]) -> Summary:
    """The class's numbers: score distributions, per-check statistics, alternatives, problems."""
    graded = [s for s in submissions if s.graded]
    total = Scores("Total", _most_common([s.max_score for s in graded]), [s.score for s in graded])
    part_ids = list(dict.fromkeys(t.part for s in graded for t in s.tests))
    parts = []
    for part in part_ids:
        members = [[t for t in s.tests if t.part == part] for s in graded]
        members = [m for m in members if m]
        parts.append(Scores(PART_TITLES.get(part, part), _most_common([round(math.fsum(t.max_score for t in m), 4)
                                                                        for m in members]),
                            [round(math.fsum(t.score for t in m), 4) for m in members]))
    checks: dict[str, CheckStats] = {}
    alternatives: dict[str, tuple[set[str], list[str]]] = {}
    for s in graded:
        for t in s.tests:
            stats = checks.setdefault(t.name, CheckStats(t.name, t.max_score))
            stats.max_score = max(stats.max_score, t.max_score)
            stats.taken += 1
            stats.passed += t.passed
            stats.points += t.score
            stats.shares += t.share
            if t.seconds is not None:
                stats.seconds.append(t.seconds)
            if t.alternatives is not None:
                stats.alternatives = stats.alternatives if stats.alternatives is not None else Counter()
                stats.alternatives.update(set(t.alternatives))
                for key in t.alternatives:
                    students, where = alternatives.setdefault(key, (set(), []))
                    students.add(s.id)
                    if t.name not in where:
                        where.append(t.name)
            if t.incident:
                stats.incidents[t.incident] += 1
    ordered = dict(sorted(alternatives.items(), key=lambda item: (-len(item[1][0]), item[0])))
    return Summary(submissions, total, [p for p in parts if p.maximum > 0], list(checks.values()), ordered,
                   problems(submissions))


def problems(submissions: list[Submission]) -> list[Problem]:
    """One row per submission that was not graded or met an incident of ``PROBLEM_INCIDENTS``, gravest first."""
    found = []
    for s in submissions:
        if not s.graded:
            found.append(Problem(s.id, "not graded", "", s.problem, 0))
            continue
        hit = [t for t in s.tests if t.incident in PROBLEM_INCIDENTS]
        if not hit:
            continue
        kinds = Counter(t.incident for t in hit)
        if kinds["ungradable"] and all(t.incident == "ungradable" for t in s.tests):
            found.append(Problem(s.id, "ungradable", "all", _first_line(hit[0].output), 1))
            continue
        gravest = min(kinds, key=PROBLEM_INCIDENTS.index)
        first = next(t for t in hit if t.incident == gravest)
        what = ", ".join(f"{kind} ({kinds[kind]} check{'s' if kinds[kind] != 1 else ''})"
                         for kind in sorted(kinds, key=PROBLEM_INCIDENTS.index))
        names = [t.name for t in hit]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        found.append(Problem(s.id, what, shown, f"{first.name}: {_first_line(first.output)}",
                             1 + PROBLEM_INCIDENTS.index(gravest)))
    return sorted(found, key=lambda p: (p.rank, p.id))


def describe(key: str) -> str:
    """The English description of the known alternative ``key`` (the key itself for one no longer known)."""
    from autograder.checks.known import KNOWN

    return KNOWN.get(key, key)


def students(count: int) -> str:
    return f"{count} student{'s' if count != 1 else ''}"


def figures(summary: Summary) -> dict[str, object]:
    """The page's figures by file name (matplotlib Figures), those there is data for."""
    from autograder.tools import class_figures as draw

    drawn: dict[str, object] = {}
    if summary.total.scores:
        drawn["totals.png"] = draw.total_histogram(summary.total.scores, summary.total.maximum)
        if summary.parts:
            drawn["parts.png"] = draw.part_histograms([(p.title, p.scores, p.maximum) for p in summary.parts])
    if summary.checks:
        drawn["pass-rates.png"] = draw.pass_rates([c.name for c in summary.checks],
                                                  [c.pass_rate for c in summary.checks])
    if summary.times:
        drawn["execution-times.png"] = draw.execution_times(summary.times)
    timed = summary.timed_checks
    if timed:
        drawn["slowest-checks.png"] = draw.slowest_checks([c.name for c in timed], [sum(c.seconds) for c in timed])
    return drawn


def write_report(out: Path) -> Path:
    """Write ``out/report.html``, its figures embedded; the page's path. NoResults when ``out`` holds
    no results."""
    from autograder.tools.class_figures import png

    out = Path(out)
    if not out.is_dir():
        raise NoResults(f"{out} is not a folder")
    submissions = load_class(out)
    if not submissions:
        raise NoResults(f"{out} holds no results (no {out}/<id>/results.json nor {NOT_GRADED}): "
                        "grade the class with `python -m autograder batch DIR --out OUT` first")
    summary = summarise(submissions)
    drawn = {name: png(figure) for name, figure in figures(summary).items()}
    page = out / REPORT
    write_atomically(page, render(summary, drawn, out))
    return page


# The page.

STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; } code { font-size: 0.95em; } td.reason { max-width: 40em; }
"""


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (),
           raw: Sequence[int] = ()) -> str:
    """An HTML table; cells are escaped but for the columns in ``raw`` (already HTML)."""
    head = "".join(f"<th>{_escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            kind = ' class="n"' if i in numeric else ' class="reason"' if header[i] == "reason" else ""
            cells.append(f"<td{kind}>{cell if i in raw else _escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def _figure(drawn: dict[str, bytes], name: str, alt: str) -> str:
    if name not in drawn:
        return ""
    return f'<img src="data:image/png;base64,{base64.b64encode(drawn[name]).decode("ascii")}" alt="{_escape(alt)}">'


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def render(summary: Summary, drawn: dict[str, bytes], out: Path) -> str:
    """The page's HTML; ``drawn``: the figures' PNG bytes by name."""
    graded = summary.graded
    older = sum(not s.extra for s in graded)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    counts = (f"{len(summary.submissions)} submissions in <code>{_escape(out.resolve())}</code>: {len(graded)} with "
              f"results, {len(summary.submissions) - len(graded)} without (see "
              '<a href="#problems">Submissions to look at</a>). Written ' + when + ".")
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Lab 3 class report</title><style>{STYLE}</style></head><body>",
             "<h1>Lab 3 class report</h1>", f"<p>{counts}</p>"]
    if older:
        parts.append(f'<p class="note">{older} of the results predate <code>extra_data</code> (an older grader): '
                     "their known alternatives, incidents and check times are not known (n/a).</p>")
    parts += ['<h2 id="explain">What to explain in the next class</h2>', _explain(summary)]
    parts += ['<h2 id="scores">Score distribution</h2>',
              _table(["", "maximum", "mean", "median", "min", "max", "submissions"],
                     [summary.total.row()] + [p.row() for p in summary.parts], numeric=(1, 2, 3, 4, 5, 6)),
              _figure(drawn, "totals.png", "histogram of the total scores"),
              _figure(drawn, "parts.png", "histograms of the scores of each part")]
    if graded:
        parts.append('<p class="note">Submissions whose every check was ungradable count with 0 points; those '
                     "without results are left out.</p>")
    parts += ['<h2 id="checks">Checks</h2>',
              _figure(drawn, "pass-rates.png", "pass rate per check"),
              _checks_table(summary)]
    parts += ['<h2 id="problems">Submissions to look at</h2>', _problems(summary)]
    parts += ['<h2 id="time">Time</h2>', _time(summary, drawn)]
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)


def _explain(summary: Summary) -> str:
    if not any(s.extra for s in summary.graded):
        return f"<p>{NA}: the results do not say which known alternatives were matched.</p>"
    if not summary.alternatives:
        return "<p>No submission matched a known alternative.</p>"
    items = [f"<li><b>{students(len(ids))}</b>: {_escape(describe(key))} "
             f'<span class="note">({_escape(", ".join(where))})</span></li>'
             for key, (ids, where) in summary.alternatives.items()]
    return ("<p>The known alternatives (mistakes the checks recognise) the class matched, most students "
            "first:</p><ul>" + "".join(items) + "</ul>")


def _checks_table(summary: Summary) -> str:
    rows = []
    for c in summary.checks:
        mean = c.points / c.taken if c.taken else 0.0
        points = f"{mean:.2f} / {c.max_score:g}" if c.max_score else f"mean share {100 * c.shares / c.taken:.0f}%"
        seconds = _seconds(statistics.fmean(c.seconds)) if c.seconds else NA
        if c.alternatives is None:
            matched = NA
        else:
            matched = "<br>".join(f"{students(n)}: {_escape(describe(key))}"
                                  for key, n in sorted(c.alternatives.items(), key=lambda item: (-item[1], item[0])))
        rows.append([c.name, str(c.taken), f"{100 * c.pass_rate:.0f}%", points, seconds, matched])
    return _table(["check", "submissions", "pass rate", "mean points / max", "mean s", "known alternatives matched"],
                  rows, numeric=(1, 2, 3, 4), raw=(5,))


def _problems(summary: Summary) -> str:
    if not summary.problems:
        return "<p>None: every submission was graded, and none hit a limit or used a forbidden library.</p>"
    rows = [[p.id, p.what, p.checks, p.reason] for p in summary.problems]
    seen = [kind for kind in PROBLEM_INCIDENTS if any(kind in p.what for p in summary.problems)]
    legend = "".join(f"<li><b>{kind}</b>: {_escape(INCIDENTS[kind])}</li>" for kind in seen)
    return (f"<p>{len(rows)} submission{'s' if len(rows) != 1 else ''} that could not be graded, hit a limit or used "
            "a forbidden library; the reason is the first line of the first such check's feedback.</p>"
            + _table(["submission", "what happened", "checks", "reason"], rows)
            + (f'<ul class="note">{legend}</ul>' if legend else ""))


def _time(summary: Summary, drawn: dict[str, bytes]) -> str:
    times = summary.times
    if not times:
        return f"<p>{NA}: no submission has results.</p>"
    parts = [_table(["seconds per submission", "mean", "median", "min", "max", "total"],
                    [["execution_time", _seconds(statistics.fmean(times)), _seconds(statistics.median(times)),
                      _seconds(min(times)), _seconds(max(times)), f"{sum(times) / 3600:.2f} h"]],
                    numeric=(1, 2, 3, 4, 5)),
             _figure(drawn, "execution-times.png", "histogram of the seconds per submission")]
    timed = summary.timed_checks
    if not timed:
        parts.append(f"<p>Slowest checks: {NA} (the results predate the checks' own times).</p>")
        return "\n".join(p for p in parts if p)
    from autograder.tools.class_figures import SLOWEST

    rows = [[c.name, _seconds(sum(c.seconds)), _seconds(statistics.fmean(c.seconds)), _seconds(max(c.seconds)),
             str(c.incidents["timeout"])] for c in timed[:SLOWEST]]
    parts += [_figure(drawn, "slowest-checks.png", "the slowest checks"),
              _table(["check", "seconds, whole class", "mean s per submission", "slowest s", "timeouts"], rows,
                     numeric=(1, 2, 3, 4))]
    return "\n".join(p for p in parts if p)
