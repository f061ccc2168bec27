"""Check results become Gradescope's results.json (written atomically) and a readable terminal report."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder import report
from autograder.report import PART_TITLES, CheckResult, format_report, results_json, write_results

RESULTS = [
    CheckResult("part1.basic_block.shapes", 2.0, 2.0, "output shape (2, 64, 8, 8) as expected", "visible", 0.1),
    CheckResult(
        "part1.basic_block.numerics",
        0.0,
        3.0,
        "outputs differ from the reference\nmax abs diff 0.31 at (0, 1, 2, 3)\nsee slide 14",
        "hidden",
    ),
    CheckResult("part2.se.shapes", 1.0 / 3.0, 1.0, "1 of 3 shapes right\nwanted (2, 64)", "after_due_date", 2.71828,
                alternatives=("se.without_relu",)),
    CheckResult("part1.bottleneck.params", 4.0, 4.0, "parameter count 70,400\nignored detail", "visible"),
    CheckResult("extra.smoke", 1.0, 1.0, "", "visible"),
]


def test_check_result_properties():
    shapes, numerics, se, *_ = RESULTS
    assert shapes.passed and not numerics.passed and not se.passed
    assert CheckResult("a.b", 1.0 - 1e-12, 1.0, "", "visible").passed
    assert (shapes.part, se.part, CheckResult("solo", 0, 1, "", "visible").part) == ("part1", "part2", "solo")


@pytest.mark.parametrize(
    "fields, message",
    [
        (("a.b", 2.0, 1.0, "", "visible"), "score must be from 0 to 1.0"),
        (("a.b", -0.5, 1.0, "", "visible"), "score must be from 0"),
        (("a.b", float("nan"), 1.0, "", "visible"), "score must be"),
        (("a.b", 1.0, 1.0, "", "public"), "visibility must be one of"),
        (("", 1.0, 1.0, "", "visible"), "non-empty string"),
    ],
)
def test_check_result_refuses_nonsense(fields, message):
    with pytest.raises(ValueError, match=message):
        CheckResult(*fields)


def test_results_json_follows_gradescope_schema():
    data = results_json(RESULTS, execution_time=12.34567, output="graded on CPU")
    assert set(data) == {"score", "max_score", "execution_time", "output", "tests"}
    assert data["score"] == round(2 + 0 + 1 / 3 + 4 + 1, 4) == 7.3333
    assert data["max_score"] == 11.0
    assert data["execution_time"] == pytest.approx(12.346)
    assert data["output"] == "graded on CPU"
    assert [t["name"] for t in data["tests"]] == [r.id for r in RESULTS]
    se = data["tests"][2]
    assert se == {
        "name": "part2.se.shapes",
        "score": 0.3333,
        "max_score": 1.0,
        "status": "failed",
        "output": "1 of 3 shapes right\nwanted (2, 64)",
        "visibility": "after_due_date",
        "extra_data": {"seconds": 2.718, "fraction": 0.333333, "alternatives": ["se.without_relu"], "incident": ""},
    }
    assert data["tests"][1]["extra_data"]["fraction"] == 0.0
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed", "passed", "passed"]
    assert data["tests"][1]["visibility"] == "hidden"
    json.dumps(data, allow_nan=False)  # plain JSON throughout


def test_a_check_worth_no_points_keeps_its_share_and_its_incident():
    report = CheckResult("code.style", 0.0, 0.0, "4 of 5 functions documented", "visible", fraction=0.8)
    stopped = CheckResult("part3.mha.numerics", 0.0, 2.0, "no answer within 60 s", "visible", 60.0, incident="timeout")
    assert report.share == 0.8 and report.passed and stopped.share == 0.0
    tests = results_json([report, stopped], 1.0)["tests"]
    assert [t["extra_data"]["fraction"] for t in tests] == [0.8, 0.0]
    assert [t["extra_data"]["incident"] for t in tests] == ["", "timeout"]
    with pytest.raises(ValueError, match="incident must be one of"):
        CheckResult("a.b", 0.0, 1.0, "", "visible", incident="meltdown")


def test_results_json_of_nothing_and_duplicates():
    assert results_json([], 0) == {"score": 0, "max_score": 0, "execution_time": 0.0, "output": "", "tests": []}
    with pytest.raises(ValueError, match="more than once: part1.basic_block.shapes"):
        results_json([RESULTS[0], RESULTS[0]], 1.0)


def test_write_results_creates_parents_and_round_trips(tmp_path):
    target = tmp_path / "results" / "deep" / "results.json"
    data = results_json(RESULTS, 3.0)
    write_results(target, data)
    assert json.loads(target.read_text()) == data
    assert os.listdir(target.parent) == ["results.json"]


def test_failed_serialisation_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "results.json"
    write_results(target, {"score": 1})
    before = target.read_bytes()
    for bad in ({"score": object()}, {"score": float("nan")}):
        with pytest.raises((TypeError, ValueError)):
            write_results(target, bad)
        assert target.read_bytes() == before
        assert os.listdir(tmp_path) == ["results.json"]


def test_failed_rename_removes_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    write_results(target, {"score": 1})
    before = target.read_bytes()

    def broken_replace(src, dst):
        assert os.path.dirname(src) == str(tmp_path)  # the temp file lives beside the target
        raise OSError("disk gone")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        write_results(target, {"score": 2})
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["results.json"]


def test_format_report_groups_by_part_with_totals():
    text = format_report(RESULTS, "Lab 3 autograder")
    lines = text.splitlines()
    assert lines[:2] == ["Lab 3 autograder", "================"]
    # parts in order of first appearance; part1's checks together even when interleaved
    headings = [line for line in lines if line and not line.startswith(" ") and line != lines[0] and line[0] != "="]
    assert headings == [PART_TITLES["part1"], PART_TITLES["part2"], "extra", "Total: 7.33 / 11.00"]
    part1 = lines[lines.index(PART_TITLES["part1"]) + 1 : lines.index(PART_TITLES["part2"])]
    assert part1[0].startswith("  [PASS]  2.00/2.00  part1.basic_block.shapes  ")
    assert part1[0].endswith("  output shape (2, 64, 8, 8) as expected")
    assert part1[1].startswith("  [FAIL]  0.00/3.00  part1.basic_block.numerics  outputs differ from the reference")
    assert part1[2].strip() == "max abs diff 0.31 at (0, 1, 2, 3)" and part1[2].startswith(" " * 10)
    assert part1[3].strip() == "see slide 14"
    assert "part1.bottleneck.params" in part1[4] and "ignored detail" not in text  # passing: first line only
    assert part1[5] == "  Subtotal: 6.00 / 9.00  (2 of 3 checks passed)"
    assert "  [FAIL]  0.33/1.00  part2.se.shapes" in text and "wanted (2, 64)" in text
    assert "  Subtotal: 0.33 / 1.00  (0 of 1 checks passed)" in text
    assert lines[-1] == "Total: 7.33 / 11.00"
    assert "\x1b" not in text


def test_format_report_truncates_long_output():
    details = [f"detail {i}" for i in range(25)]
    long_line = "x" * 1000
    failing = CheckResult("part3.vit.attention", 0.0, 5.0, "\n".join(["mismatch", long_line, *details]), "visible")
    text = format_report([failing], "t")
    lines = text.splitlines()
    shown = [line for line in lines if line.strip().startswith("detail ")]
    assert len(shown) == report.MAX_DETAIL_LINES - 1  # the long line takes the first detail slot
    assert any(line.strip() == "... (16 more lines)" for line in lines)
    assert "detail 9" not in text and "detail 24" not in text
    cut = next(line for line in lines if "xxx" in line)
    assert cut.strip() == "x" * (report.MAX_LINE_CHARS - 3) + "..."
    assert PART_TITLES["part3"] in lines and lines[-1] == "Total: 0.00 / 5.00"


def test_format_report_escapes_control_characters():
    sneaky = CheckResult("part1.a", 0.0, 1.0, "bad \x1b[31mred\x1b[0m\n\tindented\x07", "visible")
    text = format_report([sneaky], "t")
    assert "\x1b" not in text and "\x07" not in text and "\t" not in text
    assert "bad \\x1b[31mred\\x1b[0m" in text


@given(st.lists(st.text(max_size=400), max_size=30))
def test_format_report_bounds_any_output(chunks):
    result = CheckResult("part2.cbam.numerics", 0.0, 1.0, "\n".join(chunks), "visible")
    lines = format_report([result], "t").splitlines()
    assert len(lines) <= 6 + 1 + report.MAX_DETAIL_LINES + 1 + 2
    # one escaped character may take up to 10 columns; the cut happens after escaping
    assert all(len(line) <= 80 + report.MAX_LINE_CHARS for line in lines)


def test_a_report_worth_no_points_shows_its_details_though_it_passes():
    """The clean-code report (0 points) is read for its details: they are shown."""
    style = CheckResult("code.style", 0.0, 0.0, "Clean code: docstrings 3/4\n  resnet.py: docstrings 3/4", "visible")
    passing = CheckResult("part1.x.shapes", 1.0, 1.0, "all fine\nhidden detail", "visible")
    text = format_report([passing, style], "Lab 3")
    assert "  resnet.py: docstrings 3/4" in text and "hidden detail" not in text
