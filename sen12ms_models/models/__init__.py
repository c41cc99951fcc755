"""The SEN12MS baselines: one module per architecture, their registry, specs and ``load_model``.

- ``resnet``, ``densenet``: the two architectures, exactly as Schmitt & Wu (2021) built them;
- ``base``: what both share (first convolution, init, the timm-style interface);
- ``_registry``: architecture name -> class, ``build_model``;
- ``spec``: model names and ``WeightsSpec`` (the code's facts plus the manifest entry);
- ``_api``: ``load_model`` (build, fetch, verify, load);
- ``optimize``: ``optimize_for_inference``;
- ``weights``, ``builders``: torchvision's idiom, ``resnet50(weights=ResNet50_Weights.DEFAULT)``.
"""

from typing import TYPE_CHECKING

from sen12ms_models._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ARCHITECTURES": "._registry",
        "DenseNet121_Weights": ".weights",
        "ResNet50_Weights": ".weights",
        "Sen12msWeights": ".weights",
        "densenet121": ".builders",
        "resnet50": ".builders",
        "Sen12msClassifier": ".base",
        "Sen12msDenseNet121": ".densenet",
        "Sen12msResNet50": ".resnet",
        "UnverifiedWeightsWarning": "._api",
        "WeightsSpec": ".spec",
        "build_model": "._registry",
        "get_weights": ".spec",
        "list_models": ".spec",
        "load_model": "._api",
        "model_name": ".spec",
        "optimize_for_inference": ".optimize",
        "parse_model_name": ".spec",
    },
)
__all__ = [
    "ARCHITECTURES",
    "DenseNet121_Weights",
    "ResNet50_Weights",
    "Sen12msClassifier",
    "Sen12msDenseNet121",
    "Sen12msResNet50",
    "Sen12msWeights",
    "UnverifiedWeightsWarning",
    "WeightsSpec",
    "build_model",
    "densenet121",
    "get_weights",
    "list_models",
    "load_model",
    "model_name",
    "optimize_for_inference",
    "parse_model_name",
    "resnet50",
]

if TYPE_CHECKING:
    from sen12ms_models.models._api import UnverifiedWeightsWarning, load_model
    from sen12ms_models.models._registry import ARCHITECTURES, build_model
    from sen12ms_models.models.base import Sen12msClassifier
    from sen12ms_models.models.builders import densenet121, resnet50
    from sen12ms_models.models.densenet import Sen12msDenseNet121
    from sen12ms_models.models.optimize import optimize_for_inference
    from sen12ms_models.models.resnet import Sen12msResNet50
    from sen12ms_models.models.spec import WeightsSpec, get_weights, list_models, model_name, parse_model_name
    from sen12ms_models.models.weights import DenseNet121_Weights, ResNet50_Weights, Sen12msWeights
