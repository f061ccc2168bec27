"""Part 1 at smoke size: depth scaling and gradient flow, each run once per module (about a minute on one
CPU thread), then read back from its tables and figures, and run again from its kept runs."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import torch
import torchvision
from figure_checks import assert_drawn
from torch import nn

from experiments import depth, gradient_flow
from experiments.context import Context
from experiments.lab import load_lab
from experiments.outputs import Output

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def lab():
    return load_lab("solutions")


SHORTER = {
    (depth, "SMOKE_RESNET18"): {"epochs": 2, "max_steps_per_epoch": 3, "batch_size": 16, "lr": 1e-3},
    (gradient_flow, "SIZES"): {**gradient_flow.SIZES, "smoke": {**gradient_flow.SIZES["smoke"], "steps": 2}},
}
"""Less training than the smoke size: these tests check what each experiment writes and what does not
depend on training (parameters, costs, gradients at initialisation); what the smoke runs learn is
checked on the notebook's own run of them (tests/notebooks/test_nbgrader.py)."""


def smoke(lab, folder: Path, module) -> dict:
    """``module``'s smoke experiment (with ``SHORTER`` training) into ``folder``: its summary, output and
    wall seconds."""
    out = Output(folder)
    start = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        for (owner, name), value in SHORTER.items():
            patch.setattr(owner, name, value)
        summary = module.run(Context(lab, out, CPU, smoke=True))
    return {"summary": summary, "out": out, "seconds": time.perf_counter() - start}


@pytest.fixture(scope="module")
def depth_run(lab, tmp_path_factory):
    return smoke(lab, tmp_path_factory.mktemp("depth"), depth)


@pytest.fixture(scope="module")
def flow_run(lab, tmp_path_factory):
    return smoke(lab, tmp_path_factory.mktemp("gradient-flow"), gradient_flow)


def read_table(out: Output, name: str) -> list[dict]:
    with open(out.path(f"{name}.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def assert_figures(out: Output, names: list[str]) -> None:
    for name in names:
        assert_drawn(out.path(f"{name}.png"))


def assert_rerun_resumes(lab, run: dict, module, keys: int) -> None:
    """Run again into the same folder: every run comes from disk, quickly, with the same summary."""
    again = smoke(lab, run["out"].folder, module)
    assert len(again["out"].resumed) == keys == len(set(again["out"].resumed))
    assert again["summary"] == run["summary"]
    assert again["seconds"] < run["seconds"] / 3


def torchvision_parameters(name: str, in_channels: int, num_classes: int) -> int:
    """Parameters of torchvision's ResNet with the CIFAR stem (3x3 stride-1 convolution, no max-pool)."""
    model = getattr(torchvision.models, name)(num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return sum(p.numel() for p in model.parameters())


def test_depth_table_has_every_depth_with_sane_measurements(depth_run):
    rows = read_table(depth_run["out"], "depth")
    assert [int(r["depth"]) for r in rows] == list(depth.DEPTHS)
    assert {"parameters", "train_seconds", "seconds_per_epoch", "ms_per_image", "peak_memory_mb", "final_top1",
            "best_top1", "epochs_to_target", "time_to_target", "steps"} <= set(rows[0])
    for r in rows:
        expected = torchvision_parameters(f"resnet{r['depth']}", in_channels=1, num_classes=10)
        assert int(r["parameters"]) == expected, r["depth"]
        assert float(r["train_seconds"]) > 0 and float(r["seconds_per_epoch"]) > 0 and float(r["ms_per_image"]) > 0
        assert float(r["peak_memory_mb"]) > 0
        assert 0 <= float(r["final_top1"]) <= float(r["best_top1"]) <= 1
    first, last = rows[0], rows[-1]
    assert float(last["ms_per_image"]) > float(first["ms_per_image"])  # ResNet-101 costs ~4x ResNet-18 per image


def test_depth_figures_are_drawn(depth_run):
    assert_figures(depth_run["out"], ["depth_accuracy", "depth_learning_curves", "depth_cost"])


def test_depth_rerun_takes_every_run_from_disk(lab, depth_run):
    assert_rerun_resumes(lab, depth_run, depth, keys=len(depth.DEPTHS))


def test_plain_and_residual_networks_take_odd_sizes_and_strides(lab):
    x = torch.randn(2, 3, 15, 15)  # stride 2 twice: 15 -> 8 -> 4, the zero shortcut must round up too
    for variant, (residual, preactivation) in gradient_flow.VARIANTS.items():
        block = lab.resnet.PreActBasicBlock if preactivation else lab.resnet.BasicBlock
        network = gradient_flow.build_network(block, preactivation, residual, 2, in_channels=3, num_classes=5)
        assert network(x).shape == (2, 5), variant
        convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 13 + (2 if residual else 0), variant  # stem + 6 blocks x 2, + 2 projections


def test_gradient_flow_tables(flow_run):
    settings = gradient_flow.SIZES["smoke"]
    layers = 6 * settings["blocks_per_stage"] + 1  # convolutions on the main path: the stem and two per block
    ratios = {r["variant"]: r for r in read_table(flow_run["out"], "gradient_flow_ratio")}
    assert set(ratios) == set(gradient_flow.VARIANTS)
    norms = read_table(flow_run["out"], "gradient_flow")
    assert len(norms) == 4 * layers and {"variant", "layer", "init", "trained"} == set(norms[0])
    for r in norms:
        assert 0 < float(r["init"]) < float("inf") and 0 < float(r["trained"]) < float("inf")
    for variant, r in ratios.items():
        assert int(r["conv_layers"]) == layers and 0 <= float(r["test_top1"]) <= 1
        first, last = (float(n["init"]) for n in norms if n["variant"] == variant and int(n["layer"]) in (1, layers))
        assert float(r["first_over_last_init"]) == pytest.approx(first / last)


def test_without_shortcuts_post_and_pre_activation_are_the_same_network(flow_run):
    """The zero shortcut really removes the shortcut: both block types then compose to one conv-BN-ReLU chain."""
    summary = flow_run["summary"]
    for moment in ("first_over_last_init", "first_over_last_trained"):
        assert summary["plain-post"][moment] == pytest.approx(summary["plain-pre"][moment], rel=1e-4)
    assert summary["residual-post"]["first_over_last_init"] != pytest.approx(
        summary["residual-pre"]["first_over_last_init"], rel=1e-2)


def test_gradient_flow_figure_is_drawn(flow_run):
    assert_figures(flow_run["out"], ["gradient_flow"])


def test_gradient_flow_rerun_takes_every_run_from_disk(lab, flow_run):
    assert_rerun_resumes(lab, flow_run, gradient_flow, keys=len(gradient_flow.VARIANTS))
