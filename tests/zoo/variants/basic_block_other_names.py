"""BasicBlock with other attribute names (c1, n1, ...), F.relu instead of a module, a 3x3 conv
written out, and the attention and shortcut stored under names of its own."""
import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1
    preactivation = False

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.n1 = nn.BatchNorm2d(out_channels)
        self.c2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.n2 = nn.BatchNorm2d(out_channels)
        self.proj = downsample
        self.att = attention(out_channels) if attention is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.proj is None else self.proj(x)
        h = F.relu(self.n1(self.c1(x)))
        h = self.n2(self.c2(h))
        if self.att is not None:
            h = self.att(h)
        return F.relu(h + skip)
