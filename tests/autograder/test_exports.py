"""The LMS exports (Moodle, Canvas) and the merge of hand-graded scores, on synthetic results (no grading)."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.checks import CHECKS
from autograder.exports import (
    ExportError,
    Settings,
    export_settings,
    merge,
    read_manual,
    spreadsheet_text,
    write_exports,
)
from autograder.grade import STYLE_ID
from autograder.report import CheckResult, results_json, write_results
from autograder.rubric import load_rubric

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)

# Moodle, "Import grades > CSV file" (https://docs.moodle.org/en/Grade_import): one column identifies the
# user, mapped at import to a user field (email address, ID number, username); one column per grade item,
# plain numbers with a decimal point. The identifier column is named after the field it maps to.
MOODLE_HEADER = ["username", "Lab 3 code", "Lab 3 report", "Lab 3 demo", "Lab 3 bonus"]
# Canvas, "How do I import grades in the Gradebook?" (Canvas Instructor Guide): the columns Student, ID,
# SIS User ID, SIS Login ID, Section first, then one column per assignment ("Name (assignment id)", or a
# bare name for a new assignment); a second row "Points Possible" may give each assignment's points.
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                 "Lab 3 code", "Lab 3 report", "Lab 3 demo", "Lab 3 bonus"]
PLAIN = re.compile(r"(\d+(\.\d+)?)?")
"""A grade cell: empty, or a plain decimal (a point, no sign, no exponent, no thousands separator)."""
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def graded(out, shares: dict[str, float], rubric=RUBRIC) -> None:
    """OUT/<id>/results.json for each id, every check earning ``share`` of its points, as a grading writes them."""
    for name, share in shares.items():
        results = [CheckResult(check_id, round(rule.points * share, 4), rule.points, "feedback", rule.visibility,
                               0.1, fraction=share) for check_id, rule in rubric.checks.items()]
        results.append(CheckResult(STYLE_ID, 0.0, 0.0, "Clean code\nfine", "visible", fraction=0.5))
        write_results(out / name / "results.json", results_json(results, 2.0, "notes"))


def rows(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_moodle_export_has_the_documented_columns_and_plain_numbers(tmp_path):
    out = tmp_path / "out"
    graded(out, {"ann": 1.0, "ben": 0.5, "cid": 0.0002, "dee": 1 / 3})  # each check's score rounded to 4 places
    written, warnings = write_exports(out, RUBRIC, Settings())
    assert out / "moodle.csv" in written and warnings == []
    table = rows(out / "moodle.csv")
    assert table[0] == MOODLE_HEADER
    assert {row[0]: row[1:] for row in table[1:]} == {"ann": ["60", "", "", ""], "ben": ["30", "", "", ""],
                                                      "cid": ["0.012", "", "", ""], "dee": ["20.0012", "", "", ""]}
    assert all(PLAIN.fullmatch(cell) for row in table[1:] for cell in row[1:])


def test_canvas_export_has_the_documented_columns_and_a_points_possible_row(tmp_path):
    out = tmp_path / "out"
    graded(out, {"ann": 0.25, "ben": 1.0})
    roster = tmp_path / "roster.csv"
    roster.write_text("id,Email address,Student,ID,SIS User ID,SIS Login ID,Section\n"
                      'ann,ann@uni.es,"Abad, Ann",101,S-1,ann,Lab A\n'
                      'ben,ben@uni.es,"Bello, Ben",102,S-2,ben,Lab B\n', encoding="utf-8")
    write_exports(out, RUBRIC, export_settings(out, roster, "email"))
    table = rows(out / "canvas.csv")
    assert table[0] == CANVAS_HEADER
    assert table[1] == ["Points Possible", "", "", "", "", "60", "30", "10", "5"]
    assert table[2:] == [["Abad, Ann", "101", "S-1", "ann", "Lab A", "15", "", "", ""],
                         ["Bello, Ben", "102", "S-2", "ben", "Lab B", "60", "", "", ""]]
    moodle = rows(out / "moodle.csv")
    assert moodle[0] == ["email"] + MOODLE_HEADER[1:]
    assert [row[:2] for row in moodle[1:]] == [["ann@uni.es", "15"], ["ben@uni.es", "60"]]
    assert all(PLAIN.fullmatch(cell) for row in table[1:] for cell in row[5:])


def test_a_student_the_roster_lacks_is_reported_and_kept(tmp_path):
    out = tmp_path / "out"
    graded(out, {"ann": 1.0, "zoe": 0.5})
    (out / "kim").mkdir()
    (out / "kim" / "not-graded.txt").write_text("OSError: disk full\n")
    roster = tmp_path / "roster.csv"
    roster.write_text("id,email\nann,ann@uni.es\nkim,kim@uni.es\nlea,lea@uni.es\n", encoding="utf-8")
    _, warnings = write_exports(out, RUBRIC, export_settings(out, roster, "email"))
    assert any("not in the roster" in w and "zoe" in w for w in warnings), warnings
    assert any("without a submission" in w and "lea" in w for w in warnings), warnings
    assert any("not graded" in w and "kim" in w for w in warnings), warnings
    moodle = {row[0]: row[1] for row in rows(out / "moodle.csv")[1:]}
    assert moodle == {"ann@uni.es": "60", "kim@uni.es": "", "lea@uni.es": "", "zoe": "30"}
    assert len(rows(out / "canvas.csv")) == 2 + 4


def test_student_text_cannot_inject_formulas(tmp_path):
    """Ids and roster fields starting with = + - @ are written with a leading ' (a spreadsheet shows them as
    text), and the merge reads the files back to the same students."""
    out = tmp_path / "out"
    hostile = ["=cmd|' -C calc'!A0", "+1+1", "-2+3", "@SUM(A1)"]
    graded(out, {name: 1.0 for name in hostile})
    roster = tmp_path / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "username", "Student", "Section"])
        for name in hostile:
            writer.writerow([name, name, '=HYPERLINK("http://evil.example","x")', "@section"])
    settings = export_settings(out, roster, "username")
    write_exports(out, RUBRIC, settings)
    for export in ("moodle.csv", "canvas.csv"):
        cells = [cell for row in rows(out / export) for cell in row]
        assert not [cell for cell in cells if cell.startswith(FORMULA)], export
        assert sum(cell.startswith("'") for cell in cells) >= len(hostile)
    assert spreadsheet_text("-5") == "'-5" and spreadsheet_text("ann") == "ann"
    filled = tmp_path / "filled.csv"
    with filled.open("w", encoding="utf-8", newline="") as f:
        table = rows(out / "moodle.csv")
        csv.writer(f).writerows([table[0]] + [[row[0], row[1], "30", "10", ""] for row in table[1:]])
    merge(out, RUBRIC, filled, settings)
    assert {row[0]: row[5] for row in rows(out / "final.csv")[1:]} == {spreadsheet_text(n): "100" for n in hostile}


def test_merge_writes_final_grades_and_refreshes_the_exports(tmp_path, capsys):
    out = tmp_path / "out"
    graded(out, {"ann": 1.0, "ben": 0.5, "cid": 0.25})
    assert main(["batch", str(tmp_path), "--out", str(out), "--rescore"]) == 0
    assert rows(out / "moodle.csv")[0] == MOODLE_HEADER
    manual = tmp_path / "manual.csv"
    manual.write_text("id,report,demo,bonus\nann,30,10,5\nben,12.5,,\ncid,20,5,\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["merge", str(out), "--manual", str(manual)]) == 0
    err = capsys.readouterr().err
    assert "1 final grade left empty for want of a score: ben (demo)" in err
    final = rows(out / "final.csv")
    assert final[0] == ["id", "code", "report", "demo", "bonus", "final", "missing"]
    assert final[1:] == [["ann", "60", "30", "10", "5", "105", ""], ["ben", "30", "12.5", "", "", "", "demo"],
                         ["cid", "15", "20", "5", "", "40", ""]]
    moodle = rows(out / "moodle.csv")
    assert moodle[0] == MOODLE_HEADER + ["Lab 3 final"]
    assert moodle[1] == ["ann", "60", "30", "10", "5", "105"]
    canvas = rows(out / "canvas.csv")
    assert canvas[0] == CANVAS_HEADER + ["Lab 3 final"] and canvas[1][-1] == "100"
    assert canvas[3] == ["ben", "", "", "", "", "30", "12.5", "", "", ""]
    # A later merge replaces the rows it gives and keeps the others; the exports, filled in, are accepted.
    filled = tmp_path / "filled.csv"
    filled.write_text("username,Lab 3 code,Lab 3 report,Lab 3 demo,Lab 3 bonus\nben,30,12.5,7,\n", encoding="utf-8")
    assert main(["merge", str(out), "--manual", str(filled)]) == 0
    assert [row[5] for row in rows(out / "final.csv")[1:]] == ["105", "49.5", "40"]
    canvas_filled = tmp_path / "canvas-filled.csv"
    canvas_filled.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Lab 3 report (4411),Lab 3 demo (4412)\n"
                             "Points Possible,,,,,30,10\ncid,,,,,29,9.5\n", encoding="utf-8")
    assert main(["merge", str(out), "--manual", str(canvas_filled)]) == 0
    assert rows(out / "final.csv")[3] == ["cid", "15", "29", "9.5", "", "53.5", ""]
    # A rescore keeps the merged scores: the final column follows the new code grade.
    assert main(["batch", str(tmp_path), "--out", str(out), "--rescore"]) == 0
    assert rows(out / "moodle.csv")[3][-1] == "53.5"


@pytest.mark.parametrize("content, message", [
    ("id,report,demo,bonus\nann,31,10,0\n", "row 2 (id 'ann'), column report: 31 is not from 0 to 30"),
    ("id,report,demo,bonus\nann,30,10,6\n", "row 2 (id 'ann'), column bonus: 6 is not from 0 to 5"),
    ("id,report,demo,bonus\nann,-1,10,0\n", "column report: -1 is not from 0 to 30"),
    ("id,report,demo,bonus\nann,twenty,10,0\n", "column report: 'twenty' is not a number"),
    ("id,report,demo,bonus\nann,nan,10,0\n", "column report: 'nan' is not a number"),
    ("id,report,demo,bonus\nann,20,10,0\nzed,20,10,0\n", "row 3: unknown student (id 'zed')"),
    ("id,report,demo,bonus\nann,20,10,0\nann,21,10,0\n", "row 3: id 'ann' is given twice"),
    ("id,report,bonus\nann,20,0\n", "no column for demo"),
    ("name,report,demo\nann,20,10\n", "cannot tell whose scores the rows are"),
    ("", "empty"),
])
def test_bad_manual_scores_are_refused_naming_row_and_column(tmp_path, capsys, content, message):
    out = tmp_path / "out"
    graded(out, {"ann": 1.0})
    manual = tmp_path / "manual.csv"
    manual.write_text(content, encoding="utf-8")
    with pytest.raises(ExportError, match=re.escape(message)):
        read_manual(manual, RUBRIC, Settings(), {"ann"})
    assert main(["merge", str(out), "--manual", str(manual)]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "final.csv").exists()


def test_merge_refuses_a_missing_file_or_folder_and_a_bad_roster(tmp_path, capsys):
    out = tmp_path / "out"
    graded(out, {"ann": 1.0})
    assert main(["merge", str(out), "--manual", str(tmp_path / "absent.csv")]) == 2
    assert "absent.csv: no such file" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "nowhere"), "--manual", str(tmp_path / "absent.csv")]) == 2
    roster = tmp_path / "roster.csv"
    roster.write_text("id,username\nann,a1\n", encoding="utf-8")
    assert main(["merge", str(out), "--manual", str(roster), "--roster", str(roster), "--id-column", "email"]) == 2
    assert "the roster has no email column" in capsys.readouterr().err
    roster.write_text("student,email\nann,a@uni.es\n", encoding="utf-8")
    with pytest.raises(ExportError, match="needs a column 'id'"):
        export_settings(out, roster, "email")


def test_a_spreadsheet_saved_in_a_decimal_comma_locale_is_read(tmp_path):
    """Excel in a Spanish locale saves CSV with semicolons and decimal commas (and a byte-order mark)."""
    manual = tmp_path / "manual.csv"
    manual.write_text("\ufeffid;report;demo;bonus\nann;25,5;10;\n", encoding="utf-8")
    assert read_manual(manual, RUBRIC, Settings(), {"ann"}) == {"ann": {"report": 25.5, "demo": 10.0, "bonus": None}}


def test_the_roster_and_id_column_are_kept_for_later_commands(tmp_path):
    out = tmp_path / "out"
    graded(out, {"ann": 1.0})
    roster = tmp_path / "roster.csv"
    roster.write_text("id,ID number\nann,2024-17\n", encoding="utf-8")
    export_settings(out, roster, "idnumber")
    kept = export_settings(out)
    assert kept.id_column == "idnumber" and kept.roster == {"ann": {"idnumber": "2024-17"}}
    assert json.loads((out / "exports.json").read_text())["id_column"] == "idnumber"
    write_exports(out, RUBRIC, kept)
    assert rows(out / "moodle.csv")[1][:2] == ["2024-17", "60"]
