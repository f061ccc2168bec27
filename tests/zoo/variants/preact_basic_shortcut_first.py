"""PreActBasicBlock registering its shortcut projection before the branch layers and running it
after them (on the pre-activated input, kept in a variable)."""
import torch
from torch import nn


class PreActBasicBlock(nn.Module):
    expansion = 1
    preactivation = True

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        self.shortcut = downsample
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.attention = attention(out_channels) if attention is not None else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.relu(self.bn1(x))
        out = self.conv1(a)
        out = self.conv2(self.relu(self.bn2(out)))
        if self.attention is not None:
            out = self.attention(out)
        if self.shortcut is not None:
            return out + self.shortcut(a)
        return out + x
