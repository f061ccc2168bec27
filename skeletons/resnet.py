"""ResNet blocks and networks (Lab 3, Part 1: residual learning).

Post-activation blocks follow He et al. 2016, "Deep Residual Learning for Image Recognition"
(arXiv:1512.03385). Pre-activation blocks follow He et al. 2016, "Identity Mappings in Deep
Residual Networks" (arXiv:1603.05027).

Conventions used by every block here:
- ``out_channels`` is the width of the block's convolutions; the block outputs
  ``out_channels * expansion`` channels (expansion 1 for basic blocks, 4 for bottlenecks).
- ``downsample`` is built by the caller (``ResNet._make_layer``) and maps the shortcut to the
  residual branch's shape when the stride or the channel count changes; ``None`` means identity.
- ``attention`` is a callable ``channels -> nn.Module`` (for example ``SEModule`` or ``CBAM``).
  Its module is applied to the residual branch's output *before* the addition, as in
  SE-ResNet (Hu et al. 2018, Fig. 3) and CBAM (Woo et al. 2018, Fig. 3).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Type, Union

import torch
from torch import nn

AttentionFactory = Callable[[int], nn.Module]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm follows or precedes it)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution with no bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Post-activation basic block: conv3x3-BN-ReLU-conv3x3-BN, add the shortcut, then ReLU.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    The stride sits on the first 3x3 convolution.
    """

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
        self.downsample = downsample
        self.attention = attention(out_channels * self.expansion) if attention is not None else None
        # TODO: define conv1, bn1, conv2, bn2 and a ReLU (use conv3x3; BN after each conv).
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        # TODO: residual branch, optional attention, shortcut (downsample if given), add, ReLU.
        # YOUR CODE HERE
        raise NotImplementedError()


class BottleneckBlock(nn.Module):
    """Post-activation bottleneck: 1x1 reduce, 3x3, 1x1 expand (x4), each followed by BN.

    Shapes: (B, in_channels, H, W) -> (B, 4 * out_channels, H / stride, W / stride).

    The stride sits on the 3x3 convolution ("ResNet v1.5", torchvision's choice). The original
    paper (v1), and one reading of the slides, put it on the first 1x1 convolution instead. A 1x1
    convolution with stride 2 skips three quarters of the positions, while a strided 3x3 one still
    sees them all: same parameters, about 0.5 % more top-1 accuracy on ImageNet (NVIDIA's ResNet-50
    v1.5 model card), for a few percent more compute. Parameter counts are identical either way.
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
        self.downsample = downsample
        self.attention = attention(out_channels * self.expansion) if attention is not None else None
        # TODO: define conv1 (1x1), bn1, conv2 (3x3, stride), bn2, conv3 (1x1, expand), bn3, ReLU.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, 4 * C_out, H', W')."""
        # TODO: three conv-BN stages (ReLU after the first two), attention, add shortcut, ReLU.
        # YOUR CODE HERE
        raise NotImplementedError()


class PreActBasicBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3, BN-ReLU-conv3x3, add; no ReLU after the add.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).
    ``downsample`` (a plain 1x1 convolution, no BN) is applied to the pre-activated input
    ``relu(bn1(x))``, so the shortcut stays a clean identity whenever no projection is needed.
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
        self.downsample = downsample
        self.attention = attention(out_channels * self.expansion) if attention is not None else None
        # TODO: define bn1 (on the input), conv1 (3x3, stride), bn2, conv2 (3x3) and a ReLU.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        # TODO: pre-activate, shortcut from x (or downsample of the pre-activated x), two
        # BN-ReLU-conv stages, attention, add. No ReLU at the end.
        # YOUR CODE HERE
        raise NotImplementedError()


class PreActBottleneckBlock(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-conv1x1, BN-ReLU-conv3x3 (stride), BN-ReLU-conv1x1 (x4).

    Shapes: (B, in_channels, H, W) -> (B, 4 * out_channels, H / stride, W / stride).
    As in ``PreActBasicBlock``, ``downsample`` acts on the pre-activated input and nothing
    follows the addition.
    """

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
        self.downsample = downsample
        self.attention = attention(out_channels * self.expansion) if attention is not None else None
        # TODO: define bn1, conv1 (1x1), bn2, conv2 (3x3, stride), bn3, conv3 (1x1, expand), ReLU.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, 4 * C_out, H', W')."""
        # TODO: as PreActBasicBlock, with three BN-ReLU-conv stages.
        # YOUR CODE HERE
        raise NotImplementedError()


Block = Type[Union[BasicBlock, BottleneckBlock, PreActBasicBlock, PreActBottleneckBlock]]
STEMS = ("imagenet", "cifar")


class ResNet(nn.Module):
    """A ResNet: stem, four stages of residual blocks (widths 64, 128, 256, 512), pool, classifier.

    Args:
        block: a block class; its ``expansion`` and ``preactivation`` attributes shape the network.
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        num_classes: size of the classifier output.
        in_channels: image channels.
        stem: ``"imagenet"`` (7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool: /4) or
            ``"cifar"`` (3x3 stride-1 conv, BN, ReLU, no max-pool: /1), for 32x32 images.
        attention: optional ``channels -> nn.Module`` factory passed to every block.

    Raises:
        ValueError: naming ``stem`` when it is not one of ``STEMS``, or ``layers`` when it does
            not give 4 stage depths.

    Pre-activation networks (``block.preactivation``) have no BN-ReLU in the stem, since the first
    block pre-activates its input, and end with BN-ReLU before pooling (as timm's ResNetV2).
    Stages 2-4 halve the resolution (stride 2 on their first block).

    Shapes: (B, in_channels, H, W) -> (B, num_classes).
    """

    def __init__(
        self,
        block: Block,
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: str = "imagenet",
        attention: Optional[AttentionFactory] = None,
    ) -> None:
        super().__init__()
        # TODO: raise a ValueError naming the argument for an unknown stem or layers of another length than 4.
        # YOUR CODE HERE
        raise NotImplementedError()
        self.in_planes = 64
        self.attention = attention
        preact = block.preactivation
        final_channels = 512 * block.expansion
        # TODO: the stem (conv1, bn1, relu, maxpool; use nn.Identity for the parts a stem lacks),
        # layer1..layer4 with _make_layer, avgpool, the final norm (BN-ReLU for pre-activation
        # networks, nn.Identity otherwise) named `norm`, and fc.
        # YOUR CODE HERE
        raise NotImplementedError()
        self._init_weights()

    def _make_layer(self, block: Block, planes: int, num_blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: ``num_blocks`` blocks of width ``planes``; only the first has ``stride``.

        The first block gets a ``downsample`` when the stride is not 1 or the channel count
        changes: conv1x1 + BN for post-activation blocks, a plain conv1x1 for pre-activation
        blocks. Updates ``self.in_planes`` to ``planes * block.expansion``.
        """
        # TODO: build the downsample when needed, then the blocks (pass self.attention on).
        # YOUR CODE HERE
        raise NotImplementedError()

    def _init_weights(self) -> None:
        """Kaiming-normal convolutions (fan_out, ReLU), BatchNorm at weight 1 and bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_classes)."""
        # TODO: stem, the four stages, final norm, global average pool, flatten, fc.
        # YOUR CODE HERE
        raise NotImplementedError()


# depth -> (post-activation block, pre-activation block, blocks per stage)
ARCHITECTURES = {
    18: (BasicBlock, PreActBasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, PreActBasicBlock, (3, 4, 6, 3)),
    50: (BottleneckBlock, PreActBottleneckBlock, (3, 4, 6, 3)),
    101: (BottleneckBlock, PreActBottleneckBlock, (3, 4, 23, 3)),
}


def _resnet(depth: int, num_classes: int, preact: bool, **kwargs) -> ResNet:
    post_block, pre_block, layers = ARCHITECTURES[depth]
    return ResNet(pre_block if preact else post_block, layers, num_classes=num_classes, **kwargs)


def resnet18(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    """ResNet-18 (11,689,512 parameters at the defaults, as torchvision's)."""
    return _resnet(18, num_classes, preact, **kwargs)


def resnet34(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    """ResNet-34 (21,797,672 parameters at the defaults, as torchvision's)."""
    return _resnet(34, num_classes, preact, **kwargs)


def resnet50(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    """ResNet-50 (25,557,032 parameters at the defaults, as torchvision's)."""
    return _resnet(50, num_classes, preact, **kwargs)


def resnet101(num_classes: int = 1000, preact: bool = False, **kwargs) -> ResNet:
    """ResNet-101 (44,549,160 parameters at the defaults, as torchvision's)."""
    return _resnet(101, num_classes, preact, **kwargs)
