"""BasicBlock whose residual branch (attention included) is one nn.Sequential, with an
nn.Identity shortcut when none is given; the shortcut runs after the branch."""
import torch
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1
    preactivation = False

    def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
        super().__init__()
        layers = [
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if attention is not None:
            layers.append(attention(out_channels))
        self.branch = nn.Sequential(*layers)
        self.shortcut = downsample if downsample is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.shortcut(x))
