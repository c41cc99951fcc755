"""sen12ms-models: verified, pretrained SEN12MS scene-classification baselines.

>>> import sen12ms_models as sm
>>> model = sm.load_model("resnet50", "s1s2")          # doctest: +SKIP
>>> sm.predict(model, s1=s1_db, s2=s2_dn).labels       # doctest: +SKIP
"""

from . import io, labels, transforms
from .classes import CLASSES
from .errors import (
    ManifestError,
    PatchFileError,
    Sen12msError,
    WeightsDownloadError,
    WeightsIntegrityError,
    WeightsNotPublishedError,
)
from .loading import UnverifiedWeightsWarning, load_model
from .mapping import SceneMap, map_scene
from .models import Sen12msClassifier, build_model, optimize_for_inference
from .predict import Prediction, predict
from .weights import WeightsSpec, get_weights, list_models

__version__ = "0.1.0"

__all__ = [
    "CLASSES",
    "ManifestError",
    "PatchFileError",
    "Prediction",
    "SceneMap",
    "Sen12msClassifier",
    "Sen12msError",
    "UnverifiedWeightsWarning",
    "WeightsDownloadError",
    "WeightsIntegrityError",
    "WeightsNotPublishedError",
    "WeightsSpec",
    "__version__",
    "build_model",
    "get_weights",
    "io",
    "labels",
    "list_models",
    "load_model",
    "map_scene",
    "optimize_for_inference",
    "predict",
    "transforms",
]
