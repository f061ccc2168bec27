"""The training loop on scikit-learn's digits: it learns, logs every epoch, is seeded, stops early."""
from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from experiments.data import digits
from experiments.tracking import make_tracker
from experiments.train import TrainConfig, evaluate, resolve_precision, train


def small_cnn() -> nn.Module:
    """(B, 1, 16, 16) -> (B, 10)."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


@pytest.fixture(scope="module")
def dataset():
    return digits()


def test_a_small_cnn_learns_digits_and_every_epoch_is_logged(dataset, tmp_path):
    torch.manual_seed(0)
    config = TrainConfig(epochs=4, batch_size=32, lr=1e-2, target_accuracy=0.5)
    result = train(small_cnn(), dataset, config, "cpu", tmp_path / "log", "cnn")
    assert result.epochs_run == 4 and len(result.history) == 4 and not result.stopped_early
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.final_top1 > 0.8 and result.final_top5 >= result.final_top1 and result.best_top1 >= result.final_top1
    assert result.time_to_target is not None and 0 < result.time_to_target <= result.seconds
    assert all(r.images_per_second > 0 and r.peak_memory_mb > 0 for r in result.history)
    rows = list(csv.DictReader(open(tmp_path / "log" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert len((tmp_path / "log" / "history.jsonl").read_text().splitlines()) == 4
    summary = json.loads((tmp_path / "log" / "summary.json").read_text())
    assert summary["final_top1"] == result.final_top1 and summary["precision"] == "fp32"


def test_the_same_seed_gives_the_same_run(dataset):
    config = TrainConfig(epochs=1, batch_size=64, max_steps_per_epoch=5, seed=3)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # the model's own initialisation
        runs.append(train(small_cnn(), dataset, config, "cpu"))
    assert runs[0].history[0].train_loss == runs[1].history[0].train_loss
    assert runs[0].final_top1 == runs[1].final_top1


def test_epochs_are_cut_to_max_steps_and_training_stops_without_progress(dataset):
    config = TrainConfig(epochs=6, batch_size=16, max_steps_per_epoch=3, lr=0.0, patience=1, schedule="constant")
    result = train(small_cnn(), dataset, config, "cpu")  # lr 0: the accuracy cannot improve
    assert result.stopped_early and result.epochs_run == 2
    first = result.history[0]
    assert abs(first.images_per_second * first.seconds - 48) < 1e-6


def test_evaluation_and_settings(dataset):
    loss, top1, top5 = evaluate(small_cnn(), dataset.test, torch.device("cpu"), batch_size=100)
    assert loss > 0 and 0 <= top1 <= top5 <= 1
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown optimizer"):
        train(small_cnn(), dataset, TrainConfig(epochs=1, optimizer="lion", max_steps_per_epoch=1), "cpu")


def test_weights_and_biases_when_asked_and_missing_leaves_files_only(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # as if not installed
    tracker = make_tracker(tmp_path, "run", {}, "offline")
    assert len(tracker.trackers) == 1 and "not installed" in tracker.notes[0]
    with pytest.raises(ValueError, match="unknown W&B mode"):
        make_tracker(tmp_path, "run", {}, "sometimes")


def test_weights_and_biases_gets_every_epoch_and_the_summary(dataset, tmp_path, monkeypatch):
    """Through a stand-in for the wandb package, recording the calls a run makes."""
    import types

    calls = []

    class Run:
        summary = {}

        def log(self, row):
            calls.append(("log", row["epoch"]))

        def finish(self):
            calls.append(("finish", dict(self.summary)))

    def init(**kwargs):
        calls.append(("init", kwargs["mode"], kwargs["name"], kwargs["config"]["epochs"]))
        return Run()

    monkeypatch.setitem(__import__("sys").modules, "wandb", types.SimpleNamespace(init=init))
    config = TrainConfig(epochs=2, batch_size=64, max_steps_per_epoch=2)
    result = train(small_cnn(), dataset, config, "cpu", tmp_path / "log", "cnn", wandb_mode="offline")
    assert calls[:3] == [("init", "offline", "cnn", 2), ("log", 1), ("log", 2)]
    assert calls[3][0] == "finish" and calls[3][1]["final_top1"] == result.final_top1
    assert (tmp_path / "log" / "history.csv").is_file()  # the files are written as well
