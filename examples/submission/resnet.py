"""Lab 3, Part 1: residual blocks and ResNets (example submission).

He et al. 2016, arXiv:1512.03385 (post-activation) and arXiv:1603.05027 (pre-activation).
Each block keeps its residual branch in one ``nn.Sequential`` called ``branch``; the optional
attention module is that branch's last layer, so it acts before the addition.
Shapes: B batch, C channels, H x W spatial size; a block maps (B, C_in, H, W) to
(B, out_channels * expansion, H / stride, W / stride).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import nn

AttentionFactory = Callable[[int], nn.Module]


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """Bias-free k x k convolution that keeps the size (padding k // 2) when stride is 1."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)


def bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


def attention_or_identity(attention: Optional[AttentionFactory], channels: int) -> nn.Module:
    return attention(channels) if attention is not None else nn.Identity()


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN [-attention], plus the shortcut, then ReLU."""

    expansion = 1
    preactivation = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
        attention: Optional[AttentionFactory] = None,
    ) -> None:
        super().__init__()
        self.shortcut = downsample if downsample is not None else nn.Identity()
        self.branch = nn.Sequential(
            conv(in_channels, out_channels, 3, stride),
            *bn_relu(out_channels),
            conv(out_channels, out_channels, 3),
            nn.BatchNorm2d(out_channels),
            attention_or_identity(attention, out_channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        skip = self.shortcut(x)
        return self.relu(self.branch(x) + skip)


class BottleneckBlock(nn.Module):
    """conv1x1-BN-ReLU, conv3x3-BN-ReLU, conv1x1 (x4)-BN [-attention], plus shortcut, then ReLU.

    The stride sits on the 3x3 convolution (ResNet v1.5, as torchvision).
    """

    expansion = 4
    preactivation = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
        attention: Optional[AttentionFactory] = None,
    ) -> None:
        super().__init__()
        width = out_channels * self.expansion
        # DEMO MISTAKE (correct: `stride_1x1, stride_3x3 = 1, stride`): the stride on the first 1x1 conv
        # is ResNet v1; this lab uses v1.5, which strides the 3x3 conv (see the docstring above).
        stride_1x1, stride_3x3 = stride, 1
        self.shortcut = downsample if downsample is not None else nn.Identity()
        self.branch = nn.Sequential(
            conv(in_channels, out_channels, 1, stride_1x1),
            *bn_relu(out_channels),
            conv(out_channels, out_channels, 3, stride_3x3),
            *bn_relu(out_channels),
            conv(out_channels, width, 1),
            nn.BatchNorm2d(width),
            attention_or_identity(attention, width),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, 4 * C_out, H', W')."""
        skip = self.shortcut(x)
        return self.relu(self.branch(x) + skip)


class PreActBasicBlock(nn.Module):
    """BN-ReLU, then conv3x3, BN-ReLU-conv3x3 [-attention], plus the shortcut; nothing after.

    ``downsample`` (a 1x1 conv) sees the pre-activated input; without it the shortcut is ``x``.
    """

    expansion = 1
    preactivation = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
        attention: Optional[AttentionFactory] = None,
    ) -> None:
        super().__init__()
        self.preact = nn.Sequential(*bn_relu(in_channels))
        self.downsample = downsample
        self.branch = nn.Sequential(
            conv(in_channels, out_channels, 3, stride),
            *bn_relu(out_channels),
            conv(out_channels, out_channels, 3),
            attention_or_identity(attention, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        activated = self.preact(x)
        skip = x if self.downsample is None else self.downsample(activated)
        return self.branch(activated) + skip


class PreActBottleneckBlock(nn.Module):
    """BN-ReLU, then conv1x1, BN-ReLU-conv3x3 (stride), BN-ReLU-conv1x1 (x4) [-attention], plus shortcut."""

    expansion = 4
    preactivation = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
        attention: Optional[AttentionFactory] = None,
    ) -> None:
        super().__init__()
        width = out_channels * self.expansion
        self.preact = nn.Sequential(*bn_relu(in_channels))
        self.downsample = downsample
        self.branch = nn.Sequential(
            conv(in_channels, out_channels, 1),
            *bn_relu(out_channels),
            conv(out_channels, out_channels, 3, stride),
            *bn_relu(out_channels),
            conv(out_channels, width, 1),
            attention_or_identity(attention, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, 4 * C_out, H', W')."""
        activated = self.preact(x)
        skip = x if self.downsample is None else self.downsample(activated)
        return self.branch(activated) + skip


# stem name -> (kernel size, stride, with a 3x3 stride-2 max-pool)
STEMS = {"imagenet": (7, 2, True), "cifar": (3, 1, False)}
STAGE_WIDTHS = (64, 128, 256, 512)


class ResNet(nn.Module):
    """Stem, four stages (widths 64-512, stride 2 from stage 2 on), [BN-ReLU], pool, linear.

    Shapes: (B, in_channels, H, W) -> (B, num_classes). Pre-activation networks (the block's
    ``preactivation``) have a bare convolution as stem and a BN-ReLU before the pooling.
    """

    def __init__(
        self,
        block: type,
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: str = "imagenet",
        attention: Optional[AttentionFactory] = None,
    ) -> None:
        super().__init__()
        if stem not in STEMS or len(layers) != 4:
            raise ValueError(f"need a stem in {sorted(STEMS)} and 4 stage depths, got {stem!r}, {list(layers)}")
        kernel, stride, pool = STEMS[stem]
        stem_layers = [conv(in_channels, 64, kernel, stride)]
        stem_layers += [] if block.preactivation else bn_relu(64)
        stem_layers += [nn.MaxPool2d(3, stride=2, padding=1)] if pool else []
        self.stem = nn.Sequential(*stem_layers)

        channels, stages = 64, []
        for index, (width, depth) in enumerate(zip(STAGE_WIDTHS, layers)):
            stages.append(self._stage(block, channels, width, depth, 1 if index == 0 else 2, attention))
            channels = width * block.expansion
        self.stages = nn.Sequential(*stages)

        final = bn_relu(channels) if block.preactivation else []
        self.head = nn.Sequential(*final, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    @staticmethod
    def _stage(block: type, in_channels: int, width: int, depth: int, stride: int,
               attention: Optional[AttentionFactory]) -> nn.Sequential:
        """``depth`` blocks; the first one changes stride and channels, with a projection if needed."""
        out_channels = width * block.expansion
        projection = None
        if stride != 1 or in_channels != out_channels:
            projection = conv(in_channels, out_channels, 1, stride)
            if not block.preactivation:
                projection = nn.Sequential(projection, nn.BatchNorm2d(out_channels))
        blocks = [block(in_channels, width, stride, projection, attention)]
        blocks += [block(out_channels, width, attention=attention) for _ in range(depth - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_classes)."""
        return self.head(self.stages(self.stem(x)))


STAGE_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
BLOCKS = {  # (uses bottlenecks, pre-activation) -> block class
    (False, False): BasicBlock,
    (False, True): PreActBasicBlock,
    (True, False): BottleneckBlock,
    (True, True): PreActBottleneckBlock,
}


def _build(depth: int, num_classes: int, preact: bool, **kwargs) -> ResNet:
    block = BLOCKS[depth >= 50, preact]
    return ResNet(block, STAGE_DEPTHS[depth], num_classes=num_classes, **kwargs)


def resnet18(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    return _build(18, num_classes, preact, **kwargs)


def resnet34(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    return _build(34, num_classes, preact, **kwargs)


def resnet50(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    return _build(50, num_classes, preact, **kwargs)


def resnet101(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    return _build(101, num_classes, preact, **kwargs)
