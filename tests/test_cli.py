"""The command line: the models table (the quick start's main job) and skeleton checking."""
from __future__ import annotations

import subprocess
import sys

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.tools.model_table import MODELS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=paths.ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_models_table_lists_every_model_with_measured_figures():
    """`python -m autograder models` prints one row per model with torchvision's parameter counts."""
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    assert set(rows) == {spec.name for spec in MODELS}
    assert rows["resnet50"][1:] == ["1x3x224x224", "1x1000", "25,557,032", "8.178"]
    assert rows["vit-b/16"][1:] == ["1x3x224x224", "1x1000", "86,567,656", "35.128"]
    assert rows["resnet18-cifar"][2] == "1x10"


def test_skeletons_check_passes_on_a_clean_tree(capsys):
    """`skeletons --check` exits 0 and says so when skeletons/ is current."""
    assert main(["skeletons", "--check"]) == 0
    assert "matches" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    """An unknown command exits with argparse's usage error, not a traceback."""
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_notebook_check_passes_on_a_clean_tree(capsys):
    """`notebook --check` exits 0 when the committed notebook is a fresh build."""
    assert main(["notebook", "--check"]) == 0
    assert "matches" in capsys.readouterr().out


def test_bad_paths_and_rubrics_are_refused_with_a_message(tmp_path, capsys):
    """`check`, `grade` and `release` exit 2 and say why, before any grading."""
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / "bad.yml").write_text("total: 1\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    cases = [(["check", str(tmp_path / "missing")], "does not exist"),
             (["check", str(tmp_path / "notes.txt")], "is a file, not a folder"),
             (["grade", str(tmp_path / "missing")], "does not exist"),
             (["check", str(paths.SKELETONS), "--rubric", str(tmp_path / "bad.yml")], "missing required top-level key"),
             (["release", str(tmp_path / "full")], "is not empty")]
    for args, message in cases:
        assert main(args) == 2, args
        assert message in capsys.readouterr().err, args
