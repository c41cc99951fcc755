"""Model builders as torchvision spells them: ``resnet50(weights=ResNet50_Weights.DEFAULT)``.

``weights=None`` builds a randomly (Kaiming) initialized baseline; a weights member or model name
loads verified weights through ``load_model``. ``num_classes`` and ``in_chans`` work as in
``load_model`` (a new head; an adapted first convolution).

>>> model = resnet50(weights=None, in_chans=10)
>>> model.in_chans, model.num_classes
(10, 10)
"""

from __future__ import annotations

from typing import Any

from sen12ms_models.bands import MODALITY_BANDS
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.models._api import load_model
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.weights import DEFAULT_MODALITY, WEIGHTS_ENUMS, Sen12msWeights

#: Input channels of a model built without weights: the paper's S1 + S2 input.
DEFAULT_IN_CHANS = len(MODALITY_BANDS[DEFAULT_MODALITY])


def _build(arch: str, weights: Sen12msWeights | str | None, progress: bool, **kwargs: Any) -> Sen12msClassifier:
    if weights is None:
        return build_model(arch, kwargs.pop("in_chans", DEFAULT_IN_CHANS), kwargs.pop("num_classes", NUM_CLASSES))
    enum_type = WEIGHTS_ENUMS[arch]
    member = enum_type[weights] if isinstance(weights, str) and weights in enum_type.__members__ else weights
    name = member.value if isinstance(member, Sen12msWeights) else str(member)
    if not name.startswith(f"{arch}-"):
        raise ValueError(f"{name} are not {arch} weights; use {enum_type.__name__}")
    return load_model(name, **kwargs)


def resnet50(*, weights: Sen12msWeights | str | None = None, progress: bool = True, **kwargs: Any) -> Sen12msClassifier:
    """The ResNet50 baseline; ``weights`` a ``ResNet50_Weights`` member, its name, a model name or None."""
    return _build("resnet50", weights, progress, **kwargs)


def densenet121(
    *, weights: Sen12msWeights | str | None = None, progress: bool = True, **kwargs: Any
) -> Sen12msClassifier:
    """The DenseNet121 baseline (256x256 input); ``weights`` a ``DenseNet121_Weights`` member or None."""
    return _build("densenet121", weights, progress, **kwargs)
