"""Pre-activation blocks with F.relu, other names, the layers registered convolutions first, and
a list-driven forward for the bottleneck."""
import torch
import torch.nn.functional as F
from torch import nn


class PreActBasicBlock(nn.Module):
    expansion = 1
    preactivation = True

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        self.conv_a = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.conv_b = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.norm_a = nn.BatchNorm2d(in_channels)
        self.norm_b = nn.BatchNorm2d(out_channels)
        self.shortcut = downsample
        self.gate = attention(out_channels) if attention is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.norm_a(x))
        skip = self.shortcut(a) if self.shortcut is not None else x
        out = self.conv_b(F.relu(self.norm_b(self.conv_a(a))))
        return self.gate(out) + skip


class PreActBottleneckBlock(nn.Module):
    expansion = 4
    preactivation = True

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        width = out_channels * self.expansion
        self.convs = nn.ModuleList([
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.Conv2d(out_channels, width, 1, bias=False),
        ])
        self.norms = nn.ModuleList([nn.BatchNorm2d(c) for c in (in_channels, out_channels, out_channels)])
        self.shortcut = downsample
        self.gate = attention(width) if attention is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        skip = x
        for index, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            out = F.relu(norm(out))
            if index == 0 and self.shortcut is not None:
                skip = self.shortcut(out)
            out = conv(out)
        if self.gate is not None:
            out = self.gate(out)
        return out + skip
