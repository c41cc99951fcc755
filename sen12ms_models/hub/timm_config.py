"""``config.json`` for timm: an exported ResNet50 folder also loads with ``timm.create_model``.

This package's ResNet50 keeps torchvision's state-dict names, which timm's ``resnet50`` shares,
so timm needs only its ``config.json`` beside the weights: the architecture, ``in_chans`` and the
file to load (``pretrained_cfg.hf_hub_filename``)::

    model = timm.create_model("hf-hub:sen12ms-models/resnet50-s1s2-multi", pretrained=True)

DenseNet121's baseline head flattens the 1024x8x8 map into ``Linear(65536, 10)``; timm's
densenet121 pools instead, so it has no timm equivalent and gets no ``config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sen12ms_models.bands import PATCH_SIZE

if TYPE_CHECKING:
    from sen12ms_models.models.spec import WeightsSpec

TIMM_CONFIG_FILE = "config.json"
#: Architectures whose state dict timm's model of the same name loads as it is.
TIMM_ARCHITECTURES = ("resnet50",)


def timm_config(spec: WeightsSpec) -> dict[str, Any] | None:
    """timm's ``config.json`` for ``spec``'s weights, or None when timm has no equivalent model."""
    if spec.arch not in TIMM_ARCHITECTURES or spec.bands is None:
        return None
    return {
        "architecture": spec.arch,
        "num_classes": spec.num_classes,
        "num_features": 2048,
        "global_pool": "avg",
        "model_args": {"in_chans": spec.in_chans},
        "label_names": list(spec.classes),
        "pretrained_cfg": {
            "hf_hub_filename": spec.filename,
            "input_size": [spec.in_chans, PATCH_SIZE, PATCH_SIZE],
            "fixed_input_size": False,
            "crop_pct": 1.0,
            "interpolation": "bilinear",
            # raw input units (S2 DN, S1 dB): standardize with the package's transform, not timm's
            "mean": list(spec.mean),
            "std": list(spec.std),
            "first_conv": "conv1",
            "classifier": "fc",
            "license": spec.license,
        },
        # not read by timm: what the channels and outputs are
        "sen12ms": {"model": spec.name, "bands": list(spec.bands), "label_type": spec.label_type},
    }


def write_timm_config(spec: WeightsSpec, folder: Path) -> Path | None:
    """Write ``folder/config.json`` for ``spec`` if timm has its architecture; return its path."""
    config = timm_config(spec)
    if config is None:
        return None
    path = folder / TIMM_CONFIG_FILE
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path
