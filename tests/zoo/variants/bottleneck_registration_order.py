"""BottleneckBlock registering its layers in reverse order (parameters are listed last-first),
with torch.relu and an out-of-place addition."""
import torch
from torch import nn


class BottleneckBlock(nn.Module):
    expansion = 4
    preactivation = False

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        width = out_channels * self.expansion
        self.attention = attention(width) if attention is not None else None
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(out_channels, width, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        return torch.relu(out + identity)
