"""The ResNet50 baseline: torchvision's ResNet50 with an ``in_chans``-channel first convolution.

Exactly as Schmitt & Wu (2021) built it: a 7x7/2 first convolution without bias reading 3,
10 or 12 channels, global average pooling and a ``Linear(2048, num_classes)`` head; Kaiming
normal init on every conv and linear weight. Any input size. State-dict keys are
torchvision's (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, ``fc``), which timm's ResNet50 shares.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.models.base import Sen12msClassifier, init_kaiming, stem_conv


class Sen12msResNet50(ResNet, Sen12msClassifier):
    """ResNet50 baseline; state-dict keys are torchvision's (``conv1``, ``layer1``... ``fc``)."""

    arch = "resnet50"
    # torchvision's submodules, declared for type checkers (nn.Module.__getattr__ is untyped)
    conv1: nn.Conv2d
    bn1: nn.BatchNorm2d
    relu: nn.ReLU
    maxpool: nn.MaxPool2d
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential
    avgpool: nn.AdaptiveAvgPool2d
    fc: nn.Linear

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
        self.conv1 = stem_conv(in_chans)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = self.fc.in_features
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # ResNet.forward would win the MRO
        return Sen12msClassifier.forward(self, x)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(feature_map), 1))

    def get_classifier(self) -> nn.Linear:
        return self.fc

    def first_conv(self) -> nn.Conv2d:
        return self.conv1

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        pairs: list[tuple[nn.Module, str, str]] = [(self, "conv1", "bn1")]
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in layer:
                pairs += [(block, f"conv{i}", f"bn{i}") for i in (1, 2, 3)]
                if isinstance(block.downsample, nn.Module):  # None where the block keeps its shape
                    pairs.append((block.downsample, "0", "1"))
        return pairs

    def _set_first_conv(self, conv: nn.Conv2d) -> None:
        self.conv1 = conv

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        return nn.Linear(self.num_features, num_classes)

    def _set_classifier(self, head: nn.Linear) -> None:
        self.fc = head
