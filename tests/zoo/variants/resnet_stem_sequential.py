"""ResNet with the stem and the stages in nn.Sequential containers, a head named `head`,
functional pooling, and a loop building the stages."""
import torch
import torch.nn.functional as F
from torch import nn


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, in_channels=3, stem="imagenet", attention=None):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"unknown stem {stem!r}")
        if len(layers) != 4:
            raise ValueError(f"layers needs one depth per stage (4), got {len(layers)}")
        self.in_planes = 64
        self.attention = attention
        parts = []
        if stem == "imagenet":
            parts.append(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False))
        else:
            parts.append(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False))
        if not block.preactivation:
            parts += [nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
        if stem == "imagenet":
            parts.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*parts)
        self.stages = nn.Sequential(*[
            self._make_layer(block, width, depth, stride=1 if index == 0 else 2)
            for index, (width, depth) in enumerate(zip((64, 128, 256, 512), layers))
        ])
        final = 512 * block.expansion
        self.final_bn = nn.BatchNorm2d(final) if block.preactivation else None
        self.head = nn.Linear(final, num_classes)
        self._init_weights()

    def _make_layer(self, block, planes, num_blocks, stride=1):
        out_planes = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_planes != out_planes:
            conv = nn.Conv2d(self.in_planes, out_planes, 1, stride, bias=False)
            downsample = conv if block.preactivation else nn.Sequential(conv, nn.BatchNorm2d(out_planes))
        blocks = []
        for index in range(num_blocks):
            blocks.append(block(self.in_planes, planes, stride if index == 0 else 1,
                                downsample if index == 0 else None, self.attention))
            self.in_planes = out_planes
        return nn.Sequential(*blocks)

    def _init_weights(self):
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))
