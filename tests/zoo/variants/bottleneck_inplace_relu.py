"""BottleneckBlock with no ReLU module: in-place F.relu(..., inplace=True) on the BatchNorm outputs
and torch.relu_ on the sum."""
import torch
import torch.nn.functional as F
from torch import nn


class BottleneckBlock(nn.Module):
    expansion = 4
    preactivation = False

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = nn.Conv2d(out_channels, out_channels * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels * self.expansion)
        self.downsample = downsample
        self.attention = attention(out_channels * self.expansion) if attention is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu_(out + shortcut)
