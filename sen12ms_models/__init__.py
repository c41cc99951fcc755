"""sen12ms-models: verified, pretrained SEN12MS scene-classification baselines.

>>> import sen12ms_models as sm
>>> model = sm.load_model("resnet50-s1s2-multi")       # doctest: +SKIP
>>> sm.predict(model, s1=s1_db, s2=s2_dn).labels       # doctest: +SKIP

The public API is imported on first use, so ``import sen12ms_models`` (and the command line's
``--help``) does not load torch, rasterio or the Hub client until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sen12ms_models._deprecated import install as _install_renamed_modules

__version__ = "0.2.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "CLASSES": "sen12ms_models.classes",
    "ManifestError": "sen12ms_models.errors",
    "PatchFileError": "sen12ms_models.errors",
    "PublishError": "sen12ms_models.errors",
    "Sen12msError": "sen12ms_models.errors",
    "WeightsDownloadError": "sen12ms_models.errors",
    "WeightsIntegrityError": "sen12ms_models.errors",
    "WeightsNotPublishedError": "sen12ms_models.errors",
    "Prediction": "sen12ms_models.prediction",
    "predict": "sen12ms_models.prediction",
    "SceneMap": "sen12ms_models.mapping",
    "map_scene": "sen12ms_models.mapping",
    "Sen12msClassifier": "sen12ms_models.models",
    "UnverifiedWeightsWarning": "sen12ms_models.models",
    "WeightsSpec": "sen12ms_models.models",
    "build_model": "sen12ms_models.models",
    "get_weights": "sen12ms_models.models",
    "list_models": "sen12ms_models.models",
    "load_model": "sen12ms_models.models",
    "optimize_for_inference": "sen12ms_models.models",
    "Sen12msTransform": "sen12ms_models.transforms",
}
#: Submodules reachable as attributes (``sm.labels``, ``sm.transforms``, ``sm.datasets``...).
_SUBMODULES = ("datasets", "hub", "labels", "mapping", "models", "transforms")

__all__ = [
    "CLASSES",
    "ManifestError",
    "PatchFileError",
    "Prediction",
    "PublishError",
    "SceneMap",
    "Sen12msClassifier",
    "Sen12msError",
    "Sen12msTransform",
    "UnverifiedWeightsWarning",
    "WeightsDownloadError",
    "WeightsIntegrityError",
    "WeightsNotPublishedError",
    "WeightsSpec",
    "__version__",
    "build_model",
    "datasets",
    "get_weights",
    "hub",
    "labels",
    "list_models",
    "load_model",
    "map_scene",
    "mapping",
    "models",
    "optimize_for_inference",
    "predict",
    "transforms",
]

_install_renamed_modules()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name == "io":  # renamed in 0.2
        value = importlib.import_module(f"{__name__}.io")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from sen12ms_models import datasets, hub, labels, mapping, models, transforms
    from sen12ms_models.classes import CLASSES
    from sen12ms_models.errors import (
        ManifestError,
        PatchFileError,
        PublishError,
        Sen12msError,
        WeightsDownloadError,
        WeightsIntegrityError,
        WeightsNotPublishedError,
    )
    from sen12ms_models.mapping import SceneMap, map_scene
    from sen12ms_models.models import (
        Sen12msClassifier,
        UnverifiedWeightsWarning,
        WeightsSpec,
        build_model,
        get_weights,
        list_models,
        load_model,
        optimize_for_inference,
    )
    from sen12ms_models.prediction import Prediction, predict
    from sen12ms_models.transforms import Sen12msTransform
