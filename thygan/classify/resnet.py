"""ResNet-18/34/50/101/152 (He et al. 2016, "Deep Residual Learning for Image Recognition").

The module tree and parameter names are torchvision's (``conv1, bn1, layer1.0.conv1, ...,
layer4.2.downsample.1, fc``), so a torchvision state dict, e.g. ImageNet weights the user has, loads
with strict key checks; the stride of a bottleneck sits on its 3x3 convolution (torchvision's
"ResNet v1.5"). ``width`` scales every stage (64 is the standard network; 8 makes a CPU test net).
"""

from torch import nn

# depth -> (block kind, blocks per stage), Table 1 of the paper.
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with a shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = _conv1x1(channels, channels * self.expansion)
        self.bn3 = nn.BatchNorm2d(channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """An ImageNet-style ResNet classifier.

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: Outputs of the final linear layer ``fc``.
        width: Channels of the first stage; later stages double it.

    Input ``x: [N, 3, H, W]`` float32 (ImageNet-normalised); output logits ``[N, num_classes]``.
    """

    def __init__(self, *, depth: int = 50, num_classes: int = 1000, width: int = 64):
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"depth must be one of {sorted(RESNET_LAYOUTS)}, got {depth}")
        self.init_kwargs = dict(depth=depth, num_classes=num_classes, width=width)
        kind, blocks = RESNET_LAYOUTS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = width
        for stage, count in enumerate(blocks):
            channels = width * 2 ** stage
            layer, in_channels = self._stage(block, in_channels, channels, count, stride=1 if stage == 0 else 2)
            setattr(self, f"layer{stage + 1}", layer)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = in_channels
        self.fc = nn.Linear(in_channels, num_classes)
        self._init_weights()

    @staticmethod
    def _stage(block, in_channels: int, channels: int, count: int, *, stride: int) -> tuple[nn.Sequential, int]:
        out_channels = channels * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(_conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        layers = [block(in_channels, channels, stride=stride, downsample=downsample)]
        layers += [block(out_channels, channels) for _ in range(count - 1)]
        return nn.Sequential(*layers), out_channels

    def _init_weights(self) -> None:
        # He initialisation for ReLU networks (fan-out, as torchvision), unit BN scale, zero BN shift.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, x):
        """Pooled features ``[N, num_features]``: what ``fc`` sees."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))
