"""sen12ms-models: verified, pretrained SEN12MS scene-classification baselines.

>>> import sen12ms_models as sm
>>> model = sm.load_model("resnet50-s1s2-multi")                     # doctest: +SKIP
>>> sm.predict(model, s1="..._s1_63_p100.tif", s2="..._s2_63_p100.tif").labels  # doctest: +SKIP

Every public name is importable from here. Each is imported on first use (PEP 562), so
``import sen12ms_models`` and the command line's ``--version`` load neither torch nor rasterio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "InputLevelWarning",
            "InputUnitsError",
            "ManifestError",
            "NoDataError",
            "PatchFileError",
            "PublishError",
            "Sen12msError",
            "UnverifiedWeightsWarning",
            "WeightsDownloadError",
            "WeightsIntegrityError",
            "WeightsNotPublishedError",
        ),
        "errors",
    ),
    "CLASSES": "classes",
    **dict.fromkeys(
        ("DenseNet121_Weights", "ResNet50_Weights", "Sen12msWeights", "get_weights", "list_models"), "weights"
    ),
    "Sen12msTransform": "transforms",
    "InputOptions": "inputs.options",
    "read_patch": "inputs.files",
    **dict.fromkeys(("ModelSpec", "Sen12msClassifier"), "models.base"),
    **dict.fromkeys(("build_model", "densenet121", "load_model", "optimize_for_inference", "resnet50"), "models.api"),
    **dict.fromkeys(("Prediction", "predict"), "prediction"),
    **dict.fromkeys(("SceneMap", "map_scene"), "mapping"),
    **dict.fromkeys(("Sen12msIndex", "read_triplet"), "datasets.tree"),
    "make_split": "datasets.splits",
    "Sen12msDataset": "datasets.sen12ms",
    "TrainConfig": "training.config",
    "train": "training.loop",
    "reproduce": "training.reproduce",
    **dict.fromkeys(("evaluate", "evaluate_split"), "training.evaluation"),
    "export_run": "training.export",
    "publish": "hub.publish",
    "convert_checkpoint": "convert.checkpoint",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from sen12ms_models.classes import CLASSES
    from sen12ms_models.convert.checkpoint import convert_checkpoint
    from sen12ms_models.datasets.sen12ms import Sen12msDataset
    from sen12ms_models.datasets.splits import make_split
    from sen12ms_models.datasets.tree import Sen12msIndex, read_triplet
    from sen12ms_models.errors import (
        InputLevelWarning,
        InputUnitsError,
        ManifestError,
        NoDataError,
        PatchFileError,
        PublishError,
        Sen12msError,
        UnverifiedWeightsWarning,
        WeightsDownloadError,
        WeightsIntegrityError,
        WeightsNotPublishedError,
    )
    from sen12ms_models.hub.publish import publish
    from sen12ms_models.inputs.files import read_patch
    from sen12ms_models.inputs.options import InputOptions
    from sen12ms_models.mapping import SceneMap, map_scene
    from sen12ms_models.models.api import build_model, densenet121, load_model, optimize_for_inference, resnet50
    from sen12ms_models.models.base import ModelSpec, Sen12msClassifier
    from sen12ms_models.prediction import Prediction, predict
    from sen12ms_models.training.config import TrainConfig
    from sen12ms_models.training.evaluation import evaluate, evaluate_split
    from sen12ms_models.training.export import export_run
    from sen12ms_models.training.loop import train
    from sen12ms_models.training.reproduce import reproduce
    from sen12ms_models.transforms import Sen12msTransform
    from sen12ms_models.weights import DenseNet121_Weights, ResNet50_Weights, Sen12msWeights, get_weights, list_models
