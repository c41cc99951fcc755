"""Building and loading the baselines: ``build_model``, ``load_model`` (verified weights, see
docs/security.md), torchvision's ``resnet50(weights=...)``/``densenet121``, fast inference."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from sen12ms_models._types import PRECISIONS, PathLike
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.errors import UnverifiedWeightsWarning, WeightsIntegrityError, format_names
from sen12ms_models.hub.download import STATE_DICT_REMEDY, locate, parse_safetensors, read_verified, refuse_pickle
from sen12ms_models.models.base import SPEC_KEY, WEIGHTS_FILE, ModelSpec, Sen12msClassifier
from sen12ms_models.models.densenet import Sen12msDenseNet121
from sen12ms_models.models.resnet import Sen12msResNet50
from sen12ms_models.weights import (
    MANIFEST_FILE,
    WEIGHTS,
    Sen12msWeights,
    get_weights,
    known_models,
    label_type_given,
    read_manifest,
    read_registry,
    sha256_hex,
)

#: Architecture name -> class (the names are ``weights.ARCHITECTURES``).
MODEL_CLASSES: dict[str, type[Sen12msResNet50 | Sen12msDenseNet121]] = {
    cls.arch: cls for cls in (Sen12msResNet50, Sen12msDenseNet121)
}
#: The trainer's checkpoints (``best.pt``, ``last.pt``), read only with ``weights_only=True``.
CHECKPOINT_SUFFIX, CHECKPOINT_FORMAT, CHECKPOINT_VERSION = ".pt", "sen12ms-models/training-checkpoint", 1


def resolve_device(device: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """``auto``/``None``: this rank's GPU if CUDA is available, else the CPU; ``ValueError`` if not usable here."""
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"unknown device {str(device)!r} (use auto, cpu, cuda or cuda:N): {error}") from None
    backend = getattr(torch, resolved.type, None)  # torch.cuda, torch.mps, torch.xpu: is_available()
    if not getattr(backend, "is_available", lambda: False)():
        kind = "CUDA" if resolved.type == "cuda" else resolved.type
        raise ValueError(f"device {str(device)!r} asked for, but {kind} is not available here; use --device cpu")
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", local_rank)
    return resolved


def build_model(arch: str, in_chans: int, num_classes: int = NUM_CLASSES, **kwargs: Any) -> Sen12msClassifier:
    """A randomly (Kaiming) initialized baseline, e.g. ``build_model("resnet50", in_chans=12)``.

    Args:
        arch: ``resnet50`` or ``densenet121``.
        in_chans: input channels (12 for S1 + S2, 10 for S2, 3 for RGB, 2 for S1).
        num_classes: outputs of the head.
        **kwargs: to the network (DenseNet121: ``global_pool``).

    Returns:
        The network, in train mode, with ``spec.label_type`` unset.

    Raises:
        ValueError: an unknown architecture.
    """
    if arch not in MODEL_CLASSES:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[arch](in_chans, num_classes, **kwargs)


def load_model(
    model: str | PathLike | Sen12msWeights,
    modality: str | None = None,
    label_type: str | None = None,
    *,
    pretrained: bool = True,
    weights: PathLike | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    adapt_first_conv: bool = False,
    cache_dir: PathLike | None = None,
    force_download: bool = False,
    device: str | torch.device | None = "cpu",
) -> Sen12msClassifier:
    """A baseline with verified weights, in eval mode: ``load_model("resnet50-s1s2-multi")``.

    Args:
        model: a name from ``list_models()`` (``"resnet50-s1s2"`` is multi-label), an architecture with
            ``modality`` and ``label_type``, a weights enum member, or the path of a file or folder as for
            ``weights`` that records its model (``save_pretrained``'s, ``convert``'s, ``export``'s): any
            ``os.PathLike``, or a string ending in ``.safetensors`` or ``.pt``, with a folder, or naming an existing
            file or folder.
        modality, label_type: with an architecture: ``rgb``, ``s2``, ``s1s2``, ``s1`` or ``s1rgb``;
            ``multi`` (default) or ``single``.
        pretrained: ``False`` builds it randomly initialized, fetching nothing.
        weights: a local safetensors file, ``save_pretrained``, ``convert`` or ``export`` folder, or training
            checkpoint (``RUN/best.pt``) of the named model; a name without label type takes the file's. It is
            verified when a manifest knows it (see docs/security.md), else loaded with an
            ``UnverifiedWeightsWarning``.
        num_classes: a fresh head of this many outputs (a file whose head has them loads as is).
        in_chans: with ``adapt_first_conv=True``, adapt the first convolution to this many channels
            (``pretrained=False`` builds it so; a file whose stem has them loads as is).
        adapt_first_conv: allow ``in_chans`` other than the weights' (``adapt_in_chans``).
        cache_dir, force_download: where to cache the Hub file; fetch it anew.
        device: where to put the model (``auto``: a GPU if CUDA is available).

    Returns:
        The network in eval mode on ``device``; ``model.spec`` says what it is and reads.

    Raises:
        ManifestError: an unknown model.
        FileNotFoundError: a weights file or folder that does not exist.
        ValueError: a file that holds another model than the one named.
        WeightsNotPublishedError: no file is published or registered for it.
        WeightsDownloadError: neither the Hub nor the cache provides the file.
        WeightsIntegrityError: a file whose hash, size or tensors are wrong.
    """
    state: dict[str, torch.Tensor] | None = None
    file: Path | None = None  # a local weights file
    path = None if isinstance(model, Sen12msWeights) else Path(model)
    local = path is not None and (
        isinstance(model, os.PathLike)
        or path.suffix in (".safetensors", CHECKPOINT_SUFFIX)
        or len(path.parts) > 1
        or path.exists()
    )
    if local and (modality, label_type, weights) != (None, None, None):
        raise ValueError(
            f"{model} is a path, whose file records its model: give it alone, load_model({str(model)!r}), or name "
            "the model and give the path as weights="
        )
    if path and local:
        state, spec = _read_local(file := _local_file(path), None, False, num_classes, in_chans)
    else:
        name = model if isinstance(model, Sen12msWeights) else str(model)
        member = get_weights(name, modality, label_type)
        if weights is not None:
            said = label_type_given(name, modality, label_type)
            state, spec = _read_local(file := _local_file(Path(weights)), member, said, num_classes, in_chans)
        elif pretrained:
            path, entry = locate(member, cache_dir=cache_dir, force_download=force_download)
            data = read_verified(path, entry, fetched=entry.published)  # locate: the Hub entry for a Hub file
            spec, state = ModelSpec.of(member), parse_safetensors(data, path)
        else:  # random weights: no origin, and the stem built for the channels asked
            spec = dataclasses.replace(ModelSpec.of(member), weights=None)
            if in_chans is not None and in_chans != spec.in_chans:
                spec = dataclasses.replace(spec, in_chans=in_chans, bands=None)
    pool = {"global_pool": spec.global_pool} if spec.arch == "densenet121" else {}
    network = build_model(spec.arch, spec.in_chans, spec.num_classes, **pool)
    if state is not None:
        _load_state(network, state, str(file or spec.weights))
    network.spec = spec
    if in_chans is not None and in_chans != network.in_chans:
        if not adapt_first_conv:
            raise ValueError(
                f"{spec.name} reads {spec.in_chans} channels ({', '.join(spec.bands or ())}), you asked for "
                f"in_chans={in_chans}; pass adapt_first_conv=True to adapt the first convolution"
            )
        network.adapt_in_chans(in_chans)
    if num_classes is not None and num_classes != network.num_classes:
        network.reset_classifier(num_classes)
    return network.to(resolve_device(device)).eval()


def _local_file(path: Path) -> Path:
    """A weights file: ``path``, or a folder's ``model.safetensors`` (``save_pretrained``) or only ``.safetensors``."""
    if path.is_dir():
        found = [path / WEIGHTS_FILE] if (path / WEIGHTS_FILE).is_file() else sorted(path.glob("*.safetensors"))
        if len(found) != 1:
            raise FileNotFoundError(
                f"{path} is a folder without {WEIGHTS_FILE} or a single .safetensors file; save a model there "
                "with save_pretrained, or give the file"
            )
        return found[0]
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    return path


def _read_local(
    path: Path, member: Sen12msWeights | None, said: bool, num_classes: int | None, in_chans: int | None
) -> tuple[dict[str, torch.Tensor], ModelSpec]:
    """The tensors and spec of a local file of the model named, if any; verified when a manifest knows the model it
    holds (its recorded one, else the one named), with an ``UnverifiedWeightsWarning`` if none knows it and one was
    named."""
    if path.suffix == CHECKPOINT_SUFFIX:
        config = (checkpoint := load_checkpoint(path))["config"]
        trained = get_weights("-".join(str(config.get(key)) for key in ("arch", "modality", "label_type")))
        return dict(checkpoint["model"]), _check_asked(path, ModelSpec.of(trained), member, said)
    data, named = path.read_bytes(), member is not None
    refuse_pickle(data, path)
    if (recorded := _recorded_spec(data)) is not None:
        recorded = _check_asked(path, recorded, member, said)
        member = get_weights(recorded.name) if recorded.name in known_models() else None
    state = parse_safetensors(_verify_local(path, data, member, named) if member else data, path)
    if recorded is not None:
        return state, recorded
    if member is None:
        raise WeightsIntegrityError(
            f"{path} does not say which model it holds (no {SPEC_KEY!r} in its header, as save_pretrained writes); "
            "name it: load_model(NAME, weights=PATH)"
        )
    spec, network = ModelSpec.of(member), MODEL_CLASSES[member.arch]
    head, stem = state.get(f"{network.classifier_name}.weight"), state.get(f"{network.first_conv_name}.weight")
    if head is not None and (norm := state.get("features.norm5.weight")) is not None and head.shape[1] == len(norm):
        spec = dataclasses.replace(spec, global_pool="avg")  # a DenseNet121 head fine-tuned on pooled features
    if head is not None and head.shape[0] == num_classes != spec.num_classes:
        label_type = member.label_type if said else None
        spec = dataclasses.replace(spec, classes=tuple(map(str, range(num_classes))), label_type=label_type)
    if stem is not None and stem.shape[1] == in_chans != spec.in_chans:
        spec = dataclasses.replace(spec, in_chans=in_chans, bands=None)
    return state, spec


def _recorded_spec(data: bytes) -> ModelSpec | None:
    """The spec in a safetensors header (``save_pretrained``'s), read before the file is verified."""
    with contextlib.suppress(ValueError, AttributeError):  # not safetensors: parse_safetensors says so
        metadata = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
        return ModelSpec.from_json(json.loads(metadata[SPEC_KEY])) if SPEC_KEY in metadata else None
    return None


def _check_asked(path: Path, spec: ModelSpec, member: Sen12msWeights | None, said: bool) -> ModelSpec:
    """``spec``, read from ``path``, if it is the model named (its rule filled in if the file has none)."""
    if member is None:
        return spec
    held = (spec.arch, spec.modality, spec.label_type or (member.label_type if said else None))
    asked = (member.arch, member.modality, member.label_type)[: 3 if said else 2]
    if held[: len(asked)] != asked:
        what = f"arch={held[0]}, modality={held[1] or 'none'}, label_type={held[2] or 'none'}"
        raise ValueError(
            f"{path} holds {spec.name} ({what}, {spec.num_classes} classes), but {'-'.join(asked)} was asked "
            f"for: load it without a name, load_model({str(path)!r}) (CLI: --weights without --model), "
            "or name the model it holds"
        )
    return dataclasses.replace(spec, label_type=held[2])


def _verify_local(path: Path, data: bytes, member: Sen12msWeights, warn: bool) -> bytes:
    """``data`` checked against the manifest beside ``path``, the package's or the registry's; ``warn``: if none
    knows it."""
    beside = path.parent / MANIFEST_FILE
    recorded = read_manifest(beside) if beside.is_file() else {}
    if (entry := recorded.get(member.value)) and path.name == member.filename:
        return read_verified(path, entry)
    digest = sha256_hex(data)
    if not entry and (other := next((name for name, e in recorded.items() if e.sha256 == digest), None)):
        raise WeightsIntegrityError(
            f"{path} is {other} according to {beside}, not {member.value}: "
            f"load it as load_model({other!r}, weights=...)"
        )
    if warn and digest not in {e.sha256 for e in (member.entry, read_registry().get(member.value)) if e is not None}:
        warnings.warn(
            f"{path} (sha256 {digest}) is recorded for {member.value} by no weights manifest (the one beside it, "
            "the package's, the local registry's); loading it without a hash check",
            UnverifiedWeightsWarning,
            stacklevel=4,
        )
    return data


def _load_state(model: Sen12msClassifier, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``, refusing any key, shape or dtype mismatch by name."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [
        f"{key}: file {tuple(state[key].shape)} {state[key].dtype}, "
        f"model {tuple(expected[key].shape)} {expected[key].dtype}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape or state[key].dtype != expected[key].dtype
    ]
    parts = [
        f"{label} {format_names(items)}"
        for label, items in (("missing tensors", missing), ("unexpected tensors", unexpected), ("mismatched", wrong))
        if items
    ]
    head = f"{model.classifier_name}.weight"
    if head in state and head in expected and (outputs := state[head].shape[0]) != expected[head].shape[0]:
        parts.append(f"the file's head has {outputs} outputs: pass num_classes={outputs}")
    if parts:
        raise WeightsIntegrityError(
            f"{source} does not fit {model.arch} with {model.in_chans} input channels: " + "; ".join(parts)
        )
    model.load_state_dict(state)


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """A training checkpoint (``best.pt``, ``last.pt``), read with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist (a training run's folder, `sen12ms-models train --output-dir RUN`, "
            "holds run.json, metrics.jsonl, RUN/best.pt and RUN/last.pt)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise WeightsIntegrityError(
            f"{path}: not a loadable training checkpoint ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise WeightsIntegrityError(
            f"{path}: not a sen12ms-models training checkpoint (no {CHECKPOINT_FORMAT!r} marker). {STATE_DICT_REMEDY}"
        )
    if state.get("version") != CHECKPOINT_VERSION:
        raise WeightsIntegrityError(
            f"{path}: checkpoint version {state.get('version')}, this library reads {CHECKPOINT_VERSION}"
        )
    return state


def _build(arch: str, weights: Sen12msWeights | str | None, **kwargs: Any) -> Sen12msClassifier:
    """``load_model`` of ``weights`` (a member, its name, a model name); ``None``: of ``DEFAULT``, not pretrained."""
    if weights is None:  # torchvision's random init: the DEFAULT model's bands and label rule, no weights
        weights, kwargs = WEIGHTS[arch]["DEFAULT"], {**kwargs, "pretrained": False}
    elif isinstance(weights, str) and weights in WEIGHTS[arch].__members__:  # weights="MEMBER_NAME"
        weights = WEIGHTS[arch][weights]
    member = get_weights(weights)
    if member.arch != arch:
        raise ValueError(f"{member.value} are not {arch} weights")
    return load_model(member, **kwargs)


def resnet50(*, weights: Sen12msWeights | str | None = None, progress: bool = True, **kwargs: Any) -> Sen12msClassifier:
    """The ResNet50 baseline as torchvision builds its models: ``load_model(weights, **kwargs)``.

    Args:
        weights: a ``ResNet50_Weights`` member, its member name or a model name; ``None``: random weights,
            as ``load_model(ResNet50_Weights.DEFAULT, pretrained=False, **kwargs)`` builds them (S1 + S2 bands,
            multi-label).
        progress: accepted as torchvision's builders accept it (the Hub client shows progress).
        **kwargs: to ``load_model`` (``num_classes``, ``in_chans``, ``device``...).
    """
    return _build("resnet50", weights, **kwargs)


def densenet121(
    *,
    weights: Sen12msWeights | str | None = None,
    progress: bool = True,
    global_pool: str | None = None,
    **kwargs: Any,
) -> Sen12msClassifier:
    """The DenseNet121 baseline (256x256 input with the published head), as torchvision builds its models:
    ``load_model(weights, **kwargs)``.

    Args:
        weights: a ``DenseNet121_Weights`` member, its member name or a model name; ``None``: random weights,
            as ``load_model(DenseNet121_Weights.DEFAULT, pretrained=False, **kwargs)`` builds them.
        progress: accepted as torchvision's builders accept it.
        global_pool: ``"avg"``: a fresh pooled head, for any input size (``reset_classifier``).
        **kwargs: to ``load_model`` (``num_classes``, ``in_chans``, ``device``...).
    """
    model = cast(Sen12msDenseNet121, _build("densenet121", weights, **kwargs))
    if global_pool is not None:
        model.reset_classifier(model.num_classes, global_pool)
    return model


def optimize_for_inference(model: Sen12msClassifier) -> Sen12msClassifier:
    """An inference-only copy of ``model``: BatchNorm folded into the convolution before it,
    channels-last memory, no gradients.

    Args:
        model: a network in any mode; it is not changed.

    Returns:
        The copy, in eval mode: the same outputs up to float rounding, about 1.3x faster on CPU for
        ResNet50 (``benchmarks/inference.py``); not for training (its BNs are gone).
    """
    fused = copy.deepcopy(model).eval()
    for parent, conv_name, bn_name in fused.conv_bn_pairs():
        setattr(parent, conv_name, fuse_conv_bn_eval(getattr(parent, conv_name), getattr(parent, bn_name)))
        setattr(parent, bn_name, nn.Identity())
    return fused.requires_grad_(False).to(memory_format=torch.channels_last)


@contextlib.contextmanager
def inference_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Forward passes in ``precision`` (``PRECISIONS``): ``tf32_flags`` and, for ``bf16``, autocast."""
    with tf32_flags(precision), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


@contextlib.contextmanager
def tf32_flags(precision: str) -> Iterator[None]:
    """cuBLAS and cuDNN with TF32 tensor cores for ``tf32``, in strict float32 for ``fp32`` and ``bf16`` (outside
    autocast), restored on exit; ``ValueError`` for a precision not in ``PRECISIONS``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
