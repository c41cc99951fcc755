"""The toolbox's key names -> this package's (torchvision's), refusing anything that does not map.

- ResNet50: ``conv1.weight`` and ``encoder.0.weight`` (the same tensor, stored twice; they
  must be equal) -> ``conv1.weight``; ``encoder.1.*`` -> ``bn1.*``; ``encoder.4.*`` ..
  ``encoder.7.*`` -> ``layer1.*`` .. ``layer4.*``; ``FC.*`` -> ``fc.*``.
- DenseNet121: ``encoder.<i>.*`` -> ``features.<name>.*`` with names conv0, norm0, relu0,
  pool0, denseblock1, transition1, ..., denseblock4, norm5 (i = 0..11); ``classifier.*``
  unchanged.
"""

from __future__ import annotations

import torch

from sen12ms_models.convert.checkpoint import ToolboxCheckpoint
from sen12ms_models.convert.proof import on_meta
from sen12ms_models.convert.toolbox_reference import TOOLBOX_ARCH_NAMES
from sen12ms_models.errors import WeightsIntegrityError, format_names
from sen12ms_models.models._registry import build_model

_RESNET_DUPLICATE = ("conv1.weight", "encoder.0.weight")
#: The DenseNet121 wrapper's ``encoder`` Sequential: torchvision's feature names in index order.
_DENSENET_ENCODER = (
    "conv0",
    "norm0",
    "relu0",
    "pool0",
    "denseblock1",
    "transition1",
    "denseblock2",
    "transition2",
    "denseblock3",
    "transition3",
    "denseblock4",
    "norm5",
)
#: (toolbox key prefix, package key prefix) per architecture; a key matching none is left over.
_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "resnet50": (
        ("encoder.0.", "conv1."),
        ("encoder.1.", "bn1."),
        ("encoder.4.", "layer1."),
        ("encoder.5.", "layer2."),
        ("encoder.6.", "layer3."),
        ("encoder.7.", "layer4."),
        ("FC.", "fc."),
    ),
    "densenet121": (
        *((f"encoder.{index}.", f"features.{name}.") for index, name in enumerate(_DENSENET_ENCODER)),
        ("classifier.", "classifier."),
    ),
}


def to_package_state_dict(checkpoint: ToolboxCheckpoint) -> dict[str, torch.Tensor]:
    """Rename the wrapper's keys to ours; refuse anything left over, missing or misshapen, by name."""
    state, path = dict(checkpoint.state), checkpoint.path
    expected = on_meta(lambda: build_model(checkpoint.arch, checkpoint.in_chans, checkpoint.num_classes))
    expected_state = expected.state_dict()
    missing: list[str] = []
    if checkpoint.arch == "resnet50":
        duplicate, stored = _RESNET_DUPLICATE
        copy = state.pop(duplicate, None)
        if copy is None:
            missing.append(duplicate)
        elif stored in state and not torch.equal(copy, state[stored]):
            raise WeightsIntegrityError(
                f"{path}: {duplicate} and {stored} differ, but the toolbox stores the same tensor under "
                "both names; the file was modified or is not the toolbox's"
            )
    rules = _RULES[checkpoint.arch]
    converted: dict[str, torch.Tensor] = {}
    leftover: list[str] = []
    for key, tensor in state.items():
        target = _rename(key, rules)
        if target in expected_state:
            converted[target] = tensor
        else:
            leftover.append(key)
    inverse = tuple((target, source) for source, target in rules)
    missing += [f"{_rename(k, inverse)} (-> {k})" for k in expected_state if k not in converted]
    wrong = [
        f"{_rename(k, inverse)}: {tuple(v.shape)} {v.dtype}, expected {tuple(expected_state[k].shape)} "
        f"{expected_state[k].dtype}"
        for k, v in converted.items()
        if v.shape != expected_state[k].shape or v.dtype != expected_state[k].dtype
    ]
    problems = [
        f"{label} {format_names(items)}"
        for label, items in (("left over", leftover), ("missing", missing), ("mismatched", wrong))
        if items
    ]
    if problems:
        name = TOOLBOX_ARCH_NAMES[checkpoint.arch]
        raise WeightsIntegrityError(f"{path} is not exactly a toolbox {name}'s state dict: " + "; ".join(problems))
    return {key: tensor.contiguous() for key, tensor in converted.items()}


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for source, target in rules:
        if key.startswith(source):
            return target + key[len(source) :]
    return None
