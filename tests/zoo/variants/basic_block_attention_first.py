"""BasicBlock registering the attention module first, then the shortcut, then the convolutions
(so the attention's parameters come first in .parameters()); an nn.Identity shortcut when none is given."""
import torch
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1
    preactivation = False

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        self.attn = attention(out_channels) if attention is not None else nn.Identity()
        self.shortcut = downsample if downsample is not None else nn.Identity()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        return self.relu(out + residual)
