"""grade() end to end: whole submissions (copied from solutions/ and patched) against small rubrics,
one run of the real grading.yml, and the `python -m autograder grade` command line."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from autograder import paths
from autograder.__main__ import main
from autograder.checks import CHECKS
from autograder.grade import STYLE_ID, grade
from autograder.rubric import CheckRule, Rubric, Tolerance, TrainingSettings

TOLERANCES = {"float32": Tolerance(1e-4, 1e-3), "float64": Tolerance(1e-9, 1e-7)}

RESNET_CHECKS = ("part1.basic_block.numerics", "part1.bottleneck.skip_path", "part1.preact_bottleneck.gradients")
ATTENTION_CHECKS = ("part2.se.gate", "part2.cbam.numerics")
BOTH = "part2.se_resnet.numerics"  # resnet.py building blocks with attention.py's SEModule




def rubric(*check_ids: str, timeouts: dict[str, float] | None = None) -> Rubric:
    """A rubric of only ``check_ids``, 2 points each, 60 s unless ``timeouts`` says otherwise."""
    timeouts = timeouts or {}
    checks = {check_id: CheckRule(2.0, "visible", timeouts.get(check_id, 60), TOLERANCES) for check_id in check_ids}
    return Rubric(2.0 * len(checks), 2.0 * len(checks), checks, {}, TOLERANCES, (), TrainingSettings())


def submission(folder: Path, *files: str, **patches: tuple[str, str]) -> Path:
    """A copy of solutions/ ``files`` in ``folder``; ``patches``: file -> (old text, new text)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy(paths.SOLUTIONS / f"{name}.py", folder / f"{name}.py")
    for name, (old, new) in patches.items():
        path = folder / f"{name}.py"
        text = path.read_text() if path.exists() else ""
        assert old in text, f"{name}.py does not contain {old!r}"
        path.write_text(text.replace(old, new, 1))
    return folder


def scores(results) -> dict[str, float]:
    return {r.id: r.score for r in results}


def feedback(results) -> dict[str, str]:
    return {r.id: r.output for r in results}


@pytest.mark.slow
def test_solutions_get_full_marks_on_a_mix_of_checks():
    results = grade(paths.SOLUTIONS, rubric(*RESNET_CHECKS, *ATTENTION_CHECKS, BOTH)).results
    assert [r.id for r in results] == [*RESNET_CHECKS, *ATTENTION_CHECKS, BOTH]  # rubric order
    assert all(r.passed and r.max_score == 2.0 for r in results), feedback(results)
    assert not any("See the slides" in r.output for r in results)  # hints only under failing checks


@pytest.mark.slow
def test_skeletons_score_zero_everywhere_saying_what_is_not_implemented():
    """Every registered check runs to the end on the untouched skeletons and scores 0."""
    results = grade(paths.SKELETONS, rubric(*CHECKS)).results
    assert len(results) == len(CHECKS)
    assert {r.id: r.score for r in results if r.score} == {}
    unexplained = {r.id: r.output for r in results if "not implemented yet" not in r.output
                   and not (r.id.endswith(".parameters") and "expected" in r.output)}  # counts: "expected N, got 0"
    assert not unexplained
    assert all("See the slides" in r.output for r in results)


@pytest.mark.slow
def test_a_missing_file_costs_only_the_checks_that_need_it(tmp_path):
    folder = submission(tmp_path / "no_attention", "resnet")
    results = grade(folder, rubric(*RESNET_CHECKS, *ATTENTION_CHECKS, BOTH)).results
    assert scores(results) == {**{c: 2.0 for c in RESNET_CHECKS}, **{c: 0.0 for c in (*ATTENTION_CHECKS, BOTH)}}
    notes = feedback(results)
    assert notes["part2.se.gate"].startswith("SEModule: attention.py not found in the submission")
    assert notes["part2.cbam.numerics"].startswith("CBAM: attention.py not found in the submission")
    assert notes[BOTH].startswith("SE-ResNet-18: attention.py not found in the submission")


@pytest.mark.slow
def test_a_resnet_py_that_exits_at_import_costs_only_the_resnet_checks(tmp_path):
    folder = submission(tmp_path / "exits", "attention", resnet=("", "import os\n\nos._exit(1)\n"))
    results = grade(folder, rubric("part1.basic_block.shapes", *ATTENTION_CHECKS, BOTH)).results
    assert scores(results) == {"part1.basic_block.shapes": 0.0, **{c: 2.0 for c in ATTENTION_CHECKS}, BOTH: 0.0}
    notes = feedback(results)
    for check_id, component in (("part1.basic_block.shapes", "BasicBlock"), (BOTH, "SE-ResNet-18")):
        first = notes[check_id].splitlines()[0]
        assert first.startswith(f"{component}: the worker running your code stopped (exit code 1)"), first
        assert "os._exit()" in first


HANG = ("        identity = x if self.downsample is None else self.downsample(x)\n"
        "        out = self.relu(self.bn1(self.conv1(x)))\n",
        "        while True:\n            pass\n")


def test_a_check_that_hangs_costs_only_that_check(tmp_path):
    folder = submission(tmp_path / "hangs", "resnet", "attention", resnet=HANG)  # BasicBlock.forward never returns
    check_ids = ("part1.basic_block.shapes", "part1.bottleneck.shapes", "part2.se.shapes")
    start = time.monotonic()
    results = grade(folder, rubric(*check_ids, timeouts={"part1.basic_block.shapes": 2})).results
    assert time.monotonic() - start < 20
    assert scores(results) == {"part1.basic_block.shapes": 0.0, "part1.bottleneck.shapes": 2.0, "part2.se.shapes": 2.0}
    hung = results[0]
    assert hung.output.startswith("BasicBlock: no answer within the check's time limit of 2 s"), hung.output
    assert 2 <= hung.seconds < 8


SE_INIT_HANGS = ("        super().__init__()\n        hidden = reduced_channels(channels, reduction)\n",
                 "        super().__init__()\n        while True:\n            pass\n")
SE_CHECKS = ("part2.se.shapes", "part2.se.parameters", "part2.se.gate", "part2.se.gradients")


def test_a_constructor_that_never_returns_costs_its_time_limit_once(tmp_path):
    """SEModule.__init__ loops: the first check that builds one waits its limit, the others fail at once
    with the same reason, and a check that builds no SEModule is unharmed."""
    folder = submission(tmp_path / "se_hangs", "attention", attention=SE_INIT_HANGS)
    limit = 4
    start = time.monotonic()
    results = grade(folder, rubric(*SE_CHECKS, "part2.cbam.shapes", timeouts=dict.fromkeys(SE_CHECKS, limit))).results
    elapsed = time.monotonic() - start
    assert scores(results) == {**dict.fromkeys(SE_CHECKS, 0.0), "part2.cbam.shapes": 2.0}
    assert elapsed < 2 * limit + 6, f"{elapsed:.1f} s: each SE check waited its limit"  # once: 4 s, not 16 s
    first, *later = results[:len(SE_CHECKS)]
    assert "time limit of 4 s" in first.output and "in SEModule.__init__ (attention.py:" in first.output, first.output
    assert first.incident == "timeout"
    for result in later:
        assert result.output.startswith("SEModule: SEModule.__init__ (attention.py:") and "did not return within its " \
            "time limit earlier in this grading" in result.output and "not run again" in result.output, result.output
        assert result.incident == "timeout" and result.seconds < limit / 2


def test_a_forward_that_never_returns_costs_its_time_limit_once_whatever_builds_it(tmp_path):
    folder = submission(tmp_path / "forward_hangs", "resnet", "attention", resnet=HANG)  # BasicBlock.forward loops
    hanging = ("part1.basic_block.shapes", "part1.basic_block.numerics", "part1.resnet.shapes")
    start = time.monotonic()
    results = grade(folder, rubric(*hanging, "part1.bottleneck.shapes", timeouts=dict.fromkeys(hanging, 4))).results
    assert time.monotonic() - start < 4 * 2 + 10
    assert scores(results) == {**dict.fromkeys(hanging, 0.0), "part1.bottleneck.shapes": 2.0}
    assert all("BasicBlock.forward" in r.output for r in results[:3]), [r.output for r in results]


# -- the command line ------------------------------------------------------------------------------

def full_rubric(path: Path, points: float = 1.0) -> Path:
    """A valid rubric file scoring every registered check (the CLI refuses one that leaves any out)."""
    data = {"total": points * len(CHECKS), "code_points": points * len(CHECKS),
            "tolerances": {"float32": {"atol": 1e-4, "rtol": 1e-3}, "float64": {"atol": 1e-9, "rtol": 1e-7}},
            "checks": {check_id: {"points": points, "visibility": "hidden" if i % 2 else "visible"}
                       for i, check_id in enumerate(CHECKS)}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cli_exits_0_when_grading_ran_even_for_0_points_and_writes_gradescope_results(tmp_path, capsys):
    empty = tmp_path / "empty_submission"
    empty.mkdir()  # no files at all: every check scores 0 without starting student code
    results_path = tmp_path / "out" / "results.json"
    code = main(["grade", str(empty), "--rubric", str(full_rubric(tmp_path / "rubric.yml")),
                 "--results", str(results_path), "--device", "cpu"])
    assert code == 0
    assert "Total: 0.00" in capsys.readouterr().out
    data = json.loads(results_path.read_text())
    assert set(data) == {"score", "max_score", "execution_time", "output", "tests"}
    assert data["score"] == 0 and data["max_score"] == len(CHECKS)
    assert isinstance(data["execution_time"], float) and data["execution_time"] >= 0
    assert [test["name"] for test in data["tests"]] == list(CHECKS) + [STYLE_ID]
    assert "resnet.py: missing" in data["tests"][-1]["output"]  # the clean-code report, worth no points
    for i, test in enumerate(data["tests"][:-1]):
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility", "extra_data"}
        assert (test["score"], test["max_score"], test["status"]) == (0, 1, "failed")
        assert test["extra_data"]["incident"] == "missing" and test["extra_data"]["fraction"] == 0
        assert test["visibility"] == ("hidden" if i % 2 else "visible")
        spec = CHECKS[test["name"]]
        assert test["output"].startswith(f"{spec.component}: {spec.module}.py not found in the submission")


def test_cli_writes_passing_results_for_a_passing_submission(tmp_path, monkeypatch):
    """The same file for real checks: statuses, scores and max scores as the rubric gives them."""
    import autograder.__main__ as cli

    small = rubric(*ATTENTION_CHECKS)
    monkeypatch.setattr("autograder.rubric.load_rubric", lambda path, known: small)
    results_path = tmp_path / "results.json"
    assert cli.main(["grade", str(paths.SOLUTIONS), "--results", str(results_path), "--device", "cpu"]) == 0
    data = json.loads(results_path.read_text())
    assert (data["score"], data["max_score"]) == (4.0, 4.0)
    assert [(t["name"], t["score"], t["max_score"], t["status"], t["visibility"]) for t in data["tests"]] == [
        (check_id, 2.0, 2.0, "passed", "visible") for check_id in ATTENTION_CHECKS] + [
        (STYLE_ID, 0, 0, "passed", "visible")]
    seconds = [t["extra_data"]["seconds"] for t in data["tests"]]
    assert all(0 < s <= data["execution_time"] for s in seconds)  # checks in two lanes overlap


@pytest.mark.parametrize("case", ["missing folder", "a file", "broken rubric", "rubric missing a check",
                                  "results is a folder"])
def test_cli_exits_2_with_a_clear_message_when_grading_cannot_run(tmp_path, capsys, case):
    folder = tmp_path / "submission"
    folder.mkdir()
    args = {"path": str(folder), "--rubric": str(full_rubric(tmp_path / "rubric.yml")),
            "--results": str(tmp_path / "results.json")}
    if case == "missing folder":
        args["path"], expected = str(tmp_path / "nope"), f"error: {tmp_path / 'nope'} does not exist"
    elif case == "a file":
        (tmp_path / "resnet.py").write_text("")
        args["path"], expected = str(tmp_path / "resnet.py"), "is a file, not a folder"
    elif case == "broken rubric":
        (tmp_path / "broken.yml").write_text("total: 100\nchecks: {part1.x: {points: 2}\n")
        args["--rubric"] = str(tmp_path / "broken.yml")
        expected = f"error: {tmp_path / 'broken.yml'}:3: YAML syntax error"
    elif case == "rubric missing a check":
        data = yaml.safe_load((tmp_path / "rubric.yml").read_text())
        dropped = next(iter(data["checks"]))
        del data["checks"][dropped]
        data["total"] = data["code_points"] = len(data["checks"])
        (tmp_path / "rubric.yml").write_text(yaml.safe_dump(data))
        expected = f"check(s) without points: {dropped}"
    else:
        (tmp_path / "results.json").mkdir()
        expected = "is a folder"
    assert main(["grade", args.pop("path"), *[item for pair in args.items() for item in pair]]) == 2
    out, err = capsys.readouterr()
    assert expected in err and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "results.json").is_file()


def test_the_process_exit_code_is_2_for_a_missing_folder(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "nope")],
                            cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"error: {tmp_path / 'nope'} does not exist" in result.stderr


FORBIDDEN = ("torch.nn.MultiheadAttention", "timm", "torchvision.models")
MHA_CHECKS = ("part3.mha.numerics", "part3.mha.permutation")

WRAPPED_MHA = '''

class MultiHeadAttention(nn.Module):
    """Numerically right, but a wrapper around torch's own attention: not from scratch."""

    def __init__(self, embed_dim, num_heads, dropout=0.0):
        super().__init__()
        self.inner = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)

    def forward(self, x, return_attention=False):
        out, weights = self.inner(x, x, x, need_weights=True, average_attn_weights=False)
        return (out, weights) if return_attention else out
'''


def test_a_wrapped_library_module_costs_the_checks_that_build_it(tmp_path):
    """nn.MultiheadAttention inside MultiHeadAttention scores 0 with the from-scratch rule, other checks unaffected."""
    folder = submission(tmp_path / "wrapped", "vit")
    (folder / "vit.py").write_text((folder / "vit.py").read_text() + WRAPPED_MHA)
    rules = rubric(*MHA_CHECKS, "part3.patch_embedding.numerics")
    rules = Rubric(rules.total, rules.code_points, rules.checks, {}, TOLERANCES, FORBIDDEN, TrainingSettings())
    results = grade(folder, rules).results
    assert scores(results) == {**{c: 0.0 for c in MHA_CHECKS}, "part3.patch_embedding.numerics": 2.0}
    for check_id in MHA_CHECKS:
        assert "from-scratch" in feedback(results)[check_id]
        assert "MultiheadAttention from torch.nn.MultiheadAttention" in feedback(results)[check_id]


def test_the_from_scratch_rule_comes_from_the_rubric_only(tmp_path):
    """With nothing forbidden the same wrapper is judged on its behaviour alone (it is permutation-equivariant)."""
    folder = submission(tmp_path / "wrapped", "vit")
    (folder / "vit.py").write_text((folder / "vit.py").read_text() + WRAPPED_MHA)
    results = grade(folder, rubric(*MHA_CHECKS)).results
    assert not any("from-scratch" in r.output for r in results)
    assert scores(results)["part3.mha.permutation"] == 2.0


def test_training_smoke_test_fails_blocks_that_cannot_learn(tmp_path):
    """BasicBlocks that output zeros build and run, but the small CNN cannot reach the accuracy threshold:
    it trains to the step limit, never reaching the validation target."""
    folder = submission(tmp_path / "dead", "resnet", resnet=("        out += identity\n        return self.relu(out)",
                                                             "        return torch.zeros_like(out)"))
    rules = rubric("part4.training.resnet", timeouts={"part4.training.resnet": 150})
    rules = Rubric(rules.total, rules.code_points, rules.checks, {}, TOLERANCES, (),
                   TrainingSettings(max_steps=100, validate_every=50))
    (result,) = grade(folder, rules).results
    assert result.score < result.max_score
    assert "stopped at the limit of 100 steps" in result.output
    assert "held-out accuracy" in result.output or "did not fall" in result.output


def notebook(path: Path, *sources: str) -> Path:
    """An nbformat-4 notebook at ``path``: a markdown cell, then a code cell per source."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Lab 3"}]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}
              for source in sources]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.mark.slow
def test_a_notebook_is_graded_from_its_definitions_without_running_its_experiments(tmp_path):
    """The reference modules as cells, among cells that would hang, fail to import, or not parse."""
    lab = notebook(tmp_path / "lab3.ipynb",
                   "%matplotlib inline\n!pip install nothing\nimport torch",
                   "import surely_missing_package\nTRAINED = False",
                   (paths.SOLUTIONS / "attention.py").read_text(),
                   (paths.SOLUTIONS / "resnet.py").read_text(),
                   "model = resnet18()\nwhile True:\n    model(torch.randn(1, 3, 32, 32))\n",
                   "def broken(:\n    pass\n")
    graded = grade(lab, rubric(*RESNET_CHECKS, *ATTENTION_CHECKS, BOTH, timeouts={BOTH: 30}))
    assert scores(graded.results) == {check_id: 2.0 for check_id in (*RESNET_CHECKS, *ATTENTION_CHECKS, BOTH)}
    notes = "\n".join(graded.notes)
    assert "cell 7: syntax error at line 1" in notes
    assert "cell 3, line 1: ModuleNotFoundError: No module named 'surely_missing_package'" in notes


def test_a_notebook_without_a_module_part_loses_only_those_checks_and_says_what_is_missing(tmp_path):
    lab = notebook(tmp_path / "partial.ipynb", (paths.SOLUTIONS / "attention.py").read_text())
    results = grade(lab, rubric("part1.basic_block.shapes", *ATTENTION_CHECKS)).results
    assert scores(results) == {"part1.basic_block.shapes": 0.0, **{check_id: 2.0 for check_id in ATTENTION_CHECKS}}
    assert "the notebook partial.ipynb has no BasicBlock" in feedback(results)["part1.basic_block.shapes"]


def test_a_notebook_that_cannot_be_read_scores_0_everywhere_with_the_reason_and_the_cli_still_writes_results(
        tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    small = rubric(*ATTENTION_CHECKS)
    monkeypatch.setattr("autograder.rubric.load_rubric", lambda path, known: small)
    results_path = tmp_path / "results.json"
    assert main(["grade", str(broken), "--results", str(results_path), "--device", "cpu"]) == 0
    data = json.loads(results_path.read_text())
    assert data["score"] == 0 and len(data["tests"]) == len(ATTENTION_CHECKS) + 1  # and the clean-code report
    for test in data["tests"]:
        assert "the notebook cannot be graded: broken.ipynb is not valid JSON" in test["output"]
    assert "is not valid JSON" in data["output"] and "is not valid JSON" in capsys.readouterr().out


