"""Tests for solutions.profiler.ModelProfiler.

FLOPs are checked against analytic counts derived here from the architectures' definitions
(one multiply-add = 2 FLOPs; convolutions, linear layers and attention's two matmuls only).
"""
from __future__ import annotations

import math
import time

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from experiments.flops import conv_flops, resnet_flops, vit_attention_flops, vit_flops
from solutions.profiler import ModelProfiler
from solutions.resnet import ARCHITECTURES, ResNet, resnet50
from solutions.vit import VisionTransformer

FEW_EXAMPLES = settings(max_examples=6, derandomize=True, deadline=None)


# ---------------------------------------------------------------- FLOPs


def test_resnet50_flops():
    """ResNet-50 at 224x224 has exactly the analytic FLOPs, 8.178 GFLOPs."""
    torch.manual_seed(0)
    expected = resnet_flops(4, (3, 4, 6, 3), 224, 3, 1000, "imagenet")
    measured = ModelProfiler(resnet50()).measure_flops((3, 224, 224))
    assert isinstance(measured, int)
    assert measured == expected
    assert round(measured / 1e9, 3) == 8.178


@pytest.fixture(scope="module")
def vit_b16() -> VisionTransformer:
    """ViT-B/16 at its defaults (224x224, 1000 classes)."""
    torch.manual_seed(0)
    return VisionTransformer()


def test_vit_b16_flops(vit_b16):
    """ViT-B/16 at 224x224 has exactly the analytic FLOPs, attention included: 35.13 GFLOPs."""
    torch.manual_seed(0)
    expected = vit_flops(224, 16, 3, 1000, 768, 12, 4.0)
    measured = ModelProfiler(vit_b16).measure_flops((3, 224, 224))
    assert measured == expected
    assert round(measured / 1e9, 2) == 35.13


def test_plain_flop_counter_misses_cpu_attention(vit_b16):
    """FlopCounterMode alone falls short by exactly the attention matmuls on the CPU."""
    torch.manual_seed(0)
    counter = FlopCounterMode(display=False)
    vit_b16.eval()
    with torch.no_grad(), counter:
        vit_b16(torch.zeros(1, 3, 224, 224))
    plain = counter.get_total_flops()
    ours = ModelProfiler(vit_b16).measure_flops((3, 224, 224))
    missing = vit_attention_flops(197, 768, 12)
    assert missing == 1_430_654_976
    assert ours - plain == missing


class SelfAttention(nn.Module):
    """nn.MultiheadAttention (batch first) as self-attention on (B, T, E) tokens, without weights."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "slow-path"])
def test_multihead_attention_flops(fast_path):
    """nn.MultiheadAttention counts qkv and output projections, Q K^T and A V, once, on either path.

    In eval mode without autograd it runs one fused kernel, aten._native_multi_head_attention, of
    which FlopCounterMode alone sees nothing; the slow path runs linear layers and attention.
    """
    torch.manual_seed(0)
    tokens, embed_dim = 5, 8
    model = SelfAttention(embed_dim, num_heads=2)
    expected = 2 * tokens * 4 * embed_dim * embed_dim + 2 * (2 * tokens * tokens * embed_dim)
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(fast_path)
    try:
        assert ModelProfiler(model).measure_flops((tokens, embed_dim)) == expected
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model.eval()(torch.zeros(1, tokens, embed_dim))
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
    # The fast path really was taken (or not): FlopCounterMode alone counts nothing of it.
    assert (counter.get_total_flops() == 0) == fast_path


def test_torchvision_vit_b16_flops():
    """torchvision's vit_b_16 has the analytic FLOPs of ViT-B/16, as ours: 35.13 GFLOPs.

    Its blocks use nn.MultiheadAttention, whose fused fast path FlopCounterMode alone misses
    entirely: it counts only the patch projection, the MLPs and the head, 22.54 GFLOPs.
    """
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16()
    expected = vit_flops(224, 16, 3, 1000, 768, 12, 4.0)
    assert ModelProfiler(model).measure_flops((3, 224, 224)) == expected


def test_timm_vit_b16_flops():
    """timm's vit_base_patch16_224 has the analytic FLOPs of ViT-B/16, as ours: 35.13 GFLOPs.

    Its attention calls F.scaled_dot_product_attention, on the CPU a fused kernel FlopCounterMode
    alone does not count (it would give 33.70 GFLOPs).
    """
    import timm  # a test dependency (pyproject's "test" extra): missing it is an error, not a skip

    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch16_224", pretrained=False)
    expected = vit_flops(224, 16, 3, 1000, 768, 12, 4.0)
    assert ModelProfiler(model).measure_flops((3, 224, 224)) == expected


@FEW_EXAMPLES
@given(
    patch_size=st.sampled_from([2, 4]),
    grid=st.integers(1, 4),
    num_heads=st.integers(1, 3),
    head_dim=st.sampled_from([4, 8]),
    depth=st.integers(1, 3),
    mlp_ratio=st.sampled_from([1.0, 1.5, 4.0]),
    in_channels=st.integers(1, 3),
    num_classes=st.integers(1, 7),
)
def test_tiny_vit_flops(patch_size, grid, num_heads, head_dim, depth, mlp_ratio, in_channels, num_classes):
    """Small ViTs of any shape have exactly the analytic FLOPs."""
    torch.manual_seed(0)
    img_size, embed_dim = patch_size * grid, num_heads * head_dim
    model = VisionTransformer(
        img_size, patch_size, in_channels, num_classes, embed_dim, depth, num_heads, mlp_ratio
    )
    expected = vit_flops(img_size, patch_size, in_channels, num_classes, embed_dim, depth, mlp_ratio)
    assert ModelProfiler(model).measure_flops((in_channels, img_size, img_size)) == expected


@FEW_EXAMPLES
@given(
    depth=st.sampled_from([18, 50]),
    preact=st.booleans(),
    layers=st.lists(st.integers(1, 2), min_size=4, max_size=4),
    stem=st.sampled_from(["cifar", "imagenet"]),
    size=st.sampled_from([8, 15, 32]),
    in_channels=st.integers(1, 3),
    num_classes=st.integers(1, 10),
)
def test_tiny_resnet_flops(depth, preact, layers, stem, size, in_channels, num_classes):
    """Small ResNets (basic / bottleneck, pre-/post-activation, both stems) match the formula."""
    torch.manual_seed(0)
    post_block, pre_block, _ = ARCHITECTURES[depth]
    block = pre_block if preact else post_block
    model = ResNet(block, layers, num_classes=num_classes, in_channels=in_channels, stem=stem)
    expected = resnet_flops(block.expansion, layers, size, in_channels, num_classes, stem)
    assert ModelProfiler(model).measure_flops((in_channels, size, size)) == expected


def small_cnn(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """Two 3x3 convs (32 channels) with BatchNorm, global pooling and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, num_classes),
    )


def test_flops_restore_mode_and_leave_batchnorm_alone():
    """measure_flops runs in eval mode (BN statistics unchanged) and restores train mode."""
    torch.manual_seed(0)
    model = small_cnn().train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    flops = ModelProfiler(model).measure_flops((3, 16, 16))
    assert flops == conv_flops(3, 32, 3, 16, 16) + conv_flops(32, 32, 3, 16, 16) + 2 * 32 * 10
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, stats[key], atol=0, rtol=0)


# ---------------------------------------------------------------- memory


def nbytes(tensors) -> int:
    """Total bytes of some tensors."""
    return sum(t.numel() * t.element_size() for t in tensors)


def forward_output_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of every leaf module's output in one forward pass (an activation budget)."""
    total = []
    hooks = [
        m.register_forward_hook(lambda module, inputs, output: total.append(nbytes([output])))
        for m in model.modules()
        if not list(m.children())
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return sum(total)


def test_memory_grows_with_batch_and_is_bounded():
    """Peak training memory of a conv net on 64x64 grows with the batch and stays within bounds."""
    torch.manual_seed(0)
    model = small_cnn()
    profiler = ModelProfiler(model)
    state = nbytes(model.parameters()) + nbytes(model.buffers())
    feature_map = 32 * 64 * 64 * 4  # one image's 32-channel float32 map
    peaks = {}
    for batch in (2, 16):
        peak = profiler.measure_memory(batch, (3, 64, 64))
        assert isinstance(peak, int) and peak > 0
        activations = forward_output_bytes(model.eval(), torch.zeros(batch, 3, 64, 64))
        # At least the saved inputs of both convs (two feature maps per image) are alive at once.
        assert peak >= 3 * nbytes(model.parameters()) + 2 * batch * feature_map
        # Saved forward outputs plus gradients of the same size during backward: 2x the outputs.
        # (Counting allocations without their frees would give about 3x this bound.)
        assert peak <= 3 * state + nbytes([torch.zeros(batch, 3, 64, 64)]) + 2 * activations
        peaks[batch] = peak
    assert peaks[16] > peaks[2]
    assert peaks[16] - peaks[2] >= 14 * 2 * feature_map


def test_memory_counts_weights_gradients_and_momentum():
    """For a parameter-heavy MLP the peak is at least weights + gradients + momentum."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 512), nn.ReLU(), nn.Linear(512, 10))
    params = nbytes(model.parameters())
    peak = ModelProfiler(model).measure_memory(2, (3, 16, 16))
    assert 3 * params <= peak <= 3 * params + 1024 * 1024


def test_memory_leaves_model_unchanged():
    """measure_memory trains a copy: weights, BN statistics, grads and mode are untouched."""
    torch.manual_seed(0)
    model = small_cnn().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ModelProfiler(model).measure_memory(4, (3, 16, 16))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], atol=0, rtol=0)
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


# ---------------------------------------------------------------- latency


class FakeClock:
    """A stand-in for time.perf_counter that only moves when a model says it ran."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TimedModel(nn.Module):
    """Advances the fake clock per forward (longer on chosen calls) and counts its calls."""

    def __init__(self, clock: FakeClock, seconds: float, slow_calls=(), slow_seconds: float = 0.0) -> None:
        super().__init__()
        self.clock, self.seconds, self.slow_calls, self.slow_seconds = clock, seconds, set(slow_calls), slow_seconds
        self.calls = 0
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.clock.now += self.slow_seconds if self.calls in self.slow_calls else self.seconds
        return self.norm(x)


def test_latency_statistics(monkeypatch):
    """Milliseconds over num_runs timed runs after 10 warm-ups; p95 catches a slow 10% tail.

    A fake clock makes the timings exact, so the test does not depend on machine load.
    """
    clock = FakeClock()
    monkeypatch.setattr(time, "perf_counter", clock)
    # Calls 1-10 are the warm-up; 2 of the 20 timed runs (calls 15 and 25) take 50 ms, the rest 2 ms.
    model = TimedModel(clock, 0.002, slow_calls=(15, 25), slow_seconds=0.05)
    stats = ModelProfiler(model).measure_latency(torch.randn(2, 3, 8, 8), num_runs=20)
    assert set(stats) == {"mean_ms", "median_ms", "p95_ms"}
    assert model.calls == 10 + 20
    assert stats["median_ms"] == pytest.approx(2.0)
    assert stats["p95_ms"] == pytest.approx(50.0)
    assert stats["mean_ms"] == pytest.approx((18 * 2.0 + 2 * 50.0) / 20)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_latency_runs_in_eval_and_restores_mode(train):
    """Timed runs happen in eval mode (BN statistics untouched) and the mode is restored."""
    torch.manual_seed(0)
    model = small_cnn().train(train)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = ModelProfiler(model).measure_latency(torch.randn(2, 3, 16, 16), num_runs=3)
    assert stats["p95_ms"] >= stats["median_ms"] > 0
    assert model.training == train and all(m.training == train for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], atol=0, rtol=0)


@pytest.mark.parametrize("num_runs", [0, -3])
def test_latency_rejects_no_runs(num_runs):
    """num_runs below 1 raises ValueError."""
    torch.manual_seed(0)
    with pytest.raises(ValueError):
        ModelProfiler(small_cnn()).measure_latency(torch.randn(1, 3, 8, 8), num_runs=num_runs)


# ---------------------------------------------------------------- training benchmark


def digits_loader(generator_seed: int = 0) -> DataLoader:
    """scikit-learn's 1,797 handwritten digits as (1, 8, 8) images in [0, 1], shuffled, batch 64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    generator = torch.Generator().manual_seed(generator_seed)
    return DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True, generator=generator)


def test_benchmark_training_learns_digits():
    """Three epochs on the digits data: per-epoch records, falling loss, accuracy above 0.8."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )
    loader = digits_loader()
    result = ModelProfiler(model).benchmark_training(loader, epochs=3, lr=3e-3)
    assert set(result) == {"epochs"}
    records = result["epochs"]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for record in records:
        assert set(record) == {"epoch", "loss", "accuracy", "seconds", "images_per_second"}
        assert math.isfinite(record["loss"]) and record["loss"] > 0
        assert 0.0 <= record["accuracy"] <= 1.0
        assert record["seconds"] > 0
        assert record["images_per_second"] == pytest.approx(1797 / record["seconds"], rel=1e-9)
    assert records[-1]["loss"] < records[0]["loss"]
    assert records[-1]["accuracy"] > 0.8
    # The model itself was trained: it now classifies the training images well in eval mode.
    images, labels = loader.dataset.tensors
    with torch.no_grad():
        accuracy = (model.eval()(images).argmax(dim=1) == labels).float().mean().item()
    assert accuracy > 0.8


def test_benchmark_training_rejects_empty_loader():
    """A dataloader that yields no batches raises ValueError."""
    torch.manual_seed(0)
    empty = DataLoader(TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError):
        ModelProfiler(small_cnn(in_channels=1)).benchmark_training(empty, epochs=2)
