"""ResNet whose four stages are built in a Python loop into an nn.ModuleList, run in a loop, and
flattened with x.view(x.size(0), -1) instead of torch.flatten."""
import torch
from torch import nn


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, in_channels=3, stem="imagenet", attention=None):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if len(layers) != 4:
            raise ValueError(f"layers must give 4 stage depths, got {list(layers)}")
        self.in_planes = 64
        self.attention = attention
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        if block.preactivation:
            self.bn1 = nn.Identity()
            self.relu = nn.Identity()
        else:
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
        self.stages = nn.ModuleList()
        for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
            self.stages.append(self._make_layer(block, planes, n, stride=1 if i == 0 else 2))
        channels = 512 * block.expansion
        if block.preactivation:
            self.norm = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        else:
            self.norm = nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _make_layer(self, block, planes, num_blocks, stride=1):
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            if block.preactivation:
                downsample = nn.Conv2d(self.in_planes, planes * block.expansion, 1, stride=stride, bias=False)
            else:
                downsample = nn.Sequential(
                    nn.Conv2d(self.in_planes, planes * block.expansion, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes * block.expansion),
                )
        layers = []
        for i in range(num_blocks):
            if i == 0:
                layers.append(block(self.in_planes, planes, stride, downsample, self.attention))
            else:
                layers.append(block(self.in_planes, planes, attention=self.attention))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        for stage in self.stages:
            x = stage(x)
        x = self.norm(x)
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)
