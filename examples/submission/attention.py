"""Lab 3, Part 2: channel and spatial attention (example submission).

SE: Hu et al. 2018, arXiv:1709.01507. CBAM: Woo et al. 2018, arXiv:1807.06521.
Both rescale their input, (B, C, H, W) -> (B, C, H, W). The MLPs are written as 1x1
convolutions on (B, C, 1, 1) descriptors, the same maps as linear layers on (B, C).
"""
from __future__ import annotations

import torch
from torch import nn


def mlp(channels: int, reduction: int) -> nn.Sequential:
    """C -> max(1, C // reduction) -> C, both with bias, ReLU between: (B, C, 1, 1) -> (B, C, 1, 1).

    Raises ValueError when channels or reduction is not positive.
    """
    for name, value in (("channels", channels), ("reduction", reduction)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    hidden = max(1, channels // reduction)
    return nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))


class SEModule(nn.Module):
    """Squeeze (global average pool), excite (MLP, sigmoid), scale every channel by its gate."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.excite = nn.Sequential(mlp(channels, reduction), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        squeezed = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * self.excite(squeezed)


class CBAM(nn.Module):
    """Channel attention (one MLP shared by the average- and max-pooled descriptors), then
    spatial attention (a k x k conv with bias over the stacked [mean; max] channel maps)."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 == 0 or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.shared_mlp = mlp(channels, reduction)
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def channel_gate(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> gate (B, C, 1, 1)."""
        average = self.shared_mlp(x.mean(dim=(2, 3), keepdim=True))
        maximum = self.shared_mlp(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(average + maximum)

    def spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> gate (B, 1, H, W)."""
        maps = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return torch.sigmoid(self.spatial_conv(maps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)
