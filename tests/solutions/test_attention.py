"""Tests for solutions/attention.py: SE and CBAM checked against torchvision, timm and the papers' formulas.

References: torchvision.ops.SqueezeExcitation and timm.layers.SEModule (1x1-conv MLPs), timm.layers.cbam.CbamModule
(whose spatial conv is followed by a BatchNorm instead of having a bias), and CBAM's equations (Woo et al. 2018,
Eq. 2-3) written below with torch.nn.functional.
"""
from __future__ import annotations

import pytest
import timm.layers
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from timm.layers.cbam import CbamModule  # not re-exported by timm.layers
from torch import nn

from solutions.attention import CBAM, ChannelAttention, SEModule, SpatialAttention, reduced_channels

PROPERTY = settings(derandomize=True, deadline=None, max_examples=25)

batches = st.integers(1, 3)
channel_counts = st.integers(1, 64)
reductions = st.integers(1, 32)
sides = st.integers(1, 9)
kernel_sizes = st.sampled_from([1, 3, 5, 7])




@torch.no_grad()
def copy_linear_into_conv1x1(linear: nn.Linear, conv: nn.Conv2d) -> None:
    """A Linear (O, I) and a 1x1 Conv2d (O, I, 1, 1) compute the same map on pooled features."""
    assert conv.weight.shape == (*linear.weight.shape, 1, 1)
    conv.weight.copy_(linear.weight[:, :, None, None])
    conv.bias.copy_(linear.bias)


# ----------------------------------------------------------------------------- reduced width


@PROPERTY
@given(channels=channel_counts, reduction=reductions)
def test_reduced_width_is_floor_division_at_least_one(channels, reduction):
    """The hidden width of SE's and CBAM's MLPs is max(1, C // r)."""
    hidden = max(1, channels // reduction)
    assert reduced_channels(channels, reduction) == hidden
    se, channel_attention = SEModule(channels, reduction), ChannelAttention(channels, reduction)
    for module in (se, channel_attention):
        assert (module.fc1.in_features, module.fc1.out_features) == (channels, hidden)
        assert (module.fc2.in_features, module.fc2.out_features) == (hidden, channels)
        assert module.fc1.bias is not None and module.fc2.bias is not None


@pytest.mark.parametrize("channels, reduction", [(0, 4), (8, 0), (-1, 2), (4, -3)])
def test_reduced_width_rejects_nonpositive_arguments(channels, reduction):
    """A non-positive channel count or reduction raises ValueError."""
    with pytest.raises(ValueError):
        reduced_channels(channels, reduction)


# ----------------------------------------------------------------------------- SE


@PROPERTY
@given(batch=batches, channels=channel_counts, reduction=reductions, height=sides, width=sides)
def test_se_matches_torchvision_squeeze_excitation(batch, channels, reduction, height, width):
    """SEModule equals torchvision.ops.SqueezeExcitation with the same weights."""
    torch.manual_seed(0)
    ours = SEModule(channels, reduction)
    reference = torchvision.ops.SqueezeExcitation(channels, squeeze_channels=max(1, channels // reduction))
    copy_linear_into_conv1x1(ours.fc1, reference.fc1)
    copy_linear_into_conv1x1(ours.fc2, reference.fc2)
    x = torch.randn(batch, channels, height, width)
    out = ours(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, reference(x))


@PROPERTY
@given(batch=batches, channels=channel_counts, reduction=reductions, height=sides, width=sides)
def test_se_matches_timm_se_module(batch, channels, reduction, height, width):
    """SEModule equals timm.layers.SEModule (rd_channels = max(1, C // r)) with the same weights."""
    torch.manual_seed(1)
    ours = SEModule(channels, reduction)
    reference = timm.layers.SEModule(channels, rd_channels=max(1, channels // reduction))
    copy_linear_into_conv1x1(ours.fc1, reference.fc1)
    copy_linear_into_conv1x1(ours.fc2, reference.fc2)
    x = torch.randn(batch, channels, height, width)
    torch.testing.assert_close(ours(x), reference(x))


@PROPERTY
@given(batch=batches, channels=channel_counts, reduction=reductions, height=sides, width=sides)
def test_se_gate_is_in_unit_interval_and_constant_over_space(batch, channels, reduction, height, width):
    """out / x is one number per (sample, channel), strictly between 0 and 1."""
    torch.manual_seed(2)
    se = SEModule(channels, reduction).double()
    x = torch.randn(batch, channels, height, width, dtype=torch.float64)
    x = x + 0.5 * torch.sign(x)  # keep every |x| >= 0.5 so the ratio is well defined
    with torch.no_grad():
        ratio = se(x) / x
    assert (ratio > 0).all() and (ratio < 1).all()
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))


def test_se_gate_depends_on_the_input():
    """The gate is computed from the input: two inputs of one module get different per-channel gates."""
    torch.manual_seed(3)
    se = SEModule(32, 4)
    x = torch.rand(2, 32, 5, 5) + 0.5
    x[1] *= torch.linspace(0.1, 3.0, 32)[:, None, None]
    with torch.no_grad():
        gates = (se(x) / x)[:, :, 0, 0]
    assert (gates[0] - gates[1]).abs().max() > 1e-3


# ----------------------------------------------------------------------------- CBAM


def cbam_formula(x: torch.Tensor, cbam: CBAM, channel_first: bool = True) -> torch.Tensor:
    """CBAM from Woo et al. 2018 with the module's weights, written with torch.nn.functional.

    Channel: M_c = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F))), one MLP shared by both descriptors.
    Spatial: M_s = sigmoid(conv7x7([AvgPool_c(F); MaxPool_c(F)])), a biased conv, 'same' padding.
    The paper applies channel first; ``channel_first=False`` gives the swapped order.
    """
    fc1, fc2 = cbam.channel_attention.fc1, cbam.channel_attention.fc2
    conv = cbam.spatial_attention.conv

    def mlp(v: torch.Tensor) -> torch.Tensor:  # (B, C) -> (B, C)
        return F.linear(F.relu(F.linear(v, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)

    def channel(f: torch.Tensor) -> torch.Tensor:
        avg = F.adaptive_avg_pool2d(f, 1).flatten(1)
        mx = F.adaptive_max_pool2d(f, 1).flatten(1)
        return f * torch.sigmoid(mlp(avg) + mlp(mx)).view(f.shape[0], f.shape[1], 1, 1)

    def spatial(f: torch.Tensor) -> torch.Tensor:
        descriptors = torch.stack([f.mean(dim=1), f.max(dim=1).values], dim=1)  # (B, 2, H, W)
        k = conv.weight.shape[-1]
        return f * torch.sigmoid(F.conv2d(descriptors, conv.weight, conv.bias, padding=(k - 1) // 2))

    return spatial(channel(x)) if channel_first else channel(spatial(x))


@PROPERTY
@given(batch=batches, channels=channel_counts, reduction=reductions, kernel_size=kernel_sizes,
       height=sides, width=sides)
def test_cbam_matches_paper_formula(batch, channels, reduction, kernel_size, height, width):
    """CBAM equals the paper's channel-then-spatial formula and preserves the shape."""
    torch.manual_seed(4)
    cbam = CBAM(channels, reduction, kernel_size)
    x = torch.randn(batch, channels, height, width)
    with torch.no_grad():
        out = cbam(x)
        expected = cbam_formula(x, cbam)
    assert out.shape == x.shape
    assert cbam.spatial_attention.conv.bias is not None  # the paper's spatial conv has a bias
    torch.testing.assert_close(out, expected)


@torch.no_grad()
def timm_cbam_like(cbam: CBAM, channels: int, reduction: int, kernel_size: int) -> nn.Module:
    """timm's CbamModule holding ``cbam``'s weights, in eval mode.

    timm's spatial branch is conv (no bias) -> BatchNorm. In eval mode a BN with running mean 0,
    running var 1 - eps, weight 1 and bias b is exactly "+ b", i.e. our biased convolution.
    """
    reference = CbamModule(
        channels, rd_channels=max(1, channels // reduction), spatial_kernel_size=kernel_size, mlp_bias=True
    ).eval()
    copy_linear_into_conv1x1(cbam.channel_attention.fc1, reference.channel.fc1)
    copy_linear_into_conv1x1(cbam.channel_attention.fc2, reference.channel.fc2)
    conv, bn = reference.spatial.conv.conv, reference.spatial.conv.bn
    assert conv.bias is None and isinstance(bn, nn.BatchNorm2d)
    conv.weight.copy_(cbam.spatial_attention.conv.weight)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)
    bn.weight.fill_(1.0)
    bn.bias.copy_(cbam.spatial_attention.conv.bias)
    return reference


@PROPERTY
@given(batch=batches, channels=channel_counts, reduction=reductions, kernel_size=kernel_sizes,
       height=sides, width=sides)
def test_cbam_matches_timm_cbam_module(batch, channels, reduction, kernel_size, height, width):
    """CBAM equals timm's CbamModule (mlp_bias=True, its spatial BN folded into a bias)."""
    torch.manual_seed(5)
    cbam = CBAM(channels, reduction, kernel_size)
    reference = timm_cbam_like(cbam, channels, reduction, kernel_size)
    x = torch.randn(batch, channels, height, width)
    with torch.no_grad():
        torch.testing.assert_close(cbam(x), reference(x))


def test_cbam_applies_channel_attention_before_spatial_attention():
    """Channel-then-spatial differs from spatial-then-channel on random input, and CBAM is the former."""
    torch.manual_seed(6)
    cbam = CBAM(16, 4, 7)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        out = cbam(x)
        channel_first = cbam.spatial_attention(cbam.channel_attention(x))
        spatial_first = cbam.channel_attention(cbam.spatial_attention(x))
        formula_swapped = cbam_formula(x, cbam, channel_first=False)
    torch.testing.assert_close(out, channel_first)
    torch.testing.assert_close(spatial_first, formula_swapped)  # the formula's swapped order is this one
    assert (out - spatial_first).abs().max() > 1e-3  # so the tests above would catch a swapped order


@PROPERTY
@given(batch=batches, channels=channel_counts, reduction=reductions, height=sides, width=sides)
def test_channel_attention_gate_is_per_channel_and_uses_max_pooling(batch, channels, reduction, height, width):
    """The channel gate is one value in (0, 1) per (sample, channel) and equals sigmoid(MLP(avg) + MLP(max))."""
    torch.manual_seed(7)
    attention = ChannelAttention(channels, reduction).double()
    x = torch.randn(batch, channels, height, width, dtype=torch.float64)
    x = x + 0.5 * torch.sign(x)
    with torch.no_grad():
        ratio = attention(x) / x
        mlp = lambda v: attention.fc2(F.relu(attention.fc1(v)))  # noqa: E731
        expected = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.flatten(2).max(dim=2).values))
    assert (ratio > 0).all() and (ratio < 1).all()
    torch.testing.assert_close(ratio, expected[:, :, None, None].expand_as(ratio))


@PROPERTY
@given(batch=batches, channels=channel_counts, kernel_size=kernel_sizes, height=sides, width=sides)
def test_spatial_attention_gate_is_shared_by_all_channels(batch, channels, kernel_size, height, width):
    """The spatial gate is one value in (0, 1) per (sample, position), the same for every channel."""
    torch.manual_seed(8)
    attention = SpatialAttention(kernel_size).double()
    x = torch.randn(batch, channels, height, width, dtype=torch.float64)
    x = x + 0.5 * torch.sign(x)
    with torch.no_grad():
        ratio = attention(x) / x
    assert ratio.shape == x.shape
    assert (ratio > 0).all() and (ratio < 1).all()
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))


@pytest.mark.parametrize("kernel_size", [0, 2, 4, 8, -3])
def test_even_or_nonpositive_kernel_size_raises(kernel_size):
    """A spatial kernel size that is even or not positive raises ValueError (it could not keep H x W)."""
    with pytest.raises(ValueError):
        SpatialAttention(kernel_size)
    with pytest.raises(ValueError):
        CBAM(16, 4, kernel_size)


@pytest.mark.parametrize("make", [lambda: SEModule(8, 2), lambda: CBAM(8, 2, 3)], ids=["se", "cbam"])
def test_gradients_reach_input_and_every_parameter(make):
    """Backprop through the attention module gives the input and every parameter a gradient."""
    torch.manual_seed(9)
    module = make()
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    out = module(x)
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
