"""Channel and spatial attention modules (Lab 3, Part 2).

- SE: Hu et al. 2018, "Squeeze-and-Excitation Networks" (arXiv:1709.01507).
- CBAM: Woo et al. 2018, "CBAM: Convolutional Block Attention Module" (arXiv:1807.06521).

Both map (B, C, H, W) -> (B, C, H, W): they rescale the input, they never change its shape.
In a ResNet they act on the residual branch before the addition (see ``resnet.py``).
"""
from __future__ import annotations

import torch
from torch import nn


def reduced_channels(channels: int, reduction: int) -> int:
    """Hidden width of the attention MLP: ``channels // reduction``, at least 1.

    Raises:
        ValueError: naming ``channels`` or ``reduction`` when it is not a positive number.
    """
    # TODO: raise a ValueError naming the argument when channels or reduction is not positive.
    # YOUR CODE HERE
    raise NotImplementedError()
    return max(1, channels // reduction)


class SEModule(nn.Module):
    """Squeeze-and-Excitation: ``x * sigmoid(W2 relu(W1 avgpool(x) + b1) + b2)``, per channel.

    Squeeze: global average pool (B, C, H, W) -> (B, C). Excite: ``fc1`` (C -> C // reduction,
    with bias), ReLU, ``fc2`` (-> C, with bias), sigmoid. The gate (B, C) scales every position of
    its channel, so it lies in (0, 1) and is constant over space.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        # TODO: define fc1 (channels -> hidden), fc2 (hidden -> channels), both nn.Linear with bias.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: squeeze, excite, scale.
        # YOUR CODE HERE
        raise NotImplementedError()


class ChannelAttention(nn.Module):
    """CBAM channel attention: ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` scales each channel.

    One MLP (``fc1``: C -> C // reduction, ReLU, ``fc2``: -> C, both with bias) is shared by the
    average- and the max-pooled descriptors (Woo et al. 2018, Eq. 2). The slides say "apply the SE
    mechanism"; SE alone would drop the max-pooled descriptor, which the paper shows helps, so the
    paper's form is used.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        # TODO: define the shared MLP: fc1, ReLU, fc2 (nn.Linear with bias).
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: pool two ways, shared MLP on each, sum, sigmoid, scale.
        # YOUR CODE HERE
        raise NotImplementedError()


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``x * sigmoid(conv_kxk([avg_c(x); max_c(x)]))``.

    The two channel-pooled maps are stacked in that order, (B, 2, H, W), and one k x k
    convolution with bias (padding k // 2, no BatchNorm) gives the (B, 1, H, W) gate.

    Raises:
        ValueError: naming ``kernel_size`` when it is not a positive odd number (an even kernel
            would change the spatial size).
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        # TODO: raise a ValueError naming kernel_size when it is not positive and odd.
        # YOUR CODE HERE
        raise NotImplementedError()
        # TODO: define conv: 2 -> 1 channels, kernel_size, padding kernel_size // 2, with bias.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: pool over channels two ways, stack [avg; max], conv, sigmoid, scale.
        # YOUR CODE HERE
        raise NotImplementedError()


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention, then spatial attention.

    The order (channel first) is the paper's best (Woo et al. 2018, Table 4) and the slides'.
    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel_attention = ChannelAttention(channels, reduction)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: apply channel attention, then spatial attention.
        # YOUR CODE HERE
        raise NotImplementedError()
