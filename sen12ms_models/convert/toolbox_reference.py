"""The SEN12MS toolbox's two classifier wrappers, restated from their documented structure.

The toolbox's released checkpoints are state dicts of these wrappers, whose key names differ
from torchvision's. ``sen12ms-models convert`` loads an ORIGINAL state dict into one of these
and the converted one into our model, and requires identical logits: the proof that the
renaming is exact. The tests also use them to write checkpoints in the toolbox's format.

They are written from the published facts (layer order, head sizes, key names), not from the
toolbox's code, which is licensed for non-commercial use only. They are deliberately built
differently from ``sen12ms_models.models`` (an ``encoder`` Sequential plus a head), so that a
mistake in either is caught by the comparison rather than repeated in both.

- ResNet50: ``conv1`` (registered first, so its weight is stored twice: ``conv1.weight`` and
  ``encoder.0.weight``), ``encoder = Sequential(conv1, bn1, relu, maxpool, layer1..4,
  avgpool)``, head ``FC = Linear(2048, num_classes)``.
- DenseNet121: ``encoder = Sequential(conv0, norm0, relu0, pool0, denseblock1, transition1,
  ..., denseblock4, norm5)`` (torchvision's feature stack in its own order, new first
  convolution), no final ReLU or pooling, head ``classifier = Linear(65536, num_classes)``
  on the flattened 1024x8x8 map of a 256x256 patch.
"""

from __future__ import annotations

from types import MappingProxyType

import torch
from torch import nn
from torchvision.models import densenet121, resnet50

from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.classes import NUM_CLASSES

#: Head key and input features of each wrapper: ResNet50's pooled 2048 features; DenseNet121's
#: flattened 1024 x 8 x 8 map of a 256 x 256 patch (it downsamples by 32).
TOOLBOX_HEADS: MappingProxyType[str, tuple[str, int]] = MappingProxyType(
    {"resnet50": ("FC.weight", 2048), "densenet121": ("classifier.weight", 1024 * (PATCH_SIZE // 32) ** 2)}
)

#: The ``arch`` value the toolbox writes into its checkpoints, per architecture of this package.
TOOLBOX_ARCH_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {"resnet50": "ResNet50", "densenet121": "DenseNet121"}
)


def _stem(in_chans: int) -> nn.Conv2d:
    """The wrappers' replacement first layer: a 7x7/2 convolution without bias."""
    return nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)


class ToolboxResNet50(nn.Module):
    """The toolbox's ResNet50 wrapper: ``conv1`` + ``encoder`` Sequential + ``FC`` head."""

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        resnet = resnet50()
        self.conv1 = _stem(in_chans)
        self.encoder = nn.Sequential(
            self.conv1,
            resnet.bn1,
            resnet.relu,
            resnet.maxpool,
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
            resnet.avgpool,
        )
        self.FC = nn.Linear(TOOLBOX_HEADS["resnet50"][1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.FC(torch.flatten(self.encoder(x), 1))


class ToolboxDenseNet121(nn.Module):
    """The toolbox's DenseNet121 wrapper: ``encoder`` Sequential + flattening ``classifier``."""

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        features = densenet121().features
        self.encoder = nn.Sequential(_stem(in_chans), *list(features.children())[1:])
        self.classifier = nn.Linear(TOOLBOX_HEADS["densenet121"][1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.encoder(x), 1))


def build_toolbox_model(arch: str, in_chans: int, num_classes: int = NUM_CLASSES) -> nn.Module:
    """The toolbox wrapper of ``arch`` (``resnet50`` or ``densenet121``), randomly initialized.

    >>> sorted(build_toolbox_model("resnet50", 12).state_dict())[:2]
    ['FC.bias', 'FC.weight']
    """
    builders = {"resnet50": ToolboxResNet50, "densenet121": ToolboxDenseNet121}
    try:
        builder = builders[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; the toolbox wrappers are {', '.join(builders)}") from None
    return builder(in_chans, num_classes)
