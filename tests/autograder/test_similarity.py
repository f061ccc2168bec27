"""The similarity report (``python -m autograder similarity``): copies found, honest work left alone.

The class is ``similarity_class``: ten students who each wrote their own code for the same nine
regions of the skeletons (each passes the grader's visible checks of those components), and
plagiarised copies of it made by renaming names and rewriting comments.
"""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import similarity_class as klass

from autograder import paths
from autograder.__main__ import main
from autograder.rubric import SimilaritySettings
from autograder.tools import similarity

SETTINGS = SimilaritySettings()


@pytest.fixture(scope="module")
def given():
    """The given code and its k-grams, read once for the module's tests."""
    code = similarity.given_code()
    return code, similarity.boilerplate_hashes(SETTINGS, code)


def write_class(folder, students):
    """One submission folder per (id -> answers) of ``students``."""
    for name, answers in students.items():
        klass.write_folder(folder / name, answers)
    return folder


def compare(folder, given):
    """The report of ``folder`` with the module's given code."""
    code, boilerplate = given
    documents, skipped = similarity.read_class(folder, code)
    return similarity.Report(documents, similarity.compare(documents, SETTINGS, boilerplate), skipped, SETTINGS)


def ids(pair):
    return {pair.id_a, pair.id_b}


def test_a_copy_with_its_names_renamed_and_comments_rewritten_ranks_first_and_is_flagged(tmp_path, given):
    students = dict(klass.STUDENTS, kim=klass.copied(klass.STUDENTS["elena"]))
    report = compare(write_class(tmp_path, students), given)
    assert len(report.pairs) == 11 * 10 // 2
    top = report.pairs[0]
    assert ids(top) == {"elena", "kim"} and top.flagged
    assert min(top.similarity_a, top.similarity_b) > 0.9
    assert [ids(pair) for pair in report.flagged] == [{"elena", "kim"}]
    kim = (tmp_path / "kim" / "vit.py").read_text()
    assert "my own implementation" in kim and "scores = scores.exp()" in kim  # renamed, re-commented


def test_ten_students_who_wrote_their_own_code_are_not_flagged(tmp_path, given):
    report = compare(write_class(tmp_path, klass.STUDENTS), given)
    assert len(report.pairs) == 45 and not report.skipped
    assert min(min(p.tokens_a, p.tokens_b) for p in report.pairs) > 500  # their own code is compared, not nothing
    assert report.flagged == [], [(p.id_a, p.id_b, round(p.score, 2)) for p in report.flagged]
    # Code the task dictates (the constructors, `if dim % 2`) is shared, so honest pairs do match a little.
    assert 0.15 < report.pairs[0].score < SETTINGS.threshold


def test_students_who_changed_nothing_share_nothing(tmp_path, given):
    """Untouched skeletons and an untouched released notebook: the given code does not count."""
    for name in ("ann", "ben", "cid"):
        shutil.copytree(paths.SKELETONS, tmp_path / name)
    klass.write_notebook(tmp_path / "dee.ipynb", {})
    klass.write_folder(tmp_path / "eve", klass.STUDENTS["ana"])
    report = compare(tmp_path, given)
    assert len(report.pairs) == 10 and not report.skipped and report.flagged == []
    assert {name: doc.text for name, doc in report.documents.items() if name != "eve"} == {
        "ann": "", "ben": "", "cid": "", "dee": ""}
    # Without the given code left out, the same untouched skeletons are 100 % alike.
    blank = similarity.Given({name: "" for name in given[0].files}, "")
    documents, _ = similarity.read_class(tmp_path, blank)
    pairs = similarity.compare(documents, SETTINGS, np.array([], dtype=np.int64))
    assert {"ann", "ben"} in [ids(p) for p in pairs if p.flagged and p.score == 1.0]


def test_a_notebook_is_compared_by_its_code_cells(tmp_path, given):
    """ana hands in folders; lena hands in the released notebook with ana's code pasted into its cells."""
    write_class(tmp_path, klass.STUDENTS)
    klass.write_notebook(tmp_path / "lena.ipynb", klass.STUDENTS["ana"])
    cells = json.loads((tmp_path / "lena.ipynb").read_text())["cells"]
    assert any("torch.pow(10000.0" in "".join(c["source"]) for c in cells)
    report = compare(tmp_path, given)
    top = report.pairs[0]
    assert ids(top) == {"ana", "lena"} and top.flagged and top.score > 0.9
    assert [ids(pair) for pair in report.flagged] == [{"ana", "lena"}]


def test_unreadable_submissions_are_skipped_with_their_reason_and_the_rest_compared(tmp_path, given):
    write_class(tmp_path, {name: klass.STUDENTS[name] for name in ("ana", "bruno")})
    klass.write_folder(tmp_path / "copy", klass.copied(klass.STUDENTS["bruno"]))
    (tmp_path / "broken.ipynb").write_text("{ this is not json")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no code here")
    report = compare(tmp_path, given)
    reasons = {s.id: s.reason for s in report.skipped}
    assert set(reasons) == {"broken", "empty"}
    assert "broken.ipynb is not valid JSON" in reasons["broken"]
    assert "no lab files" in reasons["empty"]
    assert [ids(p) for p in report.pairs[:1]] == [{"bruno", "copy"}] and len(report.pairs) == 3
    html = similarity.render_html(report)
    assert "broken.ipynb is not valid JSON" in html and "no lab files" in html


def test_the_command_line_refuses_a_missing_folder_or_a_lone_submission(tmp_path, capsys):
    assert main(["similarity", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "is not a folder of submissions" in capsys.readouterr().err
    klass.write_folder(tmp_path / "class" / "ana", klass.STUDENTS["ana"])
    assert main(["similarity", str(tmp_path / "class"), "--out", str(tmp_path / "out")]) == 2
    assert "comparing needs at least 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_command_line_writes_the_ranked_csv_and_the_page(tmp_path, capsys):
    folder = write_class(tmp_path / "class", {name: klass.STUDENTS[name] for name in ("ana", "carla", "diego")})
    klass.write_folder(folder / "zed", klass.copied(klass.STUDENTS["diego"]))
    out = tmp_path / "out"
    assert main(["similarity", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 submissions, 6 pairs" in printed and "1 pair(s) flagged" in printed
    assert str(out / "similarity.html") in printed and str(out / "similarity.csv") in printed
    rows = list(csv.DictReader((out / "similarity.csv").read_text().splitlines()))
    assert list(rows[0])[:6] == ["rank", "id_a", "id_b", "similarity_a", "similarity_b", "flagged"]
    assert (rows[0]["rank"], rows[0]["id_a"], rows[0]["id_b"]) == ("1", "diego", "zed")
    assert [row["flagged"] for row in rows] == ["yes"] + ["no"] * 5
    assert float(rows[0]["similarity_a"]) > 0.9 and float(rows[1]["similarity_a"]) < 0.5


def test_batch_writes_the_similarity_report_after_the_gradebook(tmp_path, capsys, monkeypatch):
    """``batch --similarity`` (grading itself replaced by nothing here: this is about the wiring)."""
    monkeypatch.setattr("autograder.batch.grade_class", lambda *args, **kwargs: [])
    folder = write_class(tmp_path / "class", {name: klass.STUDENTS[name] for name in ("ana", "bruno")})
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--similarity", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.index("gradebook:") < printed.index("similarity:")
    assert "0 pair(s) flagged" in printed and (out / "similarity.html").is_file()


def test_the_page_escapes_hostile_text_and_needs_nothing_from_outside(tmp_path, given):
    """A copy whose comments close a script tag, handed in under a name that is an HTML tag."""
    hostile = "</script><script>alert(1)</script>"
    tag_name = "<img src=x onerror=alert(1)>"
    write_class(tmp_path, {"bruno": klass.STUDENTS["bruno"], "carla": klass.STUDENTS["carla"],
                           tag_name: klass.copied(klass.STUDENTS["bruno"], comment=hostile)})
    report = compare(tmp_path, given)
    assert report.pairs[0].flagged and tag_name in ids(report.pairs[0])
    assert hostile in report.documents[tag_name].text
    page = similarity.render_html(report)
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and "onerror=alert" not in lowered.replace(
        "&lt;img src=x onerror=alert(1)&gt;", "")
    for outside in ("http:", "https:", "//cdn", " src=", "<link", "@import", "url("):
        assert outside not in lowered.replace("&lt;img src=x onerror=alert(1)&gt;", ""), outside
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.count("<mark>") >= 2  # the matches, highlighted on both sides
