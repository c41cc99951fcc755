"""Weights enums in torchvision's style: ``ResNet50_Weights.SEN12MS_S1S2_MULTI.transforms()``.

Each architecture has an enum with a member per modality and label type (``SEN12MS_<MODALITY>_<LABEL
TYPE>``, plus ``DEFAULT``: the paper's best multi-label model, s1s2), derived from the known model
names. A member's ``spec`` is its ``WeightsSpec``, ``transforms()`` its preprocessing and ``meta``
its description, as torchvision's ``Weights`` give them.

>>> ResNet50_Weights.SEN12MS_S1S2_MULTI.value
'resnet50-s1s2-multi'
>>> ResNet50_Weights.DEFAULT is ResNet50_Weights.SEN12MS_S1S2_MULTI
True
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, cast

from sen12ms_models.models.spec import WeightsSpec, get_weights, known_models

if TYPE_CHECKING:
    from sen12ms_models.transforms import Sen12msTransform

#: The member ``DEFAULT`` stands for: the paper's strongest input (S1 + S2), multi-label.
DEFAULT_MODALITY, DEFAULT_LABEL_TYPE = "s1s2", "multi"


class Sen12msWeights(enum.Enum):
    """Base of the per-architecture weights enums; a member's value is its model name."""

    @property
    def spec(self) -> WeightsSpec:
        return get_weights(self.value)

    @property
    def meta(self) -> dict[str, Any]:
        """What the model is (bands, classes, decision rule, file, metrics), as a dict."""
        return self.spec.describe()

    def transforms(self) -> Sen12msTransform:
        """The preprocessing of these weights: raw S1 dB + S2 DN -> standardized input."""
        return self.spec.transforms


def _weights_enum(class_name: str, arch: str) -> type[Sen12msWeights]:
    members = {
        "SEN12MS_" + name.split("-", 1)[1].replace("-", "_").upper(): name
        for name in known_models()
        if name.split("-")[0] == arch
    }
    members["DEFAULT"] = f"{arch}-{DEFAULT_MODALITY}-{DEFAULT_LABEL_TYPE}"
    weights = cast("type[Sen12msWeights]", Sen12msWeights(class_name, members))  # type: ignore[call-arg]
    weights.__module__ = __name__
    return weights


ResNet50_Weights = _weights_enum("ResNet50_Weights", "resnet50")
DenseNet121_Weights = _weights_enum("DenseNet121_Weights", "densenet121")
WEIGHTS_ENUMS: dict[str, type[Sen12msWeights]] = {"resnet50": ResNet50_Weights, "densenet121": DenseNet121_Weights}
