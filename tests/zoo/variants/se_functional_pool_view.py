"""SEModule squeezing with F.adaptive_avg_pool2d and reshaping with .view, F.relu and torch.sigmoid."""
import torch
import torch.nn.functional as F
from torch import nn


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, reduced_channels(channels, reduction))
        self.fc2 = nn.Linear(reduced_channels(channels, reduction), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.size()
        y = F.adaptive_avg_pool2d(x, 1).view(b, c)
        y = torch.sigmoid(self.fc2(F.relu(self.fc1(y)))).view(b, c, 1, 1)
        return x * y
