"""PreActBottleneckBlock as two submodules: `preact` (BN-ReLU of the input) and `branch` (an
nn.Sequential of conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1); the shortcut is computed after the branch."""
import torch
from torch import nn


class PreActBottleneckBlock(nn.Module):
    expansion = 4
    preactivation = True

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        width = out_channels * self.expansion
        self.preact = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, width, 1, bias=False),
        )
        self.attention = attention(width) if attention is not None else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.preact(x)
        out = self.branch(pre)
        if self.attention is not None:
            out = self.attention(out)
        shortcut = x if self.downsample is None else self.downsample(pre)
        return out + shortcut
