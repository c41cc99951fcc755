"""The architectures this package builds, by name (timm's ``_registry`` in miniature)."""

from __future__ import annotations

from collections.abc import Callable

from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.densenet import Sen12msDenseNet121
from sen12ms_models.models.resnet import Sen12msResNet50

#: Architecture name -> builder ``(in_chans, num_classes) -> model``.
ARCHITECTURES: dict[str, Callable[[int, int], Sen12msClassifier]] = {
    "resnet50": Sen12msResNet50,
    "densenet121": Sen12msDenseNet121,
}


def build_model(arch: str, in_chans: int, num_classes: int = NUM_CLASSES) -> Sen12msClassifier:
    """A randomly initialized baseline, e.g. ``build_model("resnet50", in_chans=12)``."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHITECTURES)}") from None
    return builder(in_chans, num_classes)
