"""Part 4 at smoke size: data regimes, profiling, the selection tree, and the two benchmarks' helpers.

The smoke experiments run once per module (about a minute on one CPU thread); the decision tree is
also fed hand-made tables, to check that its leaves follow from the numbers.
"""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from figure_checks import assert_drawn

from experiments import flops as analytic
from experiments import profiling, regimes, selection
from experiments.context import Context
from experiments.lab import load_lab
from experiments.outputs import Output

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import flops_check  # noqa: E402
import training_throughput  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def lab():
    return load_lab("solutions")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("part4")


SHORTER = {(regimes, "SMOKE_OVERRIDES"): {**regimes.SMOKE_OVERRIDES, "max_steps_per_epoch": 2}}
"""Less training than the smoke size: these tests check what the experiments write; the notebook's
end-to-end test (tests/notebooks/test_nbgrader.py) runs them at their real smoke size."""


def smoke(lab, folder: Path, name: str, module) -> tuple[dict, Output]:
    """Run ``module``'s smoke experiment (with ``SHORTER`` training) into ``folder/name``: its summary
    and output folder."""
    out = Output(folder / name)
    with pytest.MonkeyPatch.context() as patch:
        for (owner, attribute), value in SHORTER.items():
            patch.setattr(owner, attribute, value)
        return module.run(Context(lab, out, CPU, smoke=True)), out


@pytest.fixture(scope="module")
def regimes_run(lab, folder):
    return smoke(lab, folder, "regimes", regimes)


@pytest.fixture(scope="module")
def profiling_run(lab, folder):
    return smoke(lab, folder, "profiling", profiling)


@pytest.fixture(scope="module")
def selection_run(lab, folder, regimes_run, profiling_run):
    return smoke(lab, folder, "selection", selection)  # reads the two sibling folders' tables


def table(out: Output, name: str) -> list[dict]:
    """The JSON rows, after checking the CSV has the same rows and columns."""
    rows = json.loads(out.path(f"{name}.json").read_text())
    with open(out.path(f"{name}.csv"), newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == len(rows) and list(written[0]) == list(rows[0])
    return rows


# ---------------------------------------------------------------- figures


@pytest.mark.parametrize("name", ["regimes/learning_curves", "regimes/accuracy_vs_data",
                                  "profiling/latency_throughput", "profiling/flops", "selection/decision_tree"])
def test_figures_are_readable_and_not_blank(name, folder, regimes_run, profiling_run, selection_run):
    assert_drawn(folder / f"{name}.png", min_height=200, min_width=300)


# ---------------------------------------------------------------- data regimes


def test_regimes_table_has_every_model_and_regime_with_sane_values(regimes_run):
    summary, out = regimes_run
    rows = table(out, "regimes")
    expected = {(model, regime) for model in ("resnet18", "vit") for regime in ("1k", "10k", "full")}
    assert {(r["model"], r["regime"]) for r in rows} == expected
    assert {r["family"] for r in rows} == {"CNN", "ViT"}
    sizes = {r["regime"]: r["train_images"] for r in rows}
    assert sizes == {"1k": 1000, "10k": 1437, "full": 1437}  # digits has 1437 training images
    for row in rows:
        assert 0 <= row["final_top1"] <= row["final_top5"] <= 1 and row["final_top1"] <= row["best_top1"] <= 1
        assert row["epochs"] == 2 and row["train_seconds"] > 0 and row["images_per_second"] > 0
        assert row["time_to_target_s"] is None or 0 < row["time_to_target_s"] <= row["train_seconds"]
    for regime, best in summary["best_per_regime"].items():
        assert best["final_top1"] == max(r["final_top1"] for r in rows if r["regime"] == regime)


def test_each_run_keeps_its_learning_curve(regimes_run):
    _, out = regimes_run
    for path in sorted(out.path("runs").glob("*.json")):
        run = json.loads(path.read_text())
        assert [r["epoch"] for r in run["history"]] == [1, 2]
        elapsed = [r["elapsed"] for r in run["history"]]
        assert 0 < elapsed[0] < elapsed[1] == pytest.approx(run["summary"]["seconds"])
        assert run["history"][-1]["test_top1"] == run["summary"]["final_top1"]
        assert (out.path("logs") / f"{run['model']}-{run['regime']}" / "history.csv").is_file()


# ---------------------------------------------------------------- profiling


def test_profiling_table_is_consistent(profiling_run):
    summary, out = profiling_run
    rows = table(out, "profiling")
    assert [(r["model"], r["batch_size"]) for r in rows] == [(m, b) for m in ("resnet18", "vit") for b in (1, 8, 32)]
    for row in rows:
        assert 0 < row["median_ms"] <= row["p95_ms"]
        assert row["throughput_ips"] == pytest.approx(row["batch_size"] * 1000 / row["median_ms"], rel=1e-9)
        assert row["achieved_gflops"] == pytest.approx(
            row["flops_analytic"] * row["batch_size"] / (row["median_ms"] / 1000) / 1e9, rel=1e-9)
        assert row["peak_memory_mb"] > 0 and row["memory_measured"] == "training step (lab profiler)"
        assert row["energy_per_image_mj"] is None and "no CUDA device" in row["energy_note"]
        assert row["image_shape"] == "1x16x16" and row["device"].startswith("CPU")
    for model in ("resnet18", "vit"):
        memory = [r["peak_memory_mb"] for r in rows if r["model"] == model]
        assert memory[-1] > memory[0]  # activations grow with the batch
    assert summary["memory_measured"] == rows[0]["memory_measured"]


def test_lab_profiler_flops_equal_the_analytic_count_and_flop_counter_agrees(profiling_run):
    _, out = profiling_run
    for row in table(out, "profiling"):
        assert row["flops_lab"] == row["flops_analytic"]  # exactly: the same convention
        # On the CPU FlopCounterMode misses the fused attention kernel, and only that.
        assert row["flops_torch"] == row["flops_analytic"] - row["attention_flops"]
        assert (row["attention_flops"] > 0) == (row["family"] == "ViT")


def test_analytic_counts_reproduce_the_model_table():
    """The formulas alone give the README's model table (reference profiler, torchvision-checked)."""
    assert round(analytic.resnet_flops(*analytic.RESNET_STAGES[50], 224) / 1e9, 3) == 8.178
    assert round(analytic.resnet_flops(*analytic.RESNET_STAGES[18], 224) / 1e9, 3) == 3.628
    assert round(analytic.resnet_flops(*analytic.RESNET_STAGES[101], 224) / 1e9, 3) == 15.603
    assert round(analytic.vit_flops() / 1e9, 3) == 35.128
    assert analytic.vit_attention_flops(197, 768, 12) == 1_430_654_976
    cifar = (3, 32, 32)
    assert round(profiling.analytic_flops(regimes.resnet(18, cifar, 10), cifar)["total"] / 1e9, 3) == 1.111
    assert round(profiling.analytic_flops(regimes.small_vit(cifar, 10), cifar)["total"] / 1e9, 3) == 0.366


def test_flops_check_on_the_cifar_models(lab):
    for _, arch, shape in flops_check.models(quick=True):
        row = flops_check.check(lab, arch, shape)
        assert row["lab"] == row["analytic"] and row["torch"] == row["analytic"] - row["attention"]


# ---------------------------------------------------------------- resuming


def test_reruns_take_every_run_from_disk(lab, folder, regimes_run, profiling_run):
    for name, module, (_, first) in (("regimes", regimes, regimes_run), ("profiling", profiling, profiling_run)):
        before = first.path(f"{name}.json").read_text()
        _, again = smoke(lab, folder, name, module)
        assert sorted(again.resumed) == sorted(p.stem for p in again.path("runs").glob("*.json"))
        assert len(again.resumed) == (6 if name == "regimes" else 8)
        assert again.path(f"{name}.json").read_text() == before


# ---------------------------------------------------------------- selection


def test_selection_reads_the_sibling_tables_and_its_leaves_quote_them(selection_run, regimes_run, profiling_run):
    summary, out = selection_run
    siblings = {name: str(out.folder.parent / name / f"{name}.json") for name in ("regimes", "profiling")}
    assert summary["tables"] == siblings
    assert not out.path("regimes").exists()  # nothing was rerun
    rows = table(out, "selection")
    assert len(rows) == 3 * 2 * 2
    accuracy = {(r["model"], r["regime"]): r["final_top1"] for r in table(regimes_run[1], "regimes")}
    batch1 = {r["model"]: r["median_ms"] for r in table(profiling_run[1], "profiling") if r["batch_size"] == 1}
    for row in rows:
        assert row["top1"] == accuracy[(row["recommended"], row["regime"])]
        assert row["latency_ms"] == batch1[row["recommended"]]
        if row["budget"] == "ample" and row["need"] == "accuracy":
            assert row["top1"] == max(v for (m, g), v in accuracy.items() if g == row["regime"])
    tree = json.loads(out.path("decision_tree.json").read_text())
    assert [leaf["model"] for leaf in selection.leaves(tree)] == [r["recommended"] for r in rows]


def hand_made(vit_wins_at_full: bool) -> tuple[list[dict], list[dict]]:
    """Tables where the CNN wins with little data, and the ViT wins with all of it (or not).

    When the ViT wins at full data it is also the costlier model at batch 1; otherwise the cheaper.
    """
    top1 = {"1k": (0.60, 0.40), "10k": (0.80, 0.74), "full": (0.915, 0.93) if vit_wins_at_full else (0.93, 0.85)}
    regime_rows = []
    for regime, images in (("1k", 1000), ("10k", 10000), ("full", 50000)):
        for (model, family), accuracy in zip((("resnet18", "CNN"), ("vit", "ViT")), top1[regime]):
            regime_rows.append({"dataset": "digits", "size": "smoke", "model": model, "family": family,
                                "regime": regime, "train_images": images, "final_top1": accuracy, "final_top5": 0.99})
    vit_cost = (20.0, 400.0) if vit_wins_at_full else (2.0, 20.0)  # batch-1 ms and MB; the CNN: 5 ms, 100 MB
    profiling_rows = []
    for model, (ms, mb), fastest in (("resnet18", (5.0, 100.0), 2000.0), ("vit", vit_cost, 500.0)):
        for batch in (1, 32, 128):
            profiling_rows.append({"dataset": "digits", "size": "smoke", "model": model, "batch_size": batch,
                                   "median_ms": ms * (1 + batch / 64), "peak_memory_mb": mb * (1 + batch / 32),
                                   "throughput_ips": fastest if batch == 128 else 100.0,
                                   "memory_measured": "training step (lab profiler)"})
    return regime_rows, profiling_rows


def recommendations(lab, folder: Path, vit_wins_at_full: bool) -> dict:
    """Selection fed ``hand_made`` tables through sibling folders: ``regime/budget/need -> model``."""
    regime_rows, profiling_rows = hand_made(vit_wins_at_full)
    Output(folder / "regimes").table("regimes", regime_rows)
    Output(folder / "profiling").table("profiling", profiling_rows)
    summary, out = smoke(lab, folder, "selection", selection)
    assert not out.path("regimes").exists()
    return summary["recommendations"]


def test_the_tree_recommends_the_vit_where_it_wins(lab, tmp_path):
    chosen = recommendations(lab, tmp_path, vit_wins_at_full=True)
    assert chosen["full/ample/accuracy"] == "vit"
    assert chosen["1k/ample/accuracy"] == chosen["10k/ample/accuracy"] == "resnet18"
    # The CNN is within 0.02 of the ViT's top-1 at full data and 4x faster at batch 128.
    assert chosen["full/ample/throughput"] == "resnet18"
    # The ViT is 4x slower and uses 4x the memory at batch 1: over a tight budget everywhere.
    assert all(chosen[f"{regime}/tight/{need}"] == "resnet18" for regime in ("1k", "10k", "full")
               for need in ("accuracy", "throughput"))


def test_the_tree_recommends_the_cnn_where_it_wins(lab, tmp_path):
    chosen = recommendations(lab, tmp_path, vit_wins_at_full=False)
    assert all(chosen[f"{regime}/ample/{need}"] == "resnet18" for regime in ("1k", "10k", "full")
               for need in ("accuracy", "throughput"))
    # Now the ViT is the cheap one: it alone fits a tight budget.
    assert all(chosen[f"{regime}/tight/accuracy"] == "vit" for regime in ("1k", "10k", "full"))


def test_sibling_folders_follow_the_cli_naming():
    root = Path("out/experiments/solutions")
    assert selection.sibling(root / "selection-digits-smoke", "regimes") == root / "regimes-digits-smoke"
    assert selection.sibling(root / "selection-cifar10", "profiling") == root / "profiling-cifar10"
    assert selection.sibling(Path("/tmp/tree"), "regimes") == Path("/tmp/regimes")


def test_a_tight_budget_nothing_fits_keeps_the_nearest():
    models = [{"model": "a", "latency_ms": 1.0, "memory_mb": 10.0}, {"model": "b", "latency_ms": 4.0, "memory_mb": 1.0},
              {"model": "c", "latency_ms": 3.0, "memory_mb": 3.0}]
    assert [m["model"] for m in selection.within_budget(models, "tight", slack=1.5)] == ["c"]  # worst ratio 3
    assert len(selection.within_budget(models, "ample")) == 3


def test_tables_of_another_dataset_are_not_used_and_missing_ones_are_made(lab, tmp_path, monkeypatch):
    regime_rows, profiling_rows = hand_made(vit_wins_at_full=True)
    Output(tmp_path / "regimes").table("regimes", [{**row, "dataset": "cifar10"} for row in regime_rows])
    Output(tmp_path / "profiling").table("profiling", [{**row, "size": "full"} for row in profiling_rows])
    made = []

    def fake_run(context, name):
        made.append(name)
        return regime_rows if name == "regimes" else profiling_rows

    monkeypatch.setattr(selection, "_run_experiment", fake_run)
    summary, out = smoke(lab, tmp_path, "selection", selection)
    assert made == ["regimes", "profiling"]
    assert summary["tables"]["regimes"] == str(out.folder / "regimes" / "regimes.json")
    assert summary["recommendations"]["full/ample/accuracy"] == "vit"


# ---------------------------------------------------------------- training throughput benchmark


def test_throughput_variants_and_a_tiny_run(lab):
    assert list(training_throughput.variants(CPU, "CNN", True)) == ["plain fp32", "torch.compile"]
    gpu = training_throughput.variants(torch.device("cuda"), "CNN", True)
    assert gpu["mixed precision + channels_last"] == {"precision": "auto", "channels_last": True}
    assert len(gpu) == 4 and not training_throughput.variants(torch.device("cuda"), "ViT", False)[
        "mixed precision"]["channels_last"]

    class Args:
        epochs, batch_size, steps = 1, 8, 2

    vit = next(a for a in regimes.architectures(training_throughput.SHAPE, 10) if a.family == "ViT")
    rate = training_throughput.images_per_second(lab, vit, training_throughput.random_data(16, 8),
                                                 {"precision": "fp32", "channels_last": False}, Args, CPU)
    assert math.isfinite(rate) and rate > 0
