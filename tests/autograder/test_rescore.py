"""`batch --rescore`: a class scored again from its stored outcomes when only the rubric's points change."""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.batch import grade_class
from autograder.checks import CHECKS
from autograder.grade import STYLE_ID
from autograder.report import CheckResult, results_json, write_results
from autograder.rescore import RescoreError, rescore_class
from autograder.rubric import Rubric, load_rubric

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)
SMALL = ("part2.se.shapes", "part2.se.gate")


def small_rubric(points: float = 1.0) -> Rubric:
    """The real rubric's rules for two SE checks only (fast to grade), each worth ``points``."""
    checks = {check_id: dataclasses.replace(RUBRIC.checks[check_id], points=points) for check_id in SMALL}
    return dataclasses.replace(RUBRIC, checks=checks, code_points=2 * points, total=2 * points + 40.0)


def graded(out, shares: dict[str, dict[str, float]], rubric: Rubric = RUBRIC) -> None:
    """OUT/<id>/results.json, each check earning the share its id is given (1 by default), as a grading writes."""
    for name, given in shares.items():
        results = [CheckResult(check_id, round(rule.points * given.get(check_id, 1.0), 4), rule.points, "feedback",
                               rule.visibility, 0.25, fraction=given.get(check_id, 1.0),
                               alternatives=("post_norm",) if check_id in given else ())
                   for check_id, rule in rubric.checks.items()]
        results.append(CheckResult(STYLE_ID, 0.0, 0.0, "Clean code (no points)\n2 findings", "visible", fraction=0.5))
        write_results(out / name / "results.json", results_json(results, 12.5, "Sandbox: namespaces"))


def load(out, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text())


def test_rescore_multiplies_the_new_points_by_the_stored_shares(tmp_path):
    out = tmp_path / "out"
    graded(out, {"ann": {}, "ben": {"part3.mha.numerics": 0.0, "part1.basic_block.numerics": 0.5}})
    checks = dict(RUBRIC.checks)
    checks["part3.mha.numerics"] = dataclasses.replace(checks["part3.mha.numerics"], points=4.0, visibility="hidden")
    checks["part1.basic_block.numerics"] = dataclasses.replace(checks["part1.basic_block.numerics"], points=3.0)
    style = dataclasses.replace(RUBRIC.style, points=2.0)
    changed = dataclasses.replace(RUBRIC, checks=checks, style=style, code_points=RUBRIC.code_points + 5.5)
    before = load(out, "ben")
    assert rescore_class(out, changed, log=lambda line: None) == ["ann", "ben"]
    ann, ben = load(out, "ann"), load(out, "ben")
    assert (ann["score"], ann["max_score"]) == (64.5, 65.5)  # the clean-code report: half of its 2 points
    tests = {test["name"]: test for test in ben["tests"]}
    assert tests["part3.mha.numerics"]["score"] == 0 and tests["part3.mha.numerics"]["max_score"] == 4
    assert tests["part3.mha.numerics"]["visibility"] == "hidden" and tests["part3.mha.numerics"]["status"] == "failed"
    assert tests["part1.basic_block.numerics"]["score"] == 1.5 and tests["part1.basic_block.numerics"]["max_score"] == 3
    assert tests[STYLE_ID]["score"] == 1.0 and tests[STYLE_ID]["max_score"] == 2
    assert tests[STYLE_ID]["output"].splitlines()[1:] == ["2 findings"]  # the heading says its new points
    assert "2 points" in tests[STYLE_ID]["output"].splitlines()[0]
    assert ben["score"] == 65.5 - 4 - 1.5 - 1.0
    # What the grade stored stays: feedback, notes, times, the alternatives matched, the shares.
    old = {test["name"]: test for test in before["tests"]}
    assert ben["output"] == before["output"] and ben["execution_time"] == before["execution_time"]
    for name, test in tests.items():
        assert test["output"] == old[name]["output"] or name == STYLE_ID
        assert test["extra_data"] == old[name]["extra_data"]
    assert not list(out.glob("*/.results.json.*"))  # written atomically, no temporary file left


def test_rescore_refuses_results_without_shares_or_checks_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    graded(out, {"ann": {}, "ben": {}})
    old = load(out, "ben")
    for test in old["tests"]:
        test.pop("extra_data")  # as an older kit wrote results.json
    (out / "ben" / "results.json").write_text(json.dumps(old))
    before = (out / "ann" / "results.json").read_text()
    doubled = dataclasses.replace(RUBRIC, checks={k: dataclasses.replace(r, points=2 * r.points)
                                                  for k, r in RUBRIC.checks.items()})
    with pytest.raises(RescoreError, match=r"(?s)ben/results.json: no extra_data.fraction.*older kit.*regrade"):
        rescore_class(out, doubled, log=lambda line: None)
    assert (out / "ann" / "results.json").read_text() == before  # no partial rescore

    small = tmp_path / "small"
    graded(small, {"cid": {}}, small_rubric())
    with pytest.raises(RescoreError, match=r"no stored outcome for part1.basic_block.shapes.*which the rubric scores"):
        rescore_class(small, RUBRIC, log=lambda line: None)


def test_cli_rescores_a_class_of_30_and_rewrites_the_gradebook_and_exports(tmp_path, capsys):
    out = tmp_path / "out"
    graded(out, {f"s{i:02d}": {"part2.se.gate": i / 30} for i in range(30)})
    folder = tmp_path / "class"
    folder.mkdir()
    assert main(["batch", str(folder), "--out", str(out), "--rescore"]) == 0
    assert "rescored 30 submission(s)" in capsys.readouterr().out
    gradebook = list(csv.reader((out / "gradebook.csv").read_text().splitlines()))
    assert len(gradebook) == 31 and gradebook[1][:3] == ["s00", "59", "60"]
    assert (out / "moodle.csv").is_file() and (out / "canvas.csv").is_file()
    assert main(["batch", str(folder), "--out", str(out), "--rescore", "--shard", "1/2"]) == 2
    assert "leave out --shard" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_grading_rescored_with_doubled_points_doubles_its_scores(tmp_path, monkeypatch):
    """The reference graded on two SE checks, then rescored with each check worth twice as much."""
    from test_batch import _InlineExecutor

    monkeypatch.setattr("autograder.batch.ProcessPoolExecutor", _InlineExecutor)
    folder, out = tmp_path / "class", tmp_path / "out"
    shutil.copytree(paths.SOLUTIONS, folder / "alice")
    (folder / "bob").mkdir()
    (folder / "bob" / "attention.py").write_text((paths.SOLUTIONS / "attention.py").read_text().replace(
        "torch.sigmoid(", "torch.tanh("))  # the SE gate leaves (0, 1)
    assert sorted(grade_class(folder, out, small_rubric(), "cpu", log=lambda line: None)) == ["alice", "bob"]
    graded_once = {name: load(out, name) for name in ("alice", "bob")}
    assert rescore_class(out, small_rubric(2.0), log=lambda line: None) == ["alice", "bob"]
    for name, before in graded_once.items():
        after = load(out, name)
        assert after["score"] == 2 * before["score"] and after["max_score"] == 2 * before["max_score"] == 4
        for old, new in zip(before["tests"], after["tests"]):
            assert (new["name"], new["score"], new["max_score"]) == (old["name"], 2 * old["score"],
                                                                      2 * old["max_score"])
    assert graded_once["alice"]["score"] == 2 and load(out, "alice")["score"] == 4
