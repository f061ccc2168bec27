"""Tests for solutions/resnet.py: blocks and networks checked against torchvision and timm.

Post-activation networks are compared with torchvision's ResNets (same module names, so the
state dict loads strictly). Pre-activation networks are compared with timm's ResNetV2
(``resnetv2_18/34/50/101``: plain convolutions, BatchNormAct2d, 7x7 stem conv + max-pool with no
stem norm, final BN-ReLU), whose parameters are registered in the same order as ours, so the
weights are aligned pairwise after checking every pair's shape.
"""
from __future__ import annotations

import math

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from timm.layers import BatchNormAct2d, create_conv2d
from timm.models.resnetv2 import DownsampleConv, PreActBasic, PreActBottleneck
from torch import nn
from torchvision.models import resnet as tv_resnet

from solutions import resnet
from solutions.attention import SEModule
from solutions.resnet import (
    BasicBlock,
    BottleneckBlock,
    PreActBasicBlock,
    PreActBottleneckBlock,
    ResNet,
    conv1x1,
)

PROPERTY = settings(derandomize=True, deadline=None, max_examples=20)

POST_BLOCKS = (BasicBlock, BottleneckBlock)
PRE_BLOCKS = (PreActBasicBlock, PreActBottleneckBlock)
ALL_BLOCKS = POST_BLOCKS + PRE_BLOCKS

# Published torchvision parameter counts at the defaults (1000 classes, 3 input channels).
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160}

# Name of the last layer on each block's residual branch (names fixed by the exercise's TODOs).
LAST_BN_OR_CONV = {BasicBlock: "bn2", BottleneckBlock: "bn3", PreActBasicBlock: "conv2", PreActBottleneckBlock: "conv3"}




# ----------------------------------------------------------------------------- helpers


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def randomize_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm random statistics and affine parameters, so none acts as identity."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.uniform_(0.5, 1.5)
            module.bias.normal_(0.0, 0.1)


def make_downsample(block: type, in_channels: int, planes: int, stride: int) -> nn.Module | None:
    """The shortcut projection the ResNet builder would give this block (None for identity)."""
    out_channels = planes * block.expansion
    if stride == 1 and in_channels == out_channels:
        return None
    if block.preactivation:
        return conv1x1(in_channels, out_channels, stride)
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


def out_size(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def shortcut_of(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The shortcut path computed in the test: identity, or the projection of x (post-activation)
    or of the pre-activated x (pre-activation)."""
    if block.downsample is None:
        return x
    if block.preactivation:
        return block.downsample(F.relu(block.bn1(x)))
    return block.downsample(x)


@torch.no_grad()
def copy_by_registration_order(source: nn.Module, target: nn.Module) -> None:
    """Copy ``source``'s state into ``target`` entry by entry, in registration order.

    Every pair must be the same kind of tensor (weight, bias, running_mean, ...) with the same
    shape; the only reshape allowed is a 1x1 convolution classifier (O, I, 1, 1) -> Linear (O, I).
    """
    src, dst = list(source.state_dict().items()), list(target.state_dict().items())
    assert len(src) == len(dst), f"{len(src)} entries in the reference, {len(dst)} in ours"
    aligned = {}
    for (src_name, src_value), (dst_name, dst_value) in zip(src, dst):
        assert src_name.rsplit(".", 1)[-1] == dst_name.rsplit(".", 1)[-1], (src_name, dst_name)
        if src_value.shape != dst_value.shape:
            assert src_value.shape == (*dst_value.shape, 1, 1), (src_name, src_value.shape, dst_name, dst_value.shape)
            src_value = src_value.reshape(dst_value.shape)
        aligned[dst_name] = src_value.clone()
    target.load_state_dict(aligned, strict=True)


def assert_timm_is_plain_preact_resnet(model: nn.Module) -> None:
    """Guard the reference: the timm model must have exactly the design our pre-act nets follow."""
    assert [name for name, _ in model.stem.named_children()] == ["conv", "pool"]  # no stem norm
    conv, pool = model.stem.conv, model.stem.pool
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((7, 7), (2, 2), (3, 3), None)
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)
    assert all(type(m) is nn.Conv2d for m in model.modules() if isinstance(m, nn.Conv2d)), "only plain convs"
    assert isinstance(model.norm, BatchNormAct2d) and isinstance(model.norm.act, nn.ReLU)
    assert not any(isinstance(m, nn.GroupNorm) for m in model.modules())


# ----------------------------------------------------------------------------- whole networks


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_parameter_count_matches_torchvision(depth):
    """At the defaults each ResNet has exactly torchvision's (published and live) parameter count."""
    torch.manual_seed(0)
    ours = count_params(getattr(resnet, f"resnet{depth}")())
    reference = count_params(getattr(torchvision.models, f"resnet{depth}")())
    assert ours == reference == TORCHVISION_PARAMS[depth]


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_eval_logits_match_torchvision(depth):
    """torchvision's weights (random BN statistics included) load strictly and give the same logits."""
    torch.manual_seed(depth)
    reference = getattr(torchvision.models, f"resnet{depth}")()
    randomize_batchnorm(reference)
    ours = getattr(resnet, f"resnet{depth}")()
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.eval(), ours.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert actual.shape == (2, 1000)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_train_mode_matches_torchvision_resnet18():
    """In train mode (batch statistics) ResNet-18 gives torchvision's logits and running statistics."""
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    randomize_batchnorm(reference)
    ours = resnet.resnet18()
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.train(), ours.train()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-4)
    ours_state = ours.state_dict()
    for name, expected in reference.state_dict().items():  # running statistics updated alike
        torch.testing.assert_close(ours_state[name], expected, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_preact_eval_logits_match_timm_resnetv2(depth):
    """Pre-activation ResNets equal timm's ResNetV2 (resnetv2_<depth>) with the same weights."""
    torch.manual_seed(100 + depth)
    reference = timm.create_model(f"resnetv2_{depth}", pretrained=False)
    assert_timm_is_plain_preact_resnet(reference)
    randomize_batchnorm(reference)
    ours = getattr(resnet, f"resnet{depth}")(preact=True)
    assert count_params(ours) == count_params(reference)
    copy_by_registration_order(reference, ours)
    reference.eval(), ours.eval()
    x = torch.randn(2, 3, 64, 64)
    features = []
    ours.norm.register_forward_hook(lambda module, args, out: features.append(out))
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
        expected_features = reference.forward_features(x)  # after the final BN-ReLU
    torch.testing.assert_close(features[0], expected_features, atol=1e-5, rtol=1e-4)
    # Nothing renormalises a pre-activation residual stream, so at random init it grows with depth
    # (logits reach ~1e5 for ResNet-101). timm's classifier is a 1x1 conv, ours a Linear: they sum in
    # different orders, so the logits are compared with an absolute tolerance relative to their scale.
    torch.testing.assert_close(actual, expected, atol=1e-5 * max(1.0, expected.abs().max().item()), rtol=1e-4)


def test_preact_train_mode_matches_timm_resnetv2_18():
    """In train mode the pre-activation ResNet-18 still equals timm's resnetv2_18."""
    torch.manual_seed(2)
    reference = timm.create_model("resnetv2_18", pretrained=False)
    randomize_batchnorm(reference)
    ours = resnet.resnet18(preact=True)
    copy_by_registration_order(reference, ours)
    reference.train(), ours.train()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- single blocks


@PROPERTY
@given(
    block=st.sampled_from(POST_BLOCKS),
    batch=st.integers(1, 3),
    in_channels=st.integers(1, 16),
    planes=st.integers(1, 8),
    stride=st.sampled_from([1, 2]),
    size=st.integers(4, 10),
    train=st.booleans(),
)
def test_post_activation_block_matches_torchvision(block, batch, in_channels, planes, stride, size, train):
    """Post-activation blocks equal torchvision's BasicBlock / Bottleneck with the same weights."""
    torch.manual_seed(3)
    tv_block = {BasicBlock: tv_resnet.BasicBlock, BottleneckBlock: tv_resnet.Bottleneck}[block]
    reference = tv_block(in_channels, planes, stride, make_downsample(block, in_channels, planes, stride))
    randomize_batchnorm(reference)
    ours = block(in_channels, planes, stride, make_downsample(block, in_channels, planes, stride))
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.train(train), ours.train(train)
    x = torch.randn(batch, in_channels, size, size)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-4)


@PROPERTY
@given(
    block=st.sampled_from(PRE_BLOCKS),
    batch=st.integers(1, 3),
    in_channels=st.sampled_from([8, 16, 32]),
    planes=st.sampled_from([8, 16]),  # timm rounds the block width to a multiple of 8
    stride=st.sampled_from([1, 2]),
    size=st.integers(4, 10),
    train=st.booleans(),
)
def test_pre_activation_block_matches_timm(block, batch, in_channels, planes, stride, size, train):
    """Pre-activation blocks equal timm's PreActBasic / PreActBottleneck (BN-ReLU norms, plain convs)."""
    torch.manual_seed(4)
    out_channels = planes * block.expansion
    needs_projection = stride != 1 or in_channels != out_channels
    timm_block = {PreActBasicBlock: PreActBasic, PreActBottleneckBlock: PreActBottleneck}[block]
    reference = timm_block(
        in_channels, out_channels, stride=stride, conv_layer=create_conv2d, norm_layer=BatchNormAct2d,
        proj_layer=DownsampleConv if needs_projection else None,
    )
    randomize_batchnorm(reference)
    ours = block(in_channels, planes, stride, make_downsample(block, in_channels, planes, stride))
    copy_by_registration_order(reference, ours)
    reference.train(train), ours.train(train)
    x = torch.randn(batch, in_channels, size, size)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-4)


@PROPERTY
@given(
    block=st.sampled_from(ALL_BLOCKS),
    batch=st.integers(1, 3),
    in_channels=st.integers(1, 12),
    planes=st.integers(1, 8),
    stride=st.sampled_from([1, 2]),
    height=st.integers(4, 16),
    width=st.integers(4, 16),
)
def test_block_output_shape(block, batch, in_channels, planes, stride, height, width):
    """Every block maps (B, C_in, H, W) to (B, planes * expansion, ceil(H / s), ceil(W / s))."""
    torch.manual_seed(5)
    module = block(in_channels, planes, stride, make_downsample(block, in_channels, planes, stride))
    out = module(torch.randn(batch, in_channels, height, width))
    assert out.shape == (batch, planes * block.expansion, out_size(height, stride), out_size(width, stride))


def test_block_class_attributes():
    """Basic blocks expand by 1 and bottlenecks by 4; only the PreAct blocks are pre-activation."""
    assert [b.expansion for b in ALL_BLOCKS] == [1, 4, 1, 4]
    assert [b.preactivation for b in ALL_BLOCKS] == [False, False, True, True]


@PROPERTY
@given(
    block=st.sampled_from(POST_BLOCKS),
    in_channels=st.integers(1, 12),
    planes=st.integers(1, 6),
    stride=st.sampled_from([1, 2]),
    size=st.integers(4, 10),
)
def test_post_activation_output_is_nonnegative(block, in_channels, planes, stride, size):
    """Post-activation blocks end with a ReLU, so their output is never negative."""
    torch.manual_seed(6)
    module = block(in_channels, planes, stride, make_downsample(block, in_channels, planes, stride))
    randomize_batchnorm(module)
    module.eval()
    out = module(torch.randn(2, in_channels, size, size) * 3)
    assert out.min() >= 0


@pytest.mark.parametrize("block", PRE_BLOCKS)
def test_pre_activation_output_can_be_negative(block):
    """Pre-activation blocks have no ReLU after the addition, so negative outputs pass through."""
    torch.manual_seed(7)
    module = block(16, 16 // block.expansion)
    out = module(torch.randn(2, 16, 8, 8))
    assert out.min() < 0


@PROPERTY
@given(
    block=st.sampled_from(ALL_BLOCKS),
    batch=st.integers(1, 3),
    planes=st.integers(1, 6),
    size=st.integers(4, 10),
    train=st.booleans(),
)
def test_skip_connection_carries_the_gradient(block, batch, planes, size, train):
    """With the residual branch silenced, d sum(out * g) / dx is g (pre-act) or g * (out > 0) (post-act)."""
    torch.manual_seed(8)
    channels = planes * block.expansion
    module = block(channels, planes)  # stride 1, same width: identity shortcut
    module.train(train)
    last = getattr(module, LAST_BN_OR_CONV[block])
    with torch.no_grad():
        last.weight.zero_()
        if isinstance(last, nn.BatchNorm2d):
            last.bias.zero_()
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    g = torch.randn(batch, channels, size, size)
    out = module(x)
    (grad,) = torch.autograd.grad((out * g).sum(), x)
    if block.preactivation:
        torch.testing.assert_close(out, x)
        torch.testing.assert_close(grad, g)
    else:
        torch.testing.assert_close(out, F.relu(x))
        torch.testing.assert_close(grad, g * (out > 0))


@pytest.mark.parametrize("block", ALL_BLOCKS)
def test_every_parameter_gets_a_gradient(block):
    """Backprop through a projecting block with SE attention reaches every parameter with a nonzero gradient."""
    torch.manual_seed(9)
    module = block(8, 8, stride=2, downsample=make_downsample(block, 8, 8, 2), attention=lambda c: SEModule(c, 1))
    out = module(torch.randn(2, 8, 8, 8))
    (out * torch.randn_like(out)).sum().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name


# ----------------------------------------------------------------------------- attention placement


class Probe(nn.Module):
    """An attention stand-in that records its input and returns it times ``scale``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.scale = 1.0
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return x * self.scale


@PROPERTY
@given(
    block=st.sampled_from(ALL_BLOCKS),
    batch=st.integers(1, 3),
    in_channels=st.integers(1, 12),
    planes=st.integers(1, 6),
    stride=st.sampled_from([1, 2]),
    size=st.integers(4, 10),
)
def test_attention_acts_on_the_residual_branch_before_the_addition(block, batch, in_channels, planes, stride, size):
    """The attention module gets the residual branch (B, planes * expansion, H', W') and its output is added
    to the shortcut: scale 1 changes nothing, scale 0 leaves (ReLU of) the shortcut, scale 2 doubles the branch."""
    torch.manual_seed(10)
    downsample = make_downsample(block, in_channels, planes, stride)
    module = block(in_channels, planes, stride, downsample, attention=Probe)
    plain = block(in_channels, planes, stride, make_downsample(block, in_channels, planes, stride))
    randomize_batchnorm(module)
    plain.load_state_dict(module.state_dict(), strict=True)
    module.eval(), plain.eval()
    probe = module.attention
    assert isinstance(probe, Probe) and probe.channels == planes * block.expansion
    finish = (lambda t: t) if block.preactivation else F.relu

    x = torch.randn(batch, in_channels, size, size)
    with torch.no_grad():
        shortcut = shortcut_of(module, x)
        out_one = module(x)
        (branch,) = probe.inputs
        assert branch.shape == (batch, planes * block.expansion, out_size(size, stride), out_size(size, stride))
        torch.testing.assert_close(out_one, plain(x))
        torch.testing.assert_close(out_one, finish(branch + shortcut))
        probe.scale = 0.0
        torch.testing.assert_close(module(x), finish(shortcut))
        probe.scale = 2.0
        torch.testing.assert_close(module(x), finish(2 * branch + shortcut))


# ----------------------------------------------------------------------------- the ResNet builder


def stage_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Size]:
    """Output shapes of layer1..layer4, recorded with forward hooks."""
    shapes = []
    handles = [
        getattr(model, f"layer{i}").register_forward_hook(lambda m, args, out: shapes.append(out.shape))
        for i in range(1, 5)
    ]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return shapes


@pytest.mark.parametrize("block", ALL_BLOCKS)
@pytest.mark.parametrize("stem, size, sides", [("cifar", 32, [32, 16, 8, 4]), ("imagenet", 64, [16, 8, 4, 2])])
def test_stem_and_stage_shapes(block, stem, size, sides):
    """The CIFAR stem keeps the resolution, the ImageNet stem divides it by 4; stages 2-4 halve it and
    output 64, 128, 256, 512 channels times the expansion."""
    torch.manual_seed(11)
    model = ResNet(block, [1, 1, 1, 1], num_classes=10, in_channels=1, stem=stem).eval()
    shapes = stage_outputs(model, torch.randn(2, 1, size, size))
    widths = [64 * block.expansion * 2**i for i in range(4)]
    assert shapes == [(2, w, s, s) for w, s in zip(widths, sides)]
    assert model(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_invalid_arguments_raise():
    """An unknown stem or a layer list that is not four stages long raises ValueError."""
    with pytest.raises(ValueError):
        ResNet(BasicBlock, [1, 1, 1, 1], stem="mnist")
    with pytest.raises(ValueError):
        ResNet(BasicBlock, [1, 1, 1])
    with pytest.raises(ValueError):
        ResNet(BasicBlock, [1, 1, 1, 1, 1])


def stem_modules(model: nn.Module) -> list[nn.Module]:
    """Every module outside the four stages and the final norm (the stem, pool and classifier)."""
    skip = ("layer1", "layer2", "layer3", "layer4", "norm")
    return [m for name, m in model.named_modules() if name and name.split(".")[0] not in skip]


@pytest.mark.parametrize("block", PRE_BLOCKS)
def test_preact_network_has_bare_stem_and_final_bn_relu(block):
    """A pre-activation net has no BatchNorm in its stem, plain 1x1-conv projections, and ``norm`` = BN then ReLU."""
    torch.manual_seed(12)
    model = ResNet(block, [1, 1, 1, 1], num_classes=10)
    randomize_batchnorm(model)
    model.eval()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in stem_modules(model))
    for stage in (model.layer2, model.layer3, model.layer4):  # layer1 of a basic-block net needs none
        assert type(stage[0].downsample) is nn.Conv2d
    (bn,) = [m for m in model.norm.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn.num_features == 512 * block.expansion
    t = torch.randn(2, 512 * block.expansion, 3, 3)
    expected = F.relu(F.batch_norm(t, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps))
    with torch.no_grad():
        torch.testing.assert_close(model.norm(t), expected)


@pytest.mark.parametrize("block", POST_BLOCKS)
def test_post_activation_network_has_stem_bn_and_no_final_norm(block):
    """A post-activation net has exactly one BatchNorm in its stem and an identity ``norm``."""
    torch.manual_seed(13)
    model = ResNet(block, [1, 1, 1, 1], num_classes=10)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in stem_modules(model)) == 1
    assert not any(True for _ in model.norm.parameters())
    t = torch.randn(2, 512 * block.expansion, 3, 3)
    torch.testing.assert_close(model.norm(t), t)


@pytest.mark.parametrize("block", ALL_BLOCKS)
def test_attention_reaches_every_block(block):
    """``attention=`` builds one module per block, sized to that block's output channels."""
    torch.manual_seed(14)
    layers = [2, 1, 3, 1]
    model = ResNet(block, layers, num_classes=10, stem="cifar", attention=Probe)
    probes = [m for m in model.modules() if isinstance(m, Probe)]
    assert len(probes) == sum(layers)
    for i, n in enumerate(layers):
        stage = getattr(model, f"layer{i + 1}")
        assert len(stage) == n
        assert all(isinstance(b.attention, Probe) and b.attention.channels == 64 * 2**i * block.expansion
                   for b in stage)
    model.eval()(torch.randn(1, 3, 8, 8))
    assert all(len(p.inputs) == 1 for p in probes)


@pytest.mark.parametrize("preact", [False, True])
def test_weight_initialisation(preact):
    """Convolutions are Kaiming-normal with fan_out (std sqrt(2 / fan_out)); BatchNorms start at weight 1, bias 0."""
    torch.manual_seed(15)
    model = resnet.resnet18(preact=preact)
    checked = 0
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.weight.numel() >= 20_000:
            w = module.weight
            fan_out = w.shape[0] * w.shape[2] * w.shape[3]
            assert abs(w.mean().item()) < 0.1 * math.sqrt(2.0 / fan_out)
            assert w.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.05)
            checked += 1
        elif isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
    assert checked >= 10
