"""The DenseNet121 baseline (Schmitt & Wu, 2021): torchvision's DenseNet121 features through ``norm5``
with a 7x7/2 first convolution, then no ReLU and no pooling: the 1024x8x8 map of a 256x256 patch is
flattened into ``Linear(65536, num_classes)``, so the published head takes 256x256 input only.
``global_pool="avg"`` gives a pooled head that takes any size (for fine-tuning)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import densenet121 as tv_densenet121

from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.models.base import Sen12msClassifier, stem_conv

#: DenseNet121 downsamples by 32: the 8x8 map of a 256x256 patch feeds the flattening head.
REDUCTION = 32


class Sen12msDenseNet121(Sen12msClassifier):
    """DenseNet121 baseline: ``features`` (torchvision's, through norm5) + ``classifier``; ``global_pool`` above."""

    arch, first_conv_name, classifier_name = "densenet121", "features.conv0", "classifier"

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES, global_pool: str = "flatten") -> None:
        super().__init__()
        self.features = tv_densenet121().features
        self.features.conv0 = stem_conv(in_chans)
        self.num_features = self.features.norm5.num_features
        self.global_pool = _check_global_pool(global_pool)
        self.classifier = nn.Linear(self._head_features(), num_classes)
        self._init_weights_and_spec(in_chans, num_classes, self.global_pool)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        pooled = feature_map.mean(dim=(-2, -1)) if self.global_pool == "avg" else torch.flatten(feature_map, 1)
        return self.classifier(pooled)

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        # only the stem: in the dense layers each BN opens a BN-ReLU-conv unit
        return [(self.features, "conv0", "norm0")]

    def reset_classifier(
        self,
        num_classes: int,
        global_pool: str | None = None,
        *,
        label_type: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        """``Sen12msClassifier.reset_classifier``; ``global_pool="avg"`` frees the input size."""
        if global_pool is not None:
            self.global_pool = _check_global_pool(global_pool)
            self.spec = dataclasses.replace(self.spec, global_pool=self.global_pool)
        super().reset_classifier(num_classes, label_type=label_type, classes=classes)

    def _head_features(self) -> int:
        return self.num_features * (1 if self.global_pool == "avg" else (PATCH_SIZE // REDUCTION) ** 2)

    def _check_input(self, x: torch.Tensor, head: bool) -> torch.Tensor:
        x = super()._check_input(x, head)
        if head and self.global_pool == "flatten" and tuple(x.shape[-2:]) != (PATCH_SIZE,) * 2:
            raise ValueError(
                f"densenet121's published head flattens the 8x8 map of a {PATCH_SIZE}x{PATCH_SIZE} patch, got input "
                f"{tuple(x.shape[-2:])}; crop or resize to {PATCH_SIZE}x{PATCH_SIZE}, or call "
                "model.reset_classifier(num_classes, global_pool='avg') to fine-tune at another size"
            )
        return x


def _check_global_pool(global_pool: str) -> str:
    if global_pool not in ("flatten", "avg"):
        raise ValueError(f"global_pool must be 'flatten' or 'avg', got {global_pool!r}")
    return global_pool
