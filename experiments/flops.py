"""Analytic FLOP counts of the lab's ResNets and ViTs, from their configuration alone.

A multiply-add counts 2 FLOPs. Counted: convolutions and linear layers, and attention's Q K^T and
A V products; not counted: norms, activations, softmax, pooling and additions (as torch's
FlopCounterMode and the lab's profiler).
"""
from __future__ import annotations

RESNET_STAGES = {18: (1, (2, 2, 2, 2)), 34: (1, (3, 4, 6, 3)), 50: (4, (3, 4, 6, 3)), 101: (4, (3, 4, 23, 3))}
"""ResNet depth -> (block expansion, blocks per stage)."""


def conv_flops(c_in: int, c_out: int, kernel: int, height: int, width: int) -> int:
    """A k x k convolution (groups 1) producing (c_out, height, width): 2 * c_in * k * k FLOPs per output value."""
    return 2 * c_in * c_out * kernel * kernel * height * width


def halve(size: int) -> int:
    """The output size of a stride-2 convolution or pool with 'same' padding (1x1 p0, 3x3 p1, 7x7 p3)."""
    return (size - 1) // 2 + 1


def resnet_flops(expansion: int, layers, size: int, in_channels: int = 3, num_classes: int = 1000,
                 stem: str = "imagenet") -> int:
    """FLOPs of a ResNet (post- or pre-activation alike) with ``layers`` blocks per stage of
    ``expansion`` (1: basic, 4: bottleneck) on one (in_channels, size, size) image."""
    if stem == "imagenet":
        size = halve(size)  # 7x7 stride-2 conv
        total = conv_flops(in_channels, 64, 7, size, size)
        size = halve(size)  # 3x3 stride-2 max-pool: no FLOPs
    else:
        total = conv_flops(in_channels, 64, 3, size, size)
    channels = 64
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            out = halve(size) if stride == 2 else size
            if expansion == 1:  # 3x3 (stride) then 3x3
                total += conv_flops(channels, width, 3, out, out) + conv_flops(width, width, 3, out, out)
            else:  # 1x1 reduce at the input size, 3x3 with the stride, 1x1 expand
                total += conv_flops(channels, width, 1, size, size) + conv_flops(width, width, 3, out, out)
                total += conv_flops(width, width * expansion, 1, out, out)
            if stride != 1 or channels != width * expansion:  # 1x1 projection shortcut
                total += conv_flops(channels, width * expansion, 1, out, out)
            channels, size = width * expansion, out
    return total + 2 * channels * num_classes  # classifier


def vit_attention_flops(tokens: int, embed_dim: int, depth: int) -> int:
    """Q K^T and A V summed over the heads: 2 * T * T * D FLOPs each, in every block."""
    return depth * 2 * (2 * tokens * tokens * embed_dim)


def vit_flops(img_size: int = 224, patch_size: int = 16, in_channels: int = 3, num_classes: int = 1000,
              embed_dim: int = 768, depth: int = 12, mlp_ratio: float = 4.0) -> int:
    """FLOPs of a ViT on one image: patch projection, per block qkv, attention, output projection
    and MLP over all T tokens, and the head on the CLS token."""
    patches = (img_size // patch_size) ** 2
    tokens, hidden = patches + 1, int(embed_dim * mlp_ratio)
    embed = 2 * patches * in_channels * patch_size * patch_size * embed_dim
    linear = 2 * tokens * (3 * embed_dim * embed_dim + embed_dim * embed_dim + 2 * embed_dim * hidden)
    return embed + depth * linear + vit_attention_flops(tokens, embed_dim, depth) + 2 * embed_dim * num_classes
