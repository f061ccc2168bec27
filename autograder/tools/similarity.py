"""The similarity report of a class's code (plagiarism screening, as MOSS gives it), on copydetect.

Each submission of a folder (as ``autograder.batch.submissions`` finds them: folders laid out like
skeletons/, and notebooks) becomes one document of the student's own code: the lines of the lab's
five files (in ``LAB_MODULES`` order), or of a notebook's code cells, that a diff with the given code
finds added or changed. The given code is the skeletons, and the released notebook (the source
notebook with its solution regions stubbed out, as nbgrader releases it); students who changed
nothing have nothing to compare. copydetect normalises each document (names become ``V``, strings
``S``; spaces and comments are dropped), hashes its k-grams (k: the rubric's
``similarity.noise_threshold``), removes those of the given code (its boilerplate, for code moved
about) and keeps a winnowed sample (the window follows from ``guarantee_threshold``).

A pair's similarity, each way, is copydetect's (``compare_files``): the share of a document's
normalised code that the matches with the other cover. Pairs are ranked by the larger of the two and
flagged when it reaches ``similarity.threshold``. ``write_report`` writes ``similarity.csv`` (every
pair, ranked) and ``similarity.html`` (self-contained: the ranking, the skipped submissions and, for
the flagged pairs, both codes side by side with the matches marked; all student text escaped).
"""
from __future__ import annotations

import csv
import difflib
import html
import io
import json
import re
import tempfile
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap

from autograder import paths
from autograder.batch import submissions
from autograder.engine.submission import NotebookError, code_cells
from autograder.rubric import SimilaritySettings
from autograder.runtime.worker import LAB_MODULES
from autograder.tools.skeletons import strip_solutions

TEMPLATE_NOTEBOOK = paths.ROOT / "notebooks" / "source" / "lab3" / "lab3.ipynb"
"""The lab notebook's nbgrader source; its code cells, solution regions stubbed out, are given code."""
MAX_BYTES = 1_000_000
"""A submission larger than this (the reference solutions are 49 kB) is skipped, not fingerprinted."""
HTML_ROWS = 100
"""Pairs listed in the HTML ranking when fewer are flagged (similarity.csv has them all)."""
HTML_VIEWS = 100
"""Flagged pairs shown side by side in the HTML, the highest first (a class of copies would make the
page hundreds of megabytes); the others are listed in its ranking."""
CELL_HEADER = re.compile(r"# %% cell \d+")
"""The line ``code_cells`` puts above each cell."""
CSV_COLUMNS = ("rank", "id_a", "id_b", "similarity_a", "similarity_b", "flagged", "tokens_a", "tokens_b",
               "path_a", "path_b")


class Unreadable(ValueError):
    """A submission with no code to compare; the message says why."""


@dataclass(frozen=True)
class Document:
    """One student's code as one text."""

    id: str
    path: Path
    text: str


@dataclass(frozen=True)
class Skipped:
    """A submission left out of the comparison, and why."""

    id: str
    path: Path
    reason: str


@dataclass(frozen=True)
class Pair:
    """Two submissions compared (``id_a`` before ``id_b`` in id order)."""

    id_a: str
    id_b: str
    similarity_a: float
    """Share of a's own code (tokens left after the given code is removed) found in b."""
    similarity_b: float
    """Share of b's own code found in a."""
    tokens_a: int
    """a's own code, in normalised tokens copydetect compares (0: a is all given code)."""
    tokens_b: int
    flagged: bool
    slices: tuple = field(default=(), compare=False, repr=False)
    """For a flagged pair, copydetect's matched character ranges in a's and in b's text (2 x N arrays)."""

    @property
    def score(self) -> float:
        """What pairs are ranked by: the larger of the two similarities."""
        return max(self.similarity_a, self.similarity_b)


@dataclass(frozen=True)
class Report:
    """A class compared pair by pair."""

    documents: dict[str, Document]
    pairs: list[Pair]
    """Every pair, ranked: by the larger similarity, then the smaller, then the ids."""
    skipped: list[Skipped]
    settings: SimilaritySettings

    @property
    def flagged(self) -> list[Pair]:
        return [pair for pair in self.pairs if pair.flagged]


@dataclass(frozen=True)
class Given:
    """The code students are given, as they find it."""

    files: dict[str, str]
    """Lab file name (``resnet.py``, ...) -> its skeleton."""
    notebook: str
    """The released notebook's code cells, as ``code_cells`` reads them: the source notebook's
    solution regions replaced by nbgrader's stub, as nbgrader releases it."""

    def texts(self) -> list[str]:
        return [*self.files.values(), self.notebook]


def given_code() -> Given:
    """The skeletons and the released notebook (built from its nbgrader source)."""
    notebook = json.loads(TEMPLATE_NOTEBOOK.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cell["source"] = strip_solutions("".join(source) if isinstance(source, list) else source)[0]
    with tempfile.TemporaryDirectory() as folder:
        released = Path(folder) / "lab3.ipynb"
        released.write_text(json.dumps(notebook), encoding="utf-8")
        cells = code_cells(released)
    files = {f"{name}.py": (paths.SKELETONS / f"{name}.py").read_text(encoding="utf-8") for name in LAB_MODULES}
    return Given(files, cells)


def read_submission(path: Path, given: Given) -> str:
    """A submission's own code as one text: the lines of its lab files (in ``LAB_MODULES`` order) or
    of its notebook's code cells that the given code does not have (``own_lines``). Raises Unreadable
    with the reason when there is nothing to read. Symbolic links are not followed (a link to a file
    of the instructor's would put it into the report)."""
    if path.is_symlink():
        raise Unreadable("a symbolic link, not followed")
    if path.is_dir():
        files = [path / f"{name}.py" for name in LAB_MODULES
                 if (path / f"{name}.py").is_file() and not (path / f"{name}.py").is_symlink()]
        if not files:
            raise Unreadable(f"no lab files ({', '.join(f'{name}.py' for name in LAB_MODULES)}) in the folder")
        _refuse_large(sum(file.stat().st_size for file in files))
        return "".join(own_lines(file.name, file.read_bytes().decode("utf-8-sig", errors="replace"),
                                 given.files[file.name]) for file in files)
    _refuse_large(path.stat().st_size)
    try:
        cells = code_cells(path)
    except NotebookError as error:
        raise Unreadable(str(error)) from None
    if not cells.strip():
        raise Unreadable("no code cell of the notebook parses as Python")
    return own_lines("notebook", cells, given.notebook)


def own_lines(label: str, text: str, given: str) -> str:
    """The lines of ``text`` that a diff with ``given`` finds added or changed (lines compared without
    their indentation), each run of them under a ``# LABEL:LINE`` comment (comments do not count;
    in a notebook's code, ``# notebook cell N``: the cell it starts in).

    Comparing only these, and not whole files, keeps the given code around a student's lines out of
    the matches: a k-gram across the start or end of a filled-in region would otherwise match every
    student who begins or ends it alike (``return x``), and count the given code it reaches into."""
    ours, theirs = text.splitlines(), given.splitlines()
    matcher = difflib.SequenceMatcher(None, [line.strip() for line in theirs], [line.strip() for line in ours],
                                      autojunk=False)
    runs, cell = [], ""
    for tag, _, _, start, end in matcher.get_opcodes():
        cell = next((line[5:] for line in reversed(ours[:start]) if CELL_HEADER.fullmatch(line)), cell)
        if tag in ("replace", "insert") and any(line.strip() for line in ours[start:end]):
            where = f"{label} {cell}" if cell else f"{label}:{start + 1}"
            runs.append(f"# {where}\n" + "\n".join(ours[start:end]) + "\n")
    return "".join(runs)


def _refuse_large(size: int) -> None:
    if size > MAX_BYTES:
        raise Unreadable(f"{size / 1e6:.1f} MB of code, more than the {MAX_BYTES / 1e6:g} MB compared")


def read_class(folder: Path, given: Given | None = None) -> tuple[dict[str, Document], list[Skipped]]:
    """Every submission of ``folder`` as a Document of its own code, by id, and those that cannot be read."""
    given = given_code() if given is None else given
    documents, skipped = {}, []
    for name, path in submissions(folder).items():
        try:
            documents[name] = Document(name, path, read_submission(path, given))
        except (Unreadable, OSError) as error:
            reason = str(error) if isinstance(error, Unreadable) else f"cannot be read: {error.strerror or error}"
            skipped.append(Skipped(name, path, reason))
    return documents, skipped


def _fingerprint(name: str, text: str, settings: SimilaritySettings, window: int,
                 boilerplate: np.ndarray | None = None) -> CodeFingerprint:
    return CodeFingerprint(f"{name}.py", settings.noise_threshold, window, boilerplate=boilerplate,
                           language="python", fp=io.StringIO(text))


def boilerplate_hashes(settings: SimilaritySettings, given: Given) -> np.ndarray:
    """Every k-gram hash of the given code, as copydetect takes boilerplate (all of them, not a
    winnowed sample): a student's line that repeats given code elsewhere does not count either."""
    hashes = [h for i, text in enumerate(given.texts()) for h in _fingerprint(f"given{i}", text, settings, 1).hashes]
    return np.unique(np.array(hashes, dtype=np.int64))


def compare(documents: dict[str, Document], settings: SimilaritySettings, boilerplate: np.ndarray) -> list[Pair]:
    """Every pair of ``documents``, ranked; k-grams of ``boilerplate`` (``boilerplate_hashes``) left out."""
    window = settings.guarantee_threshold - settings.noise_threshold + 1
    prints = {name: _fingerprint(name, doc.text, settings, window, boilerplate) for name, doc in documents.items()}
    pairs = []
    for a, b in combinations(sorted(prints), 2):
        _, (similarity_a, similarity_b), slices = compare_files(prints[a], prints[b])
        score = max(float(similarity_a), float(similarity_b))
        flagged = score > 0 and score >= settings.threshold
        pairs.append(Pair(a, b, float(similarity_a), float(similarity_b), int(prints[a].token_coverage),
                          int(prints[b].token_coverage), flagged, tuple(slices) if flagged else ()))
    pairs.sort(key=lambda p: (-p.score, -min(p.similarity_a, p.similarity_b), p.id_a, p.id_b))
    return pairs


def compare_class(folder: Path, settings: SimilaritySettings) -> Report:
    """Read every submission of ``folder`` and compare each pair of those readable."""
    given = given_code()
    documents, skipped = read_class(folder, given)
    return Report(documents, compare(documents, settings, boilerplate_hashes(settings, given)), skipped, settings)


def write_report(report: Report, out: Path) -> tuple[Path, Path]:
    """Write ``out/similarity.csv`` and ``out/similarity.html``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / "similarity.csv", out / "similarity.html"
    with csv_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for rank, pair in enumerate(report.pairs, 1):
            writer.writerow([rank, pair.id_a, pair.id_b, f"{pair.similarity_a:.3f}", f"{pair.similarity_b:.3f}",
                             "yes" if pair.flagged else "no", pair.tokens_a, pair.tokens_b,
                             report.documents[pair.id_a].path, report.documents[pair.id_b].path])
    html_path.write_text(render_html(report), encoding="utf-8")
    return csv_path, html_path


# -- the HTML page -------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
tr.flagged td { background: #fde2e2; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto; font-size: 12px; }
mark { background: #ffd54f; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""The page's Content-Security-Policy: no scripts, no fetches; only its own inline style."""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def render_html(report: Report) -> str:
    """The report as one offline page (no scripts, no external resources); student text escaped."""
    settings, flagged = report.settings, report.flagged
    shown = report.pairs[: max(HTML_ROWS, len(flagged))]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           "<title>Lab 3: code similarity</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>Lab 3: code similarity</h1>",
           f"<p>{len(report.documents)} submissions compared, {len(report.pairs)} pairs; <strong>{len(flagged)} "
           f"flagged</strong> (larger similarity at least {_percent(settings.threshold)}). Similarity of a to b: "
           "the share of a's own code (the skeletons and the notebook template left out) that matches b. "
           f"Matches: at least {settings.noise_threshold} characters of normalised code (copydetect; names "
           "and strings normalised, comments ignored). A high score asks for a look, it proves nothing.</p>"]
    if report.skipped:
        out.append(f"<h2>Skipped ({len(report.skipped)})</h2><ul>")
        out += [f"<li><code>{_e(s.id)}</code>: {_e(s.reason)}</li>" for s in report.skipped]
        out.append("</ul>")
    out.append("<h2>Ranking</h2><table><tr><th>rank</th><th>a</th><th>b</th><th>a in b</th><th>b in a</th>"
               "<th>tokens a / b</th><th>flagged</th></tr>")
    for rank, pair in enumerate(shown, 1):
        mark = "" if not pair.flagged else f'<a href="#pair-{rank}">yes</a>' if rank <= HTML_VIEWS else "yes"
        out.append(f'<tr{" class=flagged" if pair.flagged else ""}><td>{rank}</td><td>{_e(pair.id_a)}</td>'
                   f"<td>{_e(pair.id_b)}</td><td>{_percent(pair.similarity_a)}</td>"
                   f"<td>{_percent(pair.similarity_b)}</td><td>{pair.tokens_a} / {pair.tokens_b}</td>"
                   f"<td>{mark}</td></tr>")
    out.append("</table>")
    if len(report.pairs) > len(shown):
        out.append(f"<p>{len(report.pairs) - len(shown)} more pairs in similarity.csv.</p>")
    if len(flagged) > HTML_VIEWS:
        out.append(f"<p>The {HTML_VIEWS} highest flagged pairs side by side; the other {len(flagged) - HTML_VIEWS} "
                   "are in the ranking above.</p>")
    for rank, pair in enumerate(flagged[:HTML_VIEWS], 1):  # the flagged pairs rank first
        out.append(f'<h2 id="pair-{rank}">{rank}. {_e(pair.id_a)} ({_percent(pair.similarity_a)}) and '
                   f"{_e(pair.id_b)} ({_percent(pair.similarity_b)})</h2><div class=pair>")
        for name, slices in ((pair.id_a, pair.slices[0]), (pair.id_b, pair.slices[1])):
            code, _ = highlight_overlap(report.documents[name].text, slices, "<mark>", "</mark>", escape_html=True)
            out.append(f"<div><h3>{_e(name)}</h3><pre>{code}</pre></div>")
        out.append("</div>")
    out.append("</body></html>\n")
    return "\n".join(out)
