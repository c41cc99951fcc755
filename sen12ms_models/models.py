"""The two SEN12MS baseline architectures, built from torchvision's layers, exactly as published.

- ``resnet50``: torchvision's ResNet50 with a ``in_chans``-channel 7x7/2 first convolution (no
  bias), global average pooling and a ``Linear(2048, num_classes)`` head. Any input size.
- ``densenet121``: torchvision's DenseNet121 feature stack (through ``norm5``) with the same
  first convolution, then NO ReLU and NO pooling: the 1024x8x8 map of a 256x256 patch is
  flattened into ``Linear(65536, num_classes)``. 256x256 input only, unless the head is reset
  with ``global_pool="avg"``.

Both share one interface (timm's names): ``forward_feature_map`` (the last convolutional map),
``forward_features`` (a pooled ``(N, num_features)`` embedding), ``forward_head`` (map -> logits),
``reset_classifier``, and the ``spec`` they were built for (a ``WeightsSpec`` or ``None``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models import densenet121 as tv_densenet121
from torchvision.models.resnet import Bottleneck, ResNet

if TYPE_CHECKING:
    from .weights import WeightsSpec

#: Input side length the DenseNet121 baseline's flattening head requires.
DENSENET_INPUT_SIZE = 256


def _init_kaiming(module: nn.Module) -> None:
    """The baselines' initialization: Kaiming normal on every conv and linear weight."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)


def _first_conv(in_chans: int) -> nn.Conv2d:
    if in_chans < 1:
        raise ValueError(f"in_chans must be >= 1, got {in_chans}")
    return nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)


class Sen12msClassifier(nn.Module):
    """What both architectures share: input checks, pooled features, head replacement."""

    arch: str
    in_chans: int
    num_classes: int
    num_features: int
    spec: WeightsSpec | None = None

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map ``(N, C, h, w)``."""
        raise NotImplementedError

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` from the output of ``forward_feature_map``."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Linear:
        raise NotImplementedError

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for a standardized batch ``(N, in_chans, H, W)``."""
        return self.forward_head(self.forward_feature_map(self._check_input(x)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """A pooled embedding ``(N, num_features)``: the feature map averaged over space."""
        return self.forward_feature_map(self._check_input(x, head=False)).mean(dim=(-2, -1))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a freshly initialized one with ``num_classes`` outputs."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        head = self._new_classifier(num_classes)
        nn.init.kaiming_normal_(head.weight)
        device = next(self.parameters()).device
        self._set_classifier(head.to(device))

    def _set_classifier(self, head: nn.Linear) -> None:
        raise NotImplementedError

    def first_conv(self) -> nn.Conv2d:
        raise NotImplementedError

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        """``(parent, conv name, bn name)`` wherever a BatchNorm directly follows a convolution."""
        raise NotImplementedError

    def _set_first_conv(self, conv: nn.Conv2d) -> None:
        raise NotImplementedError

    def adapt_in_chans(self, in_chans: int) -> None:
        """Make the first convolution read ``in_chans`` channels, keeping what it learned.

        Each new input channel gets the mean of the pretrained kernels over their input
        channels, scaled by ``old_in_chans / in_chans``, so that standardized inputs produce
        activations of the same expected magnitude as before (timm adapts the same way for
        arbitrary channel counts). Fine-tune afterwards: the new channels are not the old bands.
        """
        old = self.first_conv().weight.detach()
        conv = _first_conv(in_chans).to(device=old.device, dtype=old.dtype)
        with torch.no_grad():
            conv.weight.copy_(old.mean(dim=1, keepdim=True).expand(-1, in_chans, -1, -1) * (old.shape[1] / in_chans))
        self._set_first_conv(conv)
        self.in_chans = in_chans

    def _check_input(self, x: torch.Tensor, head: bool = True) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            bands = f" ({', '.join(self.spec.bands)})" if self.spec and len(self.spec.bands) == self.in_chans else ""
            raise ValueError(
                f"{self.arch} expects a batch (N, {self.in_chans}, H, W){bands}, got shape {tuple(x.shape)}"
            )
        return x


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

    def __init__(self, in_chans: int, num_classes: int = 10) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
        self.conv1 = _first_conv(in_chans)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = self.fc.in_features
        _init_kaiming(self)

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


class Sen12msDenseNet121(Sen12msClassifier):
    """DenseNet121 baseline: ``features`` (torchvision's, through norm5) + ``classifier``.

    ``global_pool`` is ``"flatten"`` for the published head (256x256 input only) or ``"avg"``
    for a global-average-pooled head that accepts any input size (for fine-tuning).
    """

    arch = "densenet121"

    def __init__(self, in_chans: int, num_classes: int = 10, global_pool: str = "flatten") -> None:
        super().__init__()
        self.features = tv_densenet121().features
        self.features.conv0 = _first_conv(in_chans)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = self.features.norm5.num_features
        self.global_pool = _check_global_pool(global_pool)
        self.classifier = self._new_classifier(num_classes)
        _init_kaiming(self)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        if self.global_pool == "avg":
            return self.classifier(feature_map.mean(dim=(-2, -1)))
        return self.classifier(torch.flatten(feature_map, 1))

    def get_classifier(self) -> nn.Linear:
        return self.classifier

    def first_conv(self) -> nn.Conv2d:
        return self.features.conv0

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        # DenseNet's other norms precede their convolutions (BN-ReLU-conv): nothing more to fold.
        return [(self.features, "conv0", "norm0")]

    def _set_first_conv(self, conv: nn.Conv2d) -> None:
        self.features.conv0 = conv

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """New head with ``num_classes`` outputs; ``global_pool="avg"`` frees the input size."""
        if global_pool is not None:
            self.global_pool = _check_global_pool(global_pool)
        super().reset_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        spatial = 1 if self.global_pool == "avg" else (DENSENET_INPUT_SIZE // 32) ** 2
        return nn.Linear(self.num_features * spatial, num_classes)

    def _set_classifier(self, head: nn.Linear) -> None:
        self.classifier = head

    def _check_input(self, x: torch.Tensor, head: bool = True) -> torch.Tensor:
        x = super()._check_input(x, head)
        if head and self.global_pool == "flatten" and tuple(x.shape[-2:]) != (DENSENET_INPUT_SIZE,) * 2:
            raise ValueError(
                f"densenet121's published head flattens the 8x8 map of a {DENSENET_INPUT_SIZE}x"
                f"{DENSENET_INPUT_SIZE} patch, got input {tuple(x.shape[-2:])}; crop or resize to "
                f"{DENSENET_INPUT_SIZE}x{DENSENET_INPUT_SIZE}, or call "
                "model.reset_classifier(num_classes, global_pool='avg') to fine-tune at another size"
            )
        return x


def _check_global_pool(global_pool: str) -> str:
    if global_pool not in ("flatten", "avg"):
        raise ValueError(f"global_pool must be 'flatten' or 'avg', got {global_pool!r}")
    return global_pool


def optimize_for_inference(model: Sen12msClassifier) -> Sen12msClassifier:
    """An inference-only copy of ``model``: BatchNorm folded into the convolution before it,
    channels-last memory, no gradients. Same outputs up to float rounding, about 1.3x faster
    on CPU for ResNet50 (see benchmarks/inference.py); not for training (its BNs are gone).

    >>> fast = optimize_for_inference(load_model("resnet50", "s1s2"))  # doctest: +SKIP
    """
    fused = copy.deepcopy(model).eval()
    for parent, conv_name, bn_name in fused.conv_bn_pairs():
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(parent, bn_name, nn.Identity())
    fused.requires_grad_(False)
    return fused.to(memory_format=torch.channels_last)


#: Architecture name -> builder ``(in_chans, num_classes) -> model``.
ARCHITECTURES: dict[str, Callable[[int, int], Sen12msClassifier]] = {
    "resnet50": Sen12msResNet50,
    "densenet121": Sen12msDenseNet121,
}


def build_model(arch: str, in_chans: int, num_classes: int = 10) -> Sen12msClassifier:
    """A randomly initialized baseline, e.g. ``build_model("resnet50", in_chans=12)``."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHITECTURES)}") from None
    return builder(in_chans, num_classes)
