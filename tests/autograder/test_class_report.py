"""The class report (``python -m autograder report OUT``), on synthetic classes with known answers."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from autograder.__main__ import main
from autograder.batch import NOT_GRADED
from autograder.report import CheckResult, results_json
from autograder.tools import class_figures
from autograder.tools.class_report import REPORT, figures, load_class, summarise, write_report

POINTS = {"part1.basic_block.numerics": 1.5, "part1.errors": 1.0, "part3.mha.numerics": 2.0,
          "part3.encoder_block.numerics": 2.0, "part4.training.vit": 1.5, "code.style": 0.0}
"""The synthetic rubric: 8 points, over part1 (2.5), part3 (4), part4 (1.5) and the style report (0)."""
SCALE = "scores scaled by 1/sqrt(embed_dim) instead of 1/sqrt(head_dim)"


def submission(out: Path, name: str, changes: dict | None = None, execution_time: float = 20.0) -> None:
    """``out/name/results.json`` as batch writes it: every check at full marks, 2 s each, but for ``changes``
    (check id -> CheckResult fields)."""
    results = []
    for check_id, points in POINTS.items():
        fields = {"score": points, "output": "ok", "seconds": 2.0, "fraction": 1.0 if not points else None}
        fields.update((changes or {}).get(check_id, {}))
        results.append(CheckResult(check_id, max_score=points, visibility="visible", **fields))
    folder = out / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results_json(results, execution_time)), encoding="utf-8")


def failed(**fields) -> dict:
    return {"score": 0.0, "fraction": 0.0, **fields}


@pytest.fixture()
def known_class(tmp_path) -> Path:
    """Five graded submissions (totals 8, 6, 4.5, 6.5, 8 of 8) and one the grader failed on.

    bob and carol scale by sqrt(embed_dim); carol's ViT training timed out; dave has no ReLU after the
    addition; erin was not graded."""
    out = tmp_path / "out"
    scaled = failed(output="MultiHeadAttention: output differs", alternatives=("mha.scale_embed_dim",))
    submission(out, "alice", execution_time=10.0)
    submission(out, "bob", {"part3.mha.numerics": scaled}, execution_time=30.0)
    submission(out, "carol", {"part3.mha.numerics": scaled,
                              "part4.training.vit": failed(output="training did not finish within 150 s\nmore",
                                                           incident="timeout", seconds=150.0)},
               execution_time=200.0)
    submission(out, "dave", {"part1.basic_block.numerics": failed(alternatives=("basic_block.no_final_relu",),
                                                                  output="BasicBlock: output differs")})
    submission(out, "frank")
    (out / "erin").mkdir()
    (out / "erin" / NOT_GRADED).write_text("BrokenProcessPool: the worker pool broke\n", encoding="utf-8")
    return out


class Tables(HTMLParser):
    """The page's tables (lists of rows of cell texts) and its text without tags."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self.in_cell = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")
            self.in_cell = True
        elif tag == "br":
            self.handle_data("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data):
        self.text.append(data)
        if self.in_cell:
            self.tables[-1][-1][-1] += data

    def table(self, first_header: str) -> dict[str, list[str]]:
        """The table whose header starts with ``first_header``, by its first column."""
        found = next(t for t in self.tables if t[0][0] == first_header)
        return {row[0]: row[1:] for row in found[1:]}


def page_of(out: Path) -> str:
    return (out / REPORT).read_text(encoding="utf-8")


def plain(page: str) -> str:
    return re.sub(r"\s+", " ", "".join(Tables(page).text))


def test_the_summary_numbers_of_a_known_class(known_class):
    """Totals and parts, pass rates, the alternatives in sentences, the problems with their reasons."""
    write_report(known_class)
    page = page_of(known_class)
    tables = Tables(page)
    scores = tables.table("")
    assert scores["Total"] == ["8", "6.60", "6.50", "4.5", "8", "5"]
    assert scores["Part 1: ResNet"] == ["2.5", "2.20", "2.50", "1", "2.5", "5"]
    assert scores["Part 4: Profiling and training"] == ["1.5", "1.20", "1.50", "0", "1.5", "5"]
    assert "Code quality" not in scores  # worth no points: no distribution to show
    checks = tables.table("check")
    assert checks["part3.mha.numerics"][:4] == ["5", "60%", "1.20 / 2", "2.0"]
    assert checks["part3.mha.numerics"][4] == f"2 students: {SCALE}"
    assert checks["part1.basic_block.numerics"][4] == "1 student: no ReLU after the addition"
    assert checks["part3.encoder_block.numerics"][4] == ""
    text = plain(page)
    assert f"2 students: {SCALE} (part3.mha.numerics)" in text  # what to explain, most students first
    assert text.index(f"2 students: {SCALE}") < text.index("1 student: no ReLU after the addition")
    problems = tables.table("submission")
    assert list(problems) == ["erin", "carol"]  # one row each, the gravest first
    assert problems["erin"] == ["not graded", "", "the grader failed: BrokenProcessPool: the worker pool broke"]
    assert problems["carol"] == ["timeout (1 check)", "part4.training.vit",
                                 "part4.training.vit: training did not finish within 150 s"]
    timing = next(t for t in tables.tables if t[0][0] == "seconds per submission")
    assert timing[1] == ["execution_time", "56.0", "20.0", "10.0", "200", "0.08 h"]
    slow = [t for t in tables.tables if t[0][0] == "check"][1]
    assert slow[1][:3] == ["part4.training.vit", "158", "31.6"]  # 150 + 4 x 2 s, over 5 submissions


def test_the_figures_are_drawn_and_labelled(known_class):
    """Each histogram counts every graded submission and marks the rubric's maximum; one bar per check."""
    drawn = figures(summarise(load_class(known_class)))
    assert set(drawn) == {"totals.png", "parts.png", "pass-rates.png", "execution-times.png", "slowest-checks.png"}

    (totals,) = drawn["totals.png"].axes
    assert sum(bar.get_height() for bar in totals.patches) == 5
    assert {bar.get_facecolor()[:3] for bar in totals.patches} == {matplotlib.colors.to_rgb(class_figures.SCORE_COLOUR)}
    assert [list(line.get_xdata()) for line in totals.lines] == [[8, 8]]
    assert totals.get_title() and totals.get_xlabel() == "points" and totals.get_ylabel() == "submissions"

    parts = [axes for axes in drawn["parts.png"].axes if axes.get_visible()]
    assert [axes.get_title() for axes in parts] == ["Part 1: ResNet (maximum 2.5)",
                                                    "Part 3: Vision Transformer (maximum 4)",
                                                    "Part 4: Profiling and training (maximum 1.5)"]
    for axes, maximum in zip(parts, (2.5, 4, 1.5)):
        assert sum(bar.get_height() for bar in axes.patches) == 5
        assert [list(line.get_xdata()) for line in axes.lines] == [[maximum, maximum]]
        assert axes.get_xlabel() and axes.get_ylabel()

    (rates,) = drawn["pass-rates.png"].axes
    assert len(rates.patches) == len(POINTS)
    labels = [label.get_text() for label in rates.get_yticklabels()]
    assert sorted(labels) == sorted(POINTS)
    widths = dict(zip(labels, (bar.get_width() for bar in rates.patches)))
    assert widths["part3.mha.numerics"] == pytest.approx(60) and widths["part1.errors"] == pytest.approx(100)
    assert labels[0] == "part3.mha.numerics"  # the lowest pass rate on top (the y axis is inverted)
    assert rates.yaxis_inverted() and rates.get_title() and rates.get_xlabel()

    (times,) = drawn["execution-times.png"].axes
    assert sum(bar.get_height() for bar in times.patches) == 5 and times.get_xlabel() and times.get_title()
    (slowest,) = drawn["slowest-checks.png"].axes
    assert len(slowest.patches) == len(POINTS)
    assert slowest.get_yticklabels()[0].get_text() == "part4.training.vit"
    assert slowest.patches[0].get_width() == pytest.approx(158)


def test_the_score_bins_cover_zero_to_the_maximum():
    for maximum in (0.5, 1.5, 8, 9, 17, 60, 100, 1000):
        edges = class_figures.score_bins(maximum)
        assert edges[0] == 0 and maximum <= edges[-1] < maximum + (edges[1] - edges[0]) and len(edges) <= 31


def test_hostile_text_is_escaped(tmp_path):
    """A submission's id and its feedback (quoting its code and errors) reach the page as text, not markup."""
    out = tmp_path / "out"
    name = "<img src=x onerror=alert(1)>"
    submission(out, name, {"part3.mha.numerics": failed(output="<script>alert('mha')</script> uses nn.MHA",
                                                        incident="forbidden")})
    (out / "x&y").mkdir()
    (out / "x&y" / NOT_GRADED).write_text("<script>alert('grader')</script>\n", encoding="utf-8")
    write_report(out)
    page = page_of(out)
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;mha&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "x&amp;y" in page
    problems = Tables(page).table("submission")
    assert problems[name][0] == "forbidden (1 check)"


def test_each_kind_of_problem_is_one_row_with_its_reason(tmp_path):
    """Not graded, all checks ungradable, a sandbox limit, a crash, a forbidden library, a timeout: one row per
    submission, the gravest kind first; a plain error or a missing file is no problem of the grader's."""
    out = tmp_path / "out"
    unreadable = "cell 3: not a notebook (invalid JSON)"
    submission(out, "ungradable", {check_id: failed(output=unreadable, incident="ungradable") for check_id in POINTS})
    submission(out, "limits", {"part4.training.vit": failed(output="stopped: 256 processes", incident="limit"),
                               "part3.mha.numerics": failed(output="the worker died (SIGSEGV)", incident="crash"),
                               "part1.errors": failed(output="too slow", incident="timeout"),
                               "part1.basic_block.numerics": failed(output="ValueError", incident="error")})
    submission(out, "forbidden", {"part3.mha.numerics": failed(output="uses torch.nn.MultiheadAttention\nin mha",
                                                               incident="forbidden")})
    submission(out, "honest", {"part1.errors": failed(output="attention.py is missing", incident="missing")})
    (out / "lost").mkdir()
    (out / "lost" / "results.json").write_text("{not json", encoding="utf-8")
    write_report(out)
    problems = Tables(page_of(out)).table("submission")
    assert list(problems) == ["lost", "ungradable", "forbidden", "limits"]
    assert problems["lost"][0] == "not graded" and "results.json cannot be read" in problems["lost"][2]
    assert problems["ungradable"] == ["ungradable", "all", unreadable]
    assert problems["forbidden"] == ["forbidden (1 check)", "part3.mha.numerics",
                                     "part3.mha.numerics: uses torch.nn.MultiheadAttention"]
    assert problems["limits"] == ["limit (1 check), crash (1 check), timeout (1 check)",
                                  "part1.errors, part3.mha.numerics, part4.training.vit",
                                  "part4.training.vit: stopped: 256 processes"]


def test_results_without_extra_data_still_make_a_report(known_class):
    """Results of an older grader: the columns only extra_data fills say n/a, the rest is there."""
    for results in known_class.glob("*/results.json"):
        data = json.loads(results.read_text(encoding="utf-8"))
        for test in data["tests"]:
            del test["extra_data"]
        results.write_text(json.dumps(data), encoding="utf-8")
    write_report(known_class)
    tables = Tables(page_of(known_class))
    assert tables.table("")["Total"][:2] == ["8", "6.60"]
    checks = tables.table("check")
    assert checks["part3.mha.numerics"] == ["5", "60%", "1.20 / 2", "n/a", "n/a"]
    assert list(tables.table("submission")) == ["erin"]  # the timeout is not known any more
    text = plain(page_of(known_class))
    assert "5 of the results predate extra_data" in text and "Slowest checks: n/a" in text
    assert len(figures_of(known_class)) == 4  # all but the slowest checks'


def test_the_report_command(known_class, tmp_path, capsys):
    """`report OUT` writes the page and says where; a folder without results exits 2 saying why."""
    assert main(["report", str(known_class)]) == 0
    assert f"class report: {known_class / REPORT}" in capsys.readouterr().out
    assert [len(png) > 1000 for png in figures_of(known_class)] == [True] * 5
    assert not [p.name for p in known_class.iterdir() if p.name.startswith(".")]  # no temporary file left
    folders = {p.name for p in known_class.iterdir() if p.is_dir()}
    assert folders == {"alice", "bob", "carol", "dave", "erin", "frank"}  # none but the submissions'

    empty = tmp_path / "empty"
    (empty / "stray").mkdir(parents=True)
    assert main(["report", str(empty)]) == 2
    assert "holds no results" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_batch_ends_with_the_report(known_class, tmp_path, monkeypatch, capsys):
    """After the gradebook, batch writes the class report and prints its path (grading itself is stubbed)."""
    monkeypatch.setattr("autograder.batch.grade_class", lambda *args, **kwargs: [])
    (tmp_path / "class").mkdir()
    assert main(["batch", str(tmp_path / "class"), "--out", str(known_class), "--sandbox", "off"]) == 0
    printed = capsys.readouterr().out
    assert f"class report: {known_class / REPORT}" in printed and (known_class / REPORT).is_file()
    assert printed.index("gradebook:") < printed.index("class report:")
    empty = tmp_path / "empty-out"
    assert main(["batch", str(tmp_path / "class"), "--out", str(empty), "--sandbox", "off"]) == 0
    assert "class report: none" in capsys.readouterr().out


def figures_of(out: Path) -> list[bytes]:
    """The PNG figures embedded in ``out``'s report, in page order."""
    page = (out / REPORT).read_text(encoding="utf-8")
    return [base64.b64decode(found) for found in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def near(pixels: np.ndarray, colour: str, tolerance: float = 12 / 255) -> np.ndarray:
    """Which pixels are ``colour`` (to within ``tolerance`` per channel)."""
    return (np.abs(pixels[..., :3] - np.array(matplotlib.colors.to_rgb(colour))) <= tolerance).all(axis=-1)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (Debian: apt-get install chromium; "
                                                       ".ci/run installs it on CI)")
def test_a_browser_shows_the_figures(known_class, tmp_path):
    """Headless chromium opens the page offline and its screenshot shows the figures: the totals' histogram
    as large as its PNG, near the top, and the pass rates below it."""
    page = write_report(known_class)
    screenshot = tmp_path / "screenshot.png"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={screenshot}", "--window-size=1200,3000",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and screenshot.is_file(), done.stderr[-2000:]
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (3000, 1200) and pixels.var() > 0, "the screenshot is blank"

    magenta = near(pixels, class_figures.SCORE_COLOUR)
    in_totals = near(matplotlib.image.imread(io.BytesIO(figures_of(known_class)[0]), format="png"),
                     class_figures.SCORE_COLOUR).sum()
    assert magenta.sum() >= 0.9 * in_totals > 0, "the totals' histogram is not shown at its size"
    rows = np.flatnonzero(magenta.any(axis=1))
    assert rows[0] < 1500, "the first figure is not near the top"
    teal = np.flatnonzero(near(pixels, class_figures.PASS_COLOUR).any(axis=1))
    assert teal.size > 20 and teal[0] > rows[0], "the pass rates are not shown below the score histograms"
