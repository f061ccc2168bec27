"""Parts 2 and 3: the attention and ViT experiments at smoke size, and the map helpers they are drawn with."""
from __future__ import annotations

import csv
import json

import pytest
import torch
from figure_checks import assert_drawn

from experiments import attention_study, maps, vit_study
from experiments.context import Context
from experiments.lab import load_lab
from experiments.outputs import Output

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

RESNET18_BLOCK_CHANNELS = [64, 64, 128, 128, 256, 256, 512, 512]


SHORTER = {
    (vit_study, "SMOKE_TRAINING"): {"epochs": 2, "max_steps_per_epoch": 3},
    (attention_study, "SMOKE_TRAINING"): {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 3},
    (attention_study, "LATENCY_RUNS"): {True: 5, False: 100},
}
"""Less training than the smoke size: these tests check what each experiment writes (tables, figures,
resumed runs), which a few steps show as well as a few hundred. The ViT study runs at its real smoke
size, and must learn, in tests/experiments/test_notebook_runner.py; every experiment does in the
notebook's end-to-end test (tests/notebooks/test_nbgrader.py)."""


def smoke_run(module, folder) -> tuple[Output, dict]:
    out = Output(folder)
    with pytest.MonkeyPatch.context() as patch:
        for (owner, name), value in SHORTER.items():
            patch.setattr(owner, name, value)
        return out, module.run(Context(load_lab("solutions"), out, torch.device("cpu"), smoke=True))


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory):
    return smoke_run(attention_study, tmp_path_factory.mktemp("attention"))


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    return smoke_run(vit_study, tmp_path_factory.mktemp("vit"))


def read_table(out: Output, name: str) -> list[dict]:
    with open(out.path(f"{name}.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{k: str(v) for k, v in row.items()} for row in json.loads(out.path(f"{name}.json").read_text())]
    return rows


def stored_run(out: Output, key: str) -> dict:
    return json.loads(out.path("runs").joinpath(f"{key}.json").read_text())


# Part 2


def test_attention_figures_are_drawn(attention_run):
    out, _ = attention_run
    for name in ("attention_cost", "se_gates", "cbam_spatial", "gradcam"):
        assert_drawn(out.path(f"{name}.png"))


def test_attention_table_compares_the_three_networks(attention_run):
    out, summary = attention_run
    rows = {row["network"]: row for row in read_table(out, "attention")}
    assert list(rows) == list(attention_study.NETWORKS)
    assert summary["networks"] == json.loads(out.path("attention.json").read_text())
    value = {name: {k: float(v) for k, v in row.items() if k != "network"} for name, row in rows.items()}
    for row in value.values():
        assert 0 <= row["top1"] <= row["best_top1"] <= 1
        assert row["latency_ms"] > 0 and row["latency_p95_ms"] > 0 and row["train_seconds"] > 0
        assert row["train_step_memory_mb"] > 0
    plain, se, cbam = (value[name] for name in attention_study.NETWORKS)
    assert 11_000_000 < plain["parameters"] < se["parameters"] and plain["parameters"] < cbam["parameters"]
    assert 0 < plain["flops"] < se["flops"] and plain["flops"] < cbam["flops"]


def test_se_gates_are_per_block_and_between_0_and_1(attention_run):
    out, summary = attention_run
    blocks = read_table(out, "se_gates")
    assert [int(b["channels"]) for b in blocks] == RESNET18_BLOCK_CHANNELS
    for block in blocks:
        low, mean, high = float(block["min"]), float(block["mean"]), float(block["max"])
        assert 0 < low <= mean <= high < 1
        assert float(block["std"]) >= 0 and float(block["class_spread"]) >= 0
    class_gates = stored_run(out, "se-resnet18")["se_class_gates"]
    first, last = torch.tensor(class_gates["first"]), torch.tensor(class_gates["last"])
    assert class_gates["classes"] == list(range(10))
    assert first.shape == (10, 64) and last.shape == (10, 512)
    assert bool(((first > 0) & (first < 1)).all() and ((last > 0) & (last < 1)).all())


def test_cbam_maps_cover_each_resolution_and_gradcam_maps_the_images(attention_run):
    out, _ = attention_run
    stages = stored_run(out, "cbam-resnet18")["cbam_maps"]
    assert [stage["side"] for stage in stages] == [16, 8, 4, 2]
    for stage in stages:
        spatial = torch.tensor(stage["maps"])
        assert spatial.shape == (attention_study.SHOWN_CLASSES, stage["side"], stage["side"])
        assert bool((spatial >= 0).all()) and spatial.var() > 0
    for network in attention_study.NETWORKS:
        cam = torch.tensor(stored_run(out, network)["gradcam"])
        assert cam.shape == (attention_study.SHOWN_CLASSES, 16, 16)
        assert bool(((cam >= 0) & (cam <= 1)).all()) and cam.amax() > 0


def test_attention_rerun_resumes_every_run(attention_run):
    out, summary = attention_run
    again, rerun = smoke_run(attention_study, out.folder)
    assert sorted(again.resumed) == sorted(attention_study.NETWORKS)
    assert rerun == summary


def test_channel_gates_recover_a_known_gate_and_an_se_modules_gate():
    torch.manual_seed(0)
    inputs = torch.randn(3, 5, 4, 4)
    gate = torch.rand(3, 5)
    assert torch.allclose(attention_study.channel_gates(inputs, inputs * gate[:, :, None, None]), gate, atol=1e-6)
    inputs[0, 1] = 0
    assert torch.isnan(attention_study.channel_gates(inputs, inputs)[0, 1])
    se = load_lab("solutions").attention.SEModule(8, reduction=2)
    x = torch.randn(2, 8, 3, 3)
    expected = torch.sigmoid(se.fc2(se.relu(se.fc1(x.mean(dim=(2, 3))))))
    assert torch.allclose(attention_study.channel_gates(x, se(x)), expected, atol=1e-6)


def test_spatial_map_is_cbams_spatial_attention_up_to_scale():
    torch.manual_seed(0)
    inputs = torch.randn(2, 6, 5, 5)
    channel, spatial = torch.rand(2, 6), torch.rand(2, 5, 5)
    outputs = inputs * channel[:, :, None, None] * spatial[:, None]
    assert torch.allclose(attention_study.spatial_map(inputs, outputs), channel.mean(1)[:, None, None] * spatial,
                          atol=1e-5)
    cbam = load_lab("solutions").attention.CBAM(6, reduction=2).eval()
    with torch.no_grad():
        gated = cbam.channel_attention(inputs)
        pooled = torch.cat([gated.mean(dim=1, keepdim=True), gated.amax(dim=1, keepdim=True)], dim=1)
        expected = torch.sigmoid(cbam.spatial_attention.conv(pooled))[:, 0]  # (B, h, w)
        found = attention_study.spatial_map(inputs, cbam(inputs))
    ratio = found / expected
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), rtol=1e-4)


def test_shown_images_are_the_first_of_each_class():
    labels = torch.tensor([2, 0, 0, 1, 2, 1])
    assert attention_study.shown_indices(labels, 2).tolist() == [1, 3]
    assert attention_study.shown_indices(labels, 8).tolist() == [1, 3, 0]


# Part 3


def test_vit_figures_are_drawn(vit_run):
    out, _ = vit_run
    for name in ("vit_hyperparameters", "vit_attention"):
        assert_drawn(out.path(f"{name}.png"))


def test_vit_table_has_one_row_per_configuration(vit_run):
    out, summary = vit_run
    rows = read_table(out, "vit")
    configs = vit_study.configurations(vit_study.SMOKE)
    assert len(rows) == len(configs) == 7
    assert summary["configurations"] == json.loads(out.path("vit.json").read_text())
    value = {}
    for row, config in zip(rows, configs):
        numbers = {k: float(v) for k, v in row.items() if k != "config"}
        assert {name: int(numbers[name]) for name in config} == config
        assert numbers["tokens"] == (16 // config["patch_size"]) ** 2 + 1
        assert 0 <= numbers["top1"] <= numbers["best_top1"] <= 1
        assert numbers["parameters"] > 0 and numbers["flops"] > 0 and numbers["train_seconds"] > 0
        value[tuple(config.values())] = numbers
    assert value[(4, 16, 2)]["parameters"] < value[(4, 32, 2)]["parameters"] < value[(4, 64, 2)]["parameters"]
    assert value[(4, 32, 1)]["parameters"] == value[(4, 32, 2)]["parameters"] == value[(4, 32, 4)]["parameters"]
    assert value[(8, 32, 2)]["flops"] < value[(4, 32, 2)]["flops"] < value[(2, 32, 2)]["flops"]


def test_vit_attention_maps_are_distributions_over_the_patch_grid(vit_run):
    out, _ = vit_run
    stored = stored_run(out, vit_study.key(vit_study.SMOKE["base"], vit_study.SMOKE["depth"]))
    for name in ("cls_attention", "rollout"):
        grid = torch.tensor(stored[name])
        assert grid.shape == (attention_study.SHOWN_CLASSES, 4, 4)
        assert bool((grid >= 0).all())
        assert torch.allclose(grid.sum(dim=(1, 2)), torch.ones(len(grid)), atol=1e-3)


def test_vit_rerun_resumes_every_run(vit_run):
    out, summary = vit_run
    again, rerun = smoke_run(vit_study, out.folder)
    assert sorted(again.resumed) == sorted(vit_study.key(c, 2) for c in vit_study.configurations(vit_study.SMOKE))
    assert rerun == summary


def test_configurations_vary_one_hyperparameter_at_a_time():
    grid = {"base": {"patch_size": 4, "embed_dim": 8, "num_heads": 2},
            "values": {"patch_size": (4, 8), "embed_dim": (8,), "num_heads": (1, 2)}}
    assert vit_study.configurations(grid) == [{"patch_size": 4, "embed_dim": 8, "num_heads": 2},
                                              {"patch_size": 8, "embed_dim": 8, "num_heads": 2},
                                              {"patch_size": 4, "embed_dim": 8, "num_heads": 1}]


# maps.py


def test_rollout_of_two_blocks_by_hand():
    first = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # (A + I) / 2 = [[1, 0], [0.5, 0.5]]
    second = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # (A + I) / 2 = [[0.5, 0.5], [0, 1]]
    rollout = maps.attention_rollout([first[None, None], second[None, None]])
    # The later block multiplies from the left: second' @ first'.
    assert torch.allclose(rollout[0], torch.tensor([[0.75, 0.25], [0.5, 0.5]]))


def test_rollout_averages_the_heads_first():
    heads = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])  # mean [[0.5, 0.5], [0, 1]]
    assert torch.allclose(maps.attention_rollout([heads[None]])[0], torch.tensor([[0.75, 0.25], [0.0, 1.0]]))


def test_rollout_rows_sum_to_one_and_identity_stays_identity():
    torch.manual_seed(0)
    attentions = [torch.randn(2, 3, 5, 5).softmax(dim=-1) for _ in range(4)]
    rollout = maps.attention_rollout(attentions)
    assert rollout.shape == (2, 5, 5)
    assert torch.allclose(rollout.sum(dim=-1), torch.ones(2, 5), atol=1e-6) and bool((rollout >= 0).all())
    identity = torch.eye(5).expand(2, 3, 5, 5)
    assert torch.allclose(maps.attention_rollout([identity, identity]), torch.eye(5).expand(2, 5, 5))
    with pytest.raises(ValueError):
        maps.attention_rollout([])


def test_cls_attention_by_hand_and_on_the_patch_grid():
    attention = torch.zeros(1, 2, 5, 5)
    attention[0, 0, 0] = torch.tensor([0.2, 0.6, 0.0, 0.2, 0.0])
    attention[0, 1, 0] = torch.tensor([0.2, 0.2, 0.4, 0.0, 0.2])  # head mean: [0.2, 0.4, 0.2, 0.1, 0.1]
    weights = maps.cls_attention(attention)
    assert torch.allclose(weights, torch.tensor([[0.5, 0.25, 0.125, 0.125]]))
    assert torch.allclose(maps.patch_grid(weights), torch.tensor([[[0.5, 0.25], [0.125, 0.125]]]))
    torch.manual_seed(0)
    random = maps.cls_attention(torch.randn(3, 4, 17, 17).softmax(dim=-1))
    assert random.shape == (3, 16) and torch.allclose(random.sum(dim=-1), torch.ones(3), atol=1e-6)
    with pytest.raises(ValueError):
        maps.patch_grid(torch.ones(1, 5))


def test_resize_and_display_image():
    grid = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    blocky = maps.resize(grid, (4, 4), mode="nearest")
    assert blocky.shape == (1, 4, 4) and blocky[0, 0, 1] == 0 and blocky[0, 3, 3] == 3
    assert maps.resize(grid, (4, 4)).shape == (1, 4, 4)
    gray = maps.display_image(torch.randn(1, 6, 6))
    colour = maps.display_image(torch.randn(3, 6, 6))
    assert gray.shape == (6, 6) and colour.shape == (6, 6, 3)
    assert gray.min() == 0 and gray.max() == 1 and colour.min() == 0 and colour.max() == 1
