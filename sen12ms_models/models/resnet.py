"""The ResNet50 baseline (Schmitt & Wu, 2021): torchvision's ResNet50 with a 7x7/2 first convolution
without bias from ``in_chans`` channels, average pooling, ``Linear(2048, num_classes)``, Kaiming init.
Any input size; torchvision's state-dict keys, which timm's ResNet50 shares."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.models.base import Sen12msClassifier, stem_conv


class Sen12msResNet50(Sen12msClassifier, ResNet):
    """ResNet50 baseline; state-dict keys are torchvision's (``conv1``, ``layer1``... ``fc``)."""

    arch, first_conv_name, classifier_name = "resnet50", "conv1", "fc"
    num_features = 512 * Bottleneck.expansion  # torchvision's fc input: 2048
    #: What ``forward_feature_map`` runs, in ``ResNet.forward``'s order.
    feature_layers = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
        self.conv1 = stem_conv(in_chans)
        self._init_weights_and_spec(in_chans, num_classes, "avg")

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.feature_layers:
            x = self.get_submodule(name)(x)
        return x

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.get_classifier()(torch.flatten(self.get_submodule("avgpool")(feature_map), 1))

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        pairs: list[tuple[nn.Module, str, str]] = [(self, "conv1", "bn1")]
        for block in self.modules():
            if isinstance(block, Bottleneck):
                pairs += [(block, f"conv{i}", f"bn{i}") for i in (1, 2, 3)]
                if block.downsample is not None:
                    pairs.append((block.downsample, "0", "1"))
        return pairs
