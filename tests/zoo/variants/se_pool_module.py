"""SEModule with an nn.AdaptiveAvgPool2d module and the excitation as one nn.Sequential ending in nn.Sigmoid."""
import torch
from torch import nn


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = reduced_channels(channels, reduction)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excitation = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.shape
        w = self.excitation(self.squeeze(x).view(b, c))
        return x * w.view(b, c, 1, 1)
