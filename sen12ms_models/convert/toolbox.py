"""The SEN12MS toolbox's two classifier wrappers, their state-dict keys renamed to ours, and the logits proof.

The wrappers are restated from the published layout (docs/convert.md), not from the toolbox's non-commercial code,
and built unlike ``sen12ms_models.models`` (an ``encoder`` Sequential plus a head): a mistake in either shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch
from torch import nn
from torchvision.models import densenet121, resnet50

from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.errors import WeightsIntegrityError, format_names
from sen12ms_models.models.api import build_model
from sen12ms_models.models.base import stem_conv

#: Largest tolerated logit difference between original and converted network (float32).
TOLERANCE = 1e-6
#: Input side of the proof: every ResNet50 weight takes part at 64x64; DenseNet121's flattening head needs 256x256.
PROOF_SIZE: Mapping[str, int] = MappingProxyType({"resnet50": 64, "densenet121": PATCH_SIZE})
PROOF_BATCH = 2
PROOF_SEED = 0
#: The head's weight key of each wrapper.
TOOLBOX_HEADS: Mapping[str, str] = MappingProxyType({"resnet50": "FC.weight", "densenet121": "classifier.weight"})
#: The ``arch`` value the toolbox writes into its checkpoints, per architecture of this package.
TOOLBOX_ARCH_NAMES: Mapping[str, str] = MappingProxyType({"resnet50": "ResNet50", "densenet121": "DenseNet121"})


class ToolboxResNet50(nn.Module):
    """The toolbox's ResNet50 wrapper: ``conv1`` (registered first, so stored twice), ``encoder``, ``FC``."""

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        r = resnet50()
        self.conv1 = stem_conv(in_chans)
        self.encoder = nn.Sequential(
            self.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2, r.layer3, r.layer4, r.avgpool
        )
        self.FC = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.FC(torch.flatten(self.encoder(x), 1))


class ToolboxDenseNet121(nn.Module):
    """The toolbox's DenseNet121 wrapper: ``encoder`` (torchvision's features), flattening ``classifier``."""

    def __init__(self, in_chans: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.encoder = nn.Sequential(stem_conv(in_chans), *list(densenet121().features.children())[1:])
        # no final ReLU or pooling: the 1024 x 8 x 8 map of a 256 x 256 patch, flattened
        self.classifier = nn.Linear(1024 * (PATCH_SIZE // 32) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.encoder(x), 1))


def build_toolbox_model(arch: str, in_chans: int, num_classes: int = NUM_CLASSES) -> nn.Module:
    """The toolbox wrapper of ``arch`` (``resnet50`` or ``densenet121``), randomly initialized.

    >>> sorted(build_toolbox_model("resnet50", 12).state_dict())[:2]
    ['FC.bias', 'FC.weight']
    """
    return {"resnet50": ToolboxResNet50, "densenet121": ToolboxDenseNet121}[arch](in_chans, num_classes)


def arch_of(state: Mapping[str, torch.Tensor], path: object, arch_entry: object = None) -> str:
    """The arch whose toolbox wrapper has ``state``'s stem and head; ``WeightsIntegrityError`` (naming ``path`` and
    the keys) for neither, or when the checkpoint's ``arch_entry`` says another."""
    found = [arch for arch, key in TOOLBOX_HEADS.items() if key in state and state[key].ndim == 2]
    if len(found) != 1 or "encoder.0.weight" not in state or state["encoder.0.weight"].ndim != 4:
        said = f" (its arch entry says {arch_entry!r})" if arch_entry is not None else ""
        raise WeightsIntegrityError(
            f"{path}: not a SEN12MS toolbox ResNet50 or DenseNet121 checkpoint{said}: expected 'encoder.0.weight' "
            f"and one head of {list(TOOLBOX_HEADS.values())}, found keys {format_names(sorted(state))}"
        )
    if arch_entry is not None and str(arch_entry).lower() != found[0]:
        raise WeightsIntegrityError(
            f"{path}: its arch entry says {arch_entry!r}, its tensors are a {TOOLBOX_ARCH_NAMES[found[0]]}'s; only "
            f"the toolbox's {' and '.join(TOOLBOX_ARCH_NAMES.values())} convert"
        )
    return found[0]


#: Toolbox key prefix -> package key prefix, per architecture; a key matching none is left over.
_RULES: dict[str, dict[str, str]] = {
    "resnet50": {
        "encoder.0.": "conv1.",
        "encoder.1.": "bn1.",
        **{f"encoder.{i + 3}.": f"layer{i}." for i in range(1, 5)},
        "FC.": "fc.",
    },
    "densenet121": {
        **{f"encoder.{i}.": f"features.{name}." for i, name in enumerate(("conv0", "norm0", "relu0", "pool0"))},
        **{f"encoder.{2 * i + 2}.": f"features.denseblock{i}." for i in range(1, 5)},
        **{f"encoder.{2 * i + 3}.": f"features.transition{i}." for i in range(1, 4)},
        "encoder.11.": "features.norm5.",
        "classifier.": "classifier.",
    },
}


def to_package_state_dict(
    state: dict[str, torch.Tensor], arch: str, in_chans: int, num_classes: int, path: object
) -> dict[str, torch.Tensor]:
    """Rename a toolbox ``state`` dict of ``arch`` to the keys of ``build_model(arch, in_chans, num_classes)``;
    ``WeightsIntegrityError`` (naming the keys and ``path``) for a key left over, missing or misshapen, or
    ResNet50's two copies of its first convolution differing."""
    state = dict(state)
    with torch.device("meta"):  # shapes only: nothing allocated or initialized
        expected = build_model(arch, in_chans, num_classes).state_dict()
    missing: list[str] = []
    if arch == "resnet50":
        copy = state.pop("conv1.weight", None)
        if copy is None:
            missing.append("conv1.weight")
        elif "encoder.0.weight" in state and not torch.equal(copy, state["encoder.0.weight"]):
            raise WeightsIntegrityError(
                f"{path}: conv1.weight and encoder.0.weight differ, but the toolbox stores the same tensor under "
                "both names; the file was modified or is not the toolbox's"
            )
    rules = _RULES[arch]
    renamed = {key: _rename(key, rules) for key in state}
    converted = {target: state[key] for key, target in renamed.items() if target in expected}
    leftover = [key for key, target in renamed.items() if target not in expected]
    inverse = {target: source for source, target in rules.items()}
    missing += [f"{_rename(k, inverse)} (-> {k})" for k in expected if k not in converted]
    wrong = [
        f"{_rename(k, inverse)}: {tuple(v.shape)} {v.dtype}, expected {tuple(expected[k].shape)} {expected[k].dtype}"
        for k, v in converted.items()
        if (v.shape, v.dtype) != (expected[k].shape, expected[k].dtype)
    ]
    problems = [
        f"{label} {format_names(items)}"
        for label, items in (("left over", leftover), ("missing", missing), ("mismatched", wrong))
        if items
    ]
    if problems:
        name = TOOLBOX_ARCH_NAMES[arch]
        raise WeightsIntegrityError(f"{path} is not exactly a toolbox {name}'s state dict: " + "; ".join(problems))
    return {key: tensor.contiguous() for key, tensor in converted.items()}


def _rename(key: str, rules: Mapping[str, str]) -> str:
    """``key`` with the first matching prefix of ``rules`` replaced, or ``""`` if none matches."""
    return next((target + key[len(source) :] for source, target in rules.items() if key.startswith(source)), "")


def logits_difference(original: Mapping[str, torch.Tensor], converted: Mapping[str, torch.Tensor], arch: str) -> float:
    """Max |logit difference| (NaN if any is) of the toolbox network with ``original`` and ours with ``converted``,
    both in eval mode on the same seeded N(0, 1) batch (standardized inputs look like that)."""
    in_chans, num_classes = original["encoder.0.weight"].shape[1], original[TOOLBOX_HEADS[arch]].shape[0]
    with torch.device("meta"):  # weights that load_state_dict replaces: neither allocated nor initialized
        reference, ours = build_toolbox_model(arch, in_chans, num_classes), build_model(arch, in_chans, num_classes)
    reference.load_state_dict(original, strict=True, assign=True)
    ours.load_state_dict(converted, strict=True, assign=True)
    size = PROOF_SIZE[arch]
    x = torch.randn(PROOF_BATCH, in_chans, size, size, generator=torch.Generator().manual_seed(PROOF_SEED))
    with torch.no_grad():
        return (reference.eval()(x) - ours.eval()(x)).abs().max().item()
