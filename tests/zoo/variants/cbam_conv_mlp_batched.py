"""CBAM channel attention with a 1x1-convolution MLP run once on both descriptors stacked along
the batch, and spatial attention pooling with torch.max / torch.mean and torch.stack."""
import torch
from torch import nn


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)])  # (2B, C, 1, 1)
        avg, mx = self.mlp(pooled).chunk(2)
        return x * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"kernel_size {kernel_size} should be odd and positive")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.stack([torch.mean(x, dim=1), torch.max(x, dim=1).values], dim=1)  # (B, 2, H, W)
        return x * self.conv(pooled).sigmoid()
