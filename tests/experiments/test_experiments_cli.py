"""``python -m experiments``: the default output folder, resuming, and refusals with a reason."""
from __future__ import annotations

import re

import pytest
import torch

from experiments.__main__ import EXPERIMENTS, main


def test_an_experiment_writes_to_its_default_folder_and_resumes_there(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["profiling", "--smoke"]) == 0
    folder = tmp_path / "out" / "experiments" / "solutions" / "profiling-digits-smoke"
    assert (folder / "profiling.csv").is_file() and list(folder.glob("*.png"))
    first = capsys.readouterr().out
    assert f"figures and tables in {folder.relative_to(tmp_path)}" in first
    assert main(["profiling", "--smoke"]) == 0
    assert "taken from earlier runs" in capsys.readouterr().out


def test_bad_requests_are_refused_with_a_message(tmp_path, capsys):
    assert main(["depth", "--smoke", "--lab", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "expected 'solutions'" in capsys.readouterr().err
    assert main(["depth", "--data", "cifar10", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--download" in capsys.readouterr().err
    assert main(["profiling", "--smoke", "--lab", "skeletons", "--out", str(tmp_path / "s")]) == 2
    assert re.search(r"not written yet in skeletons: \w+\.py, line \d+", capsys.readouterr().err)
    if not torch.cuda.is_available():
        assert main(["depth", "--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["no-such-experiment"])
    assert set(EXPERIMENTS) == {"depth", "gradient-flow", "attention", "vit", "regimes", "profiling", "selection"}
