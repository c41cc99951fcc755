"""Read a SEN12MS toolbox checkpoint without unpickling code, and say what network it holds.

The toolbox released its trained baselines as PyTorch pickles (``*_model_best.pth``: a dict
with ``epoch``, ``arch``, ``model_state_dict``, ``optimizer_state_dict``, ``best_prec``).
``read_toolbox_checkpoint`` loads one with ``torch.load(weights_only=True)`` (only numpy
scalars, which ``best_prec`` is, are allowed beyond that) and infers architecture, input
channels and classes from the tensors; ``check_against`` refuses a file that does not fit
the model the user named.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sen12ms_models._types import PathLike
from sen12ms_models.bands import MODALITIES, modality_bands
from sen12ms_models.convert.toolbox_reference import TOOLBOX_ARCH_NAMES, TOOLBOX_HEADS
from sen12ms_models.errors import WeightsIntegrityError, format_names
from sen12ms_models.hub.verify import sha256_hex
from sen12ms_models.models.spec import WeightsSpec

#: Key prefix a state dict saved from ``nn.DataParallel`` or DDP puts before every key.
WRAPPER_PREFIX = "module."


def _numpy_scalar_globals() -> list[Any]:
    """What a pickled numpy scalar needs (``best_prec`` is sklearn's numpy float): data, not code.

    The reconstructor is allowed under numpy 1's and numpy 2's module names, because the
    released files were written with numpy 1.
    """
    scalar = np.float64(0).__reduce__()[0]
    dtypes = {type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["Float"]}
    named = [(scalar, f"numpy.{core}.multiarray.scalar") for core in ("core", "_core")]
    return [*named, np.dtype, *dtypes]


@dataclass(frozen=True)
class ToolboxCheckpoint:
    """A toolbox checkpoint as read: its state dict and what its tensors say it is."""

    path: Path
    sha256: str
    state: dict[str, torch.Tensor]
    arch: str
    in_chans: int
    num_classes: int
    epoch: int | None
    best_prec: float | None
    #: The prefix removed from every key (``module.`` for a ``nn.DataParallel``/DDP save), or ``""``.
    stripped_prefix: str = ""


def read_toolbox_checkpoint(path: PathLike) -> ToolboxCheckpoint:
    """Load a toolbox ``*.pth`` with ``weights_only=True`` and infer arch, channels and classes.

    Accepts the ``model_state_dict`` or ``state_dict`` key, or a bare state dict; a state dict
    saved from ``nn.DataParallel``/DDP (every key prefixed ``module.``) loses that prefix, which
    ``stripped_prefix`` reports. A file that needs more than tensors, plain containers and numpy
    scalars is refused, never unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise WeightsIntegrityError(
            f"{path}: refused: it needs more than torch.load(weights_only=True) allows "
            f"({_unpickler_reason(error)}). It is not unpickled in full, since that could run "
            "arbitrary code. If it holds a whole model object, re-save it where the model's code "
            "runs as torch.save({'model_state_dict': model.state_dict()}, ...)."
        ) from error
    except (RuntimeError, EOFError, KeyError, ValueError) as error:
        raise WeightsIntegrityError(f"{path}: not a readable PyTorch checkpoint ({error})") from error
    state = _state_dict_of(path, loaded)
    prefix = WRAPPER_PREFIX if state and all(key.startswith(WRAPPER_PREFIX) for key in state) else ""
    state = {key[len(prefix) :]: tensor for key, tensor in state.items()}
    arch = _infer_arch(path, state, loaded.get("arch"))
    return ToolboxCheckpoint(
        path=path,
        sha256=sha256_hex(data),
        state=state,
        arch=arch,
        in_chans=state["encoder.0.weight"].shape[1],
        num_classes=state[TOOLBOX_HEADS[arch][0]].shape[0],
        epoch=_number(loaded.get("epoch"), int),
        best_prec=_number(loaded.get("best_prec"), float),
        stripped_prefix=prefix,
    )


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """The line of torch's message that names what was refused, without its allowlisting advice."""
    lines = str(error).splitlines()
    line = next((x for x in lines if "WeightsUnpickler error" in x), lines[0] if lines else repr(error))
    return line.split(" Please use", 1)[0].split("WeightsUnpickler error: ", 1)[-1].strip().rstrip(".")


def _state_dict_of(path: Path, loaded: Any) -> dict[str, torch.Tensor]:
    """The ``model_state_dict`` or ``state_dict`` entry of ``loaded``, or ``loaded`` itself."""
    if not isinstance(loaded, dict):
        raise WeightsIntegrityError(f"{path}: holds a {type(loaded).__name__}, not a checkpoint dict")
    where = next((key for key in ("model_state_dict", "state_dict") if isinstance(loaded.get(key), dict)), None)
    state = loaded if where is None else loaded[where]
    not_tensors = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        what = (
            "no 'model_state_dict' or 'state_dict' entry, and it is no state dict itself"
            if where is None
            else f"its {where!r} entry is no state dict"
        )
        raise WeightsIntegrityError(f"{path}: {what} (non-tensor entries {format_names(not_tensors)})")
    return dict(state)


def _infer_arch(path: Path, state: Mapping[str, torch.Tensor], toolbox_arch: Any) -> str:
    """``resnet50`` or ``densenet121`` from the head's key and shape; anything else is refused."""
    found = [arch for arch, (key, _) in TOOLBOX_HEADS.items() if key in state]
    stem = state.get("encoder.0.weight")
    if len(found) != 1 or stem is None or stem.ndim != 4:
        said = f" (its arch entry says {toolbox_arch!r})" if toolbox_arch is not None else ""
        raise WeightsIntegrityError(
            f"{path}: not a SEN12MS toolbox ResNet50 or DenseNet121 checkpoint{said}: expected "
            f"'encoder.0.weight' and one head of {[key for key, _ in TOOLBOX_HEADS.values()]}, found keys "
            f"{format_names(sorted(state))}"
        )
    arch = found[0]
    key, in_features = TOOLBOX_HEADS[arch]
    head = state[key]
    if head.ndim != 2 or head.shape[1] != in_features:
        raise WeightsIntegrityError(
            f"{path}: {key} has shape {tuple(head.shape)}, but the toolbox's {TOOLBOX_ARCH_NAMES[arch]} "
            f"head is (classes, {in_features})"
        )
    if toolbox_arch is not None and toolbox_arch != TOOLBOX_ARCH_NAMES[arch]:
        raise WeightsIntegrityError(
            f"{path}: its arch entry says {toolbox_arch!r}, its tensors are a {TOOLBOX_ARCH_NAMES[arch]}'s; "
            f"only the toolbox's {' and '.join(TOOLBOX_ARCH_NAMES.values())} convert"
        )
    return arch


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    """``value`` as ``kind`` (int or float) for display, or None if absent or not a number."""
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def check_against(checkpoint: ToolboxCheckpoint, spec: WeightsSpec) -> None:
    """Refuse a checkpoint whose tensors do not fit the user's ``--arch``/``--modality``."""
    path, stem = checkpoint.path, tuple(checkpoint.state["encoder.0.weight"].shape)
    if checkpoint.arch != spec.arch:
        key = TOOLBOX_HEADS[checkpoint.arch][0]
        raise WeightsIntegrityError(
            f"{path} holds a toolbox {checkpoint.arch} ({key} {tuple(checkpoint.state[key].shape)}), "
            f"but {spec.name} (a {spec.arch}) was named"
        )
    if checkpoint.in_chans != spec.in_chans:
        fits = [m for m in MODALITIES if len(modality_bands(m)) == checkpoint.in_chans]
        names = [f"{spec.arch}-{modality}-{spec.label_type}" for modality in fits]
        hint = f"; a {checkpoint.in_chans}-channel checkpoint is {' or '.join(names)}" if fits else ""
        raise WeightsIntegrityError(
            f"{path} has a {checkpoint.in_chans}-channel first convolution (encoder.0.weight {stem}), but "
            f"{spec.name} reads {spec.in_chans} channels ({', '.join(spec.bands or ())}){hint}"
        )
    if checkpoint.num_classes != spec.num_classes:
        key = TOOLBOX_HEADS[checkpoint.arch][0]
        raise WeightsIntegrityError(
            f"{path} predicts {checkpoint.num_classes} classes ({key} {tuple(checkpoint.state[key].shape)}); "
            f"only the {spec.num_classes}-class simplified IGBP scheme (the toolbox's IGBP_simple) is supported"
        )
