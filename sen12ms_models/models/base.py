"""What both SEN12MS baselines share: the replaced first convolution, Kaiming init, one interface.

The interface uses timm's names: ``forward_feature_map`` (the last convolutional map),
``forward_features`` (a pooled ``(N, num_features)`` embedding), ``forward_head`` (map ->
logits), ``get_classifier``/``reset_classifier``, ``adapt_in_chans``, and the ``spec`` the
model carries (a ``WeightsSpec`` describing exactly this model, or ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from sen12ms_models.models.spec import WeightsSpec


def init_kaiming(module: nn.Module) -> None:
    """The baselines' initialization: Kaiming normal on every conv and linear weight."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)


def stem_conv(in_chans: int) -> nn.Conv2d:
    """The baselines' replacement first layer: a 7x7/2 convolution from ``in_chans`` channels, no bias."""
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

    def reset_classifier(
        self, num_classes: int, *, label_type: str | None = None, classes: Sequence[str] | None = None
    ) -> None:
        """Replace the head by a freshly initialized one with ``num_classes`` outputs.

        ``label_type`` (``multi``: sigmoid >= 0.5, ``single``: argmax) and ``classes`` (names)
        describe the new head in ``model.spec``; when the number of outputs changes and they are
        not given, the spec says the decision rule is unknown and ``predict`` asks for it.
        """
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        head = self._new_classifier(num_classes)
        nn.init.kaiming_normal_(head.weight)
        device = next(self.parameters()).device
        self._set_classifier(head.to(device))
        if self.spec is not None:
            self.spec = self.spec.with_classifier(num_classes, label_type, None if classes is None else tuple(classes))

    def _set_classifier(self, head: nn.Linear) -> None:
        raise NotImplementedError

    def first_conv(self) -> nn.Conv2d:
        """The first convolution (the one that reads the input bands)."""
        raise NotImplementedError

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        """``(parent, conv name, bn name)`` wherever a BatchNorm directly follows a convolution."""
        raise NotImplementedError

    def _set_first_conv(self, conv: nn.Conv2d) -> None:
        raise NotImplementedError

    def adapt_in_chans(self, in_chans: int, bands: Sequence[str] | None = None) -> None:
        """Make the first convolution read ``in_chans`` channels, keeping what it learned.

        Each new input channel gets the mean of the pretrained kernels over their input
        channels, scaled by ``old_in_chans / in_chans``, so that standardized inputs produce
        activations of the same expected magnitude as before (timm adapts the same way for
        arbitrary channel counts). Fine-tune afterwards: the new channels are not the old bands.
        ``bands`` names the new channels (SEN12MS band names) so that ``model.spec.transforms``
        standardizes them; without it the spec has no band list and ``predict`` needs ``transform=``.
        """
        old = self.first_conv().weight.detach()
        conv = stem_conv(in_chans).to(device=old.device, dtype=old.dtype)
        with torch.no_grad():
            conv.weight.copy_(old.mean(dim=1, keepdim=True).expand(-1, in_chans, -1, -1) * (old.shape[1] / in_chans))
        self._set_first_conv(conv)
        self.in_chans = in_chans
        if self.spec is not None:
            self.spec = self.spec.with_in_chans(in_chans, None if bands is None else tuple(bands))

    def _check_input(self, x: torch.Tensor, head: bool = True) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            bands = f" ({', '.join(self.spec.bands)})" if self.spec and self.spec.bands else ""
            raise ValueError(
                f"{self.arch} expects a batch (N, {self.in_chans}, H, W){bands}, got shape {tuple(x.shape)}"
            )
        return x
