"""Known wrong alternatives as changes to the reference modules (instructor-side).

Each alternative of ``autograder.checks.known`` is a change to every instance of one reference
class inside a model: ``with_alternatives(model, keys)`` makes them in place. The checks use it
two ways: to compute what a component would output with a known mistake (feedback names the
mistake when the submission matches), and to judge a component that uses a failing one against
the reference with the same mistake, so that one mistake costs points once.

This file is left out of the student bundle, like the hidden checks: its forwards are the
reference's with one line changed. A student's copy replays their outputs from golden/.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks.common import reference_attr


@dataclass(frozen=True)
class Alternative:
    """How one known alternative changes a reference module."""

    target: str
    """The reference class it changes, ``module.Class``."""
    forward: Callable | None = None
    """A replacement forward, (module, *args, **kwargs) -> output; None when ``edit`` suffices."""
    edit: Callable[[nn.Module], None] | None = None
    """Changes the module's attributes in place (a scale, a stride)."""


def _without_final_relu(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A post-activation block (basic or bottleneck) that returns the sum itself."""
    shortcut = x if block.downsample is None else block.downsample(x)
    out = block.relu(block.bn1(block.conv1(x)))
    if hasattr(block, "conv3"):
        out = block.bn3(block.conv3(block.relu(block.bn2(block.conv2(out)))))
    else:
        out = block.bn2(block.conv2(out))
    if block.attention is not None:
        out = block.attention(out)
    return out + shortcut


def _relu_after(cls: type) -> Callable:
    def forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.relu(cls.forward(block, x))
    return forward


def _attention_after(cls: type) -> Callable:
    def forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        attention, block.attention = block.attention, None
        try:
            out = cls.forward(block, x)
        finally:
            block.attention = attention
        return out if attention is None else attention(out)
    return forward


def _stride_on_first_conv(block: nn.Module) -> None:
    block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)


def _se_max_pool(se: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(se.fc2(F.relu(se.fc1(x.amax(dim=(2, 3))))))[:, :, None, None]


def _se_gate_only(se: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(se.fc2(F.relu(se.fc1(x.mean(dim=(2, 3))))))[:, :, None, None].expand_as(x)


def _se_without_relu(se: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(se.fc2(se.fc1(x.mean(dim=(2, 3)))))[:, :, None, None]


def _softmax_over_queries(mha: nn.Module, x: torch.Tensor, return_attention: bool = False):
    """Attention whose softmax runs over the queries; the rest as the reference's (heads split from
    the fused ``qkv``, merged, projected)."""
    batch, tokens, dim = x.shape
    q, k, v = mha.qkv(x).reshape(batch, tokens, 3, mha.num_heads, mha.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    weights = ((q @ k.transpose(-2, -1)) * mha.scale).softmax(dim=-2)
    out = mha.proj((mha.attn_drop(weights) @ v).transpose(1, 2).reshape(batch, tokens, dim))
    return (out, weights) if return_attention else out


def _cbam_spatial_first(cbam: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return cbam.channel_attention(cbam.spatial_attention(x))


def _cbam_channel_from_average(cbam: nn.Module, x: torch.Tensor) -> torch.Tensor:
    mlp = cbam.channel_attention
    gated = x * torch.sigmoid(mlp.fc2(F.relu(mlp.fc1(x.mean(dim=(2, 3))))))[:, :, None, None]
    return cbam.spatial_attention(gated)


def _patches_reshaped(embedding: nn.Module, x: torch.Tensor) -> torch.Tensor:
    grid = embedding.proj(x)  # (B, D, S/P, S/P)
    return grid.flatten(2).reshape(grid.shape[0], -1, grid.shape[1])


def _patches_column_major(embedding: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return embedding.proj(x).transpose(2, 3).flatten(2).transpose(1, 2)


def _scale(of: str) -> Callable[[nn.Module], None]:
    def edit(mha: nn.Module) -> None:
        mha.scale = {"embed_dim": mha.embed_dim ** -0.5, "none": 1.0, "head_dim": 1.0 / mha.head_dim}[of]
    return edit


def _post_norm(block: nn.Module, x: torch.Tensor, return_attention: bool = False):
    attended = block.attn(x, return_attention=return_attention)
    if return_attention:
        attended, weights = attended
    x = block.norm1(x + block.drop(attended))
    x = block.norm2(x + block.mlp(x))
    return (x, weights) if return_attention else x


def _tanh_gelu(block: nn.Module) -> None:
    for module in block.mlp.modules():
        if isinstance(module, nn.GELU):
            module.approximate = "tanh"


BLOCKS = {"basic_block": "resnet.BasicBlock", "bottleneck": "resnet.BottleneckBlock",
          "preact_basic": "resnet.PreActBasicBlock", "preact_bottleneck": "resnet.PreActBottleneckBlock"}


def _alternatives() -> dict[str, Alternative]:
    table = {
        "basic_block.no_final_relu": Alternative(BLOCKS["basic_block"], _without_final_relu),
        "bottleneck.no_final_relu": Alternative(BLOCKS["bottleneck"], _without_final_relu),
        "bottleneck.stride_on_first_conv": Alternative(BLOCKS["bottleneck"], edit=_stride_on_first_conv),
        "preact_bottleneck.stride_on_first_conv": Alternative(BLOCKS["preact_bottleneck"], edit=_stride_on_first_conv),
        "se.max_pool_squeeze": Alternative("attention.SEModule", _se_max_pool),
        "se.gate_only": Alternative("attention.SEModule", _se_gate_only),
        "se.without_relu": Alternative("attention.SEModule", _se_without_relu),
        "mha.softmax_over_queries": Alternative("vit.MultiHeadAttention", _softmax_over_queries),
        "cbam.spatial_first": Alternative("attention.CBAM", _cbam_spatial_first),
        "cbam.channel_from_average_only": Alternative("attention.CBAM", _cbam_channel_from_average),
        "patch_embedding.reshaped_not_transposed": Alternative("vit.PatchEmbedding", _patches_reshaped),
        "patch_embedding.column_major": Alternative("vit.PatchEmbedding", _patches_column_major),
        "mha.scale_embed_dim": Alternative("vit.MultiHeadAttention", edit=_scale("embed_dim")),
        "mha.no_scale": Alternative("vit.MultiHeadAttention", edit=_scale("none")),
        "mha.scale_head_dim": Alternative("vit.MultiHeadAttention", edit=_scale("head_dim")),
        "encoder_block.post_norm": Alternative("vit.TransformerEncoderBlock", _post_norm),
        "encoder_block.tanh_gelu": Alternative("vit.TransformerEncoderBlock", edit=_tanh_gelu),
    }
    for key in ("preact_basic", "preact_bottleneck"):
        table[f"{key}.relu_after_addition"] = Alternative(BLOCKS[key], _relu_after(reference_attr(BLOCKS[key])))
    for key, target in BLOCKS.items():
        table[f"{key}.attention_after_addition"] = Alternative(target, _attention_after(reference_attr(target)))
    return table


ALTERNATIVES: dict[str, Alternative] = _alternatives()


@functools.cache
def _changed_class(cls: type, key: str) -> type:
    """A subclass of ``cls`` whose forward is the alternative's (a class, so that copies keep it)."""
    return type(f"{cls.__name__}_{key.replace('.', '_')}", (cls,), {"forward": ALTERNATIVES[key].forward})


def with_alternatives(model: nn.Module, keys: Iterable[str]) -> nn.Module:
    """``model`` with the alternatives ``keys`` made to every instance of their classes (in place)."""
    for key in keys:
        alternative = ALTERNATIVES[key]
        target = reference_attr(alternative.target)
        for module in list(model.modules()):
            if not isinstance(module, target):
                continue
            if alternative.edit is not None:
                alternative.edit(module)
            if alternative.forward is not None:
                module.__class__ = _changed_class(type(module), key)
    return model


def gradcam_maps(model: nn.Module, layer: int, x: torch.Tensor, classes: torch.Tensor, weighting: str,
                 scaled: bool = True) -> torch.Tensor:
    """Grad-CAM maps (B, H, W) of ``model[layer]`` for ``classes`` (B,), with a known alternative
    (``weighting``: ``max`` channel weights, ``no-relu``, ``align-corners`` upsampling) or as the
    lab asks (``mean``); ``scaled`` False: before min-max scaling."""
    kept = []
    hook = model[layer].register_forward_hook(lambda module, inputs, output: kept.append(output))
    try:
        logits = model(x)
        (grads,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), kept[0])
    finally:
        hook.remove()
    weights = grads.amax(dim=(2, 3), keepdim=True) if weighting == "max" else grads.mean(dim=(2, 3), keepdim=True)
    cam = (weights * kept[0]).sum(1, keepdim=True)
    cam = cam if weighting == "no-relu" else F.relu(cam)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=weighting == "align-corners")[:, 0]
    if not scaled:
        return cam.detach()
    low, high = cam.amin(dim=(1, 2), keepdim=True), cam.amax(dim=(1, 2), keepdim=True)
    return ((cam - low) / (high - low).clamp_min(1e-7)).detach()
