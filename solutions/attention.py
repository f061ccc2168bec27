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
    ### BEGIN SOLUTION
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    if reduction < 1:
        raise ValueError(f"reduction must be positive, got {reduction}")
    ### END SOLUTION
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
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: squeeze, excite, scale.
        ### BEGIN SOLUTION
        squeezed = x.mean(dim=(2, 3))  # (B, C, H, W) -> (B, C)
        gate = torch.sigmoid(self.fc2(self.relu(self.fc1(squeezed))))
        return x * gate[:, :, None, None]  # (B, C) -> (B, C, 1, 1), broadcast over space
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: pool two ways, shared MLP on each, sum, sigmoid, scale.
        ### BEGIN SOLUTION
        avg = self.fc2(self.relu(self.fc1(x.mean(dim=(2, 3)))))  # (B, C)
        mx = self.fc2(self.relu(self.fc1(x.amax(dim=(2, 3)))))  # (B, C)
        return x * torch.sigmoid(avg + mx)[:, :, None, None]
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the spatial size, got {kernel_size}")
        ### END SOLUTION
        # TODO: define conv: 2 -> 1 channels, kernel_size, padding kernel_size // 2, with bias.
        ### BEGIN SOLUTION
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=True)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        # TODO: pool over channels two ways, stack [avg; max], conv, sigmoid, scale.
        ### BEGIN SOLUTION
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.conv(pooled))  # gate (B, 1, H, W)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        return self.spatial_attention(self.channel_attention(x))
        ### END SOLUTION
