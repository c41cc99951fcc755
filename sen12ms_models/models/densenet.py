"""The DenseNet121 baseline: torchvision's feature stack with a flattening head.

Exactly as Schmitt & Wu (2021) built it: torchvision's DenseNet121 features (through
``norm5``) with a new 7x7/2 first convolution, then NO final ReLU and NO pooling: the
1024x8x8 map of a 256x256 patch is flattened into ``Linear(65536, num_classes)``. The
published head therefore takes 256x256 input only (``bands.PATCH_SIZE``); any other size gets
a clear error. ``global_pool="avg"`` gives a pooled head that takes any size (for fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import densenet121 as tv_densenet121

from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.models.base import Sen12msClassifier, init_kaiming, stem_conv

#: DenseNet121 downsamples by 32: the 8x8 map of a 256x256 patch feeds the flattening head.
REDUCTION = 32


class Sen12msDenseNet121(Sen12msClassifier):
    """DenseNet121 baseline: ``features`` (torchvision's, through norm5) + ``classifier``.

    ``global_pool`` is ``"flatten"`` for the published head (256x256 input only) or ``"avg"``
    for a global-average-pooled head that accepts any input size (for fine-tuning).
    """

    arch = "densenet121"

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES, global_pool: str = "flatten") -> None:
        super().__init__()
        self.features = tv_densenet121().features
        self.features.conv0 = stem_conv(in_chans)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = self.features.norm5.num_features
        self.global_pool = _check_global_pool(global_pool)
        self.classifier = self._new_classifier(num_classes)
        init_kaiming(self)

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

    def reset_classifier(
        self,
        num_classes: int,
        global_pool: str | None = None,
        *,
        label_type: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        """New head with ``num_classes`` outputs; ``global_pool="avg"`` frees the input size.

        ``label_type`` and ``classes`` describe the new head (see ``Sen12msClassifier.reset_classifier``).
        """
        if global_pool is not None:
            self.global_pool = _check_global_pool(global_pool)
        super().reset_classifier(num_classes, label_type=label_type, classes=classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        spatial = 1 if self.global_pool == "avg" else (PATCH_SIZE // REDUCTION) ** 2
        return nn.Linear(self.num_features * spatial, num_classes)

    def _set_classifier(self, head: nn.Linear) -> None:
        self.classifier = head

    def _check_input(self, x: torch.Tensor, head: bool = True) -> torch.Tensor:
        x = super()._check_input(x, head)
        if head and self.global_pool == "flatten" and tuple(x.shape[-2:]) != (PATCH_SIZE,) * 2:
            raise ValueError(
                f"densenet121's published head flattens the 8x8 map of a {PATCH_SIZE}x"
                f"{PATCH_SIZE} patch, got input {tuple(x.shape[-2:])}; crop or resize to "
                f"{PATCH_SIZE}x{PATCH_SIZE}, or call "
                "model.reset_classifier(num_classes, global_pool='avg') to fine-tune at another size"
            )
        return x


def _check_global_pool(global_pool: str) -> str:
    if global_pool not in ("flatten", "avg"):
        raise ValueError(f"global_pool must be 'flatten' or 'avg', got {global_pool!r}")
    return global_pool
