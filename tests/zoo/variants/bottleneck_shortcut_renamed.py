"""BottleneckBlock with other names (c1..c3, n1..n3, shortcut), the shortcut computed after the
residual branch. In resnet50's first stage the shortcut's 1x1 conv (64 -> 256) has the same shape
as the block's last conv, so only the module structure tells them apart."""
import torch
import torch.nn.functional as F
from torch import nn


class BottleneckBlock(nn.Module):
    expansion = 4
    preactivation = False

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        width = out_channels * self.expansion
        self.c1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.n1 = nn.BatchNorm2d(out_channels)
        self.c2 = nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False)
        self.n2 = nn.BatchNorm2d(out_channels)
        self.c3 = nn.Conv2d(out_channels, width, 1, bias=False)
        self.n3 = nn.BatchNorm2d(width)
        self.shortcut = downsample
        self.se = attention(width) if attention is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.n1(self.c1(x)))
        out = F.relu(self.n2(self.c2(out)))
        out = self.n3(self.c3(out))
        if self.se is not None:
            out = self.se(out)
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))
