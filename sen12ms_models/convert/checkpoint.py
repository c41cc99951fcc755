"""A SEN12MS toolbox checkpoint (``*_model_best.pth``) in, a verified safetensors release folder out."""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from sen12ms_models import weights
from sen12ms_models._types import PathLike
from sen12ms_models.bands import MODALITIES, modality_bands
from sen12ms_models.convert.card import LICENSE, model_card
from sen12ms_models.convert.toolbox import TOLERANCE, TOOLBOX_HEADS, arch_of, logits_difference, to_package_state_dict
from sen12ms_models.errors import WeightsIntegrityError, format_names
from sen12ms_models.hub.download import file_kind
from sen12ms_models.models.base import CONFIG_FILE, SPEC_KEY, ModelSpec, config_json


@dataclass(frozen=True)
class ToolboxCheckpoint:
    """A toolbox checkpoint as read; ``stripped_prefix`` is the DataParallel/DDP key prefix removed, or ``""``."""

    path: Path
    sha256: str
    state: dict[str, torch.Tensor]
    arch: str
    in_chans: int
    num_classes: int
    epoch: int | None
    best_prec: float | None
    stripped_prefix: str = ""


def read_toolbox_checkpoint(path: PathLike) -> ToolboxCheckpoint:
    """Load a toolbox ``*.pth`` (a dict with a ``model_state_dict`` or ``state_dict`` entry, or a bare state dict)
    with ``torch.load(weights_only=True)`` and infer arch, channels and classes; ``WeightsIntegrityError`` for
    anything else, or one that needs more than tensors, containers and numpy scalars (refused, never unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    if (kind := file_kind(data)) == "safetensors":
        raise WeightsIntegrityError(
            f"{path}: already a safetensors file, nothing to convert; load it with load_model(NAME, weights=PATH) "
            "(CLI: --weights PATH)"
        )
    if kind != "pickle":
        raise WeightsIntegrityError(
            f"{path}: not a PyTorch checkpoint (neither torch.save's zip archive nor a pickle; first bytes "
            f"{data[:8]!r}). Convert the toolbox's *_model_best.pth files"
        )
    # beyond tensors and containers: what a pickled numpy scalar (best_prec) needs, under numpy 1's and 2's names
    scalar = np.float64(0).__reduce__()[0]
    dtypes = {type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["Float"]}
    allowed: list[Any] = [np.dtype, *dtypes, *((scalar, f"numpy.{m}.multiarray.scalar") for m in ("core", "_core"))]
    try:
        with torch.serialization.safe_globals(allowed):
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # torch's message: why, then how to allowlist it
        reason = str(error).rpartition("WeightsUnpickler error: ")[2].split(" Please use")[0].strip()
        raise WeightsIntegrityError(
            f"{path}: refused: it needs more than torch.load(weights_only=True) allows "
            f"({reason.splitlines()[0].rstrip('.') if reason else 'no reason given'}). "
            "It is not unpickled in full, since that could run arbitrary code. If it holds a whole model object, "
            "re-save it where the model's code runs as torch.save({'model_state_dict': model.state_dict()}, ...)."
        ) from error
    except (RuntimeError, EOFError, KeyError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise WeightsIntegrityError(f"{path}: a damaged PyTorch checkpoint ({reason})") from error
    state = _state_dict_of(path, loaded)
    prefix = "module." if state and all(key.startswith("module.") for key in state) else ""
    state = {key.removeprefix(prefix): tensor for key, tensor in state.items()}
    arch, epoch, best_prec = arch_of(state, path, loaded.get("arch")), loaded.get("epoch"), loaded.get("best_prec")
    return ToolboxCheckpoint(
        path=path,
        sha256=weights.sha256_hex(data),
        state=state,
        arch=arch,
        in_chans=state["encoder.0.weight"].shape[1],
        num_classes=state[TOOLBOX_HEADS[arch]].shape[0],
        epoch=int(epoch) if isinstance(epoch, (int, np.integer)) else None,
        best_prec=float(best_prec) if isinstance(best_prec, (float, np.floating)) else None,
        stripped_prefix=prefix,
    )


def _state_dict_of(path: Path, loaded: Any) -> dict[str, torch.Tensor]:
    """The ``model_state_dict`` or ``state_dict`` entry of ``loaded``, or ``loaded`` itself."""
    if not isinstance(loaded, dict):
        raise WeightsIntegrityError(f"{path}: holds a {type(loaded).__name__}, not a checkpoint dict")
    where = next((key for key in ("model_state_dict", "state_dict") if isinstance(loaded.get(key), dict)), None)
    state = loaded if where is None else loaded[where]
    if not_tensors := [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]:
        what = f"its {where!r} entry is" if where else "no 'model_state_dict' or 'state_dict' entry, and it is"
        raise WeightsIntegrityError(f"{path}: {what} no state dict (non-tensor entries {format_names(not_tensors)})")
    return dict(state)


def check_against(checkpoint: ToolboxCheckpoint, spec: weights.Sen12msWeights) -> None:
    """Refuse a checkpoint whose tensors do not fit the model named (``--arch``/``--modality``)."""
    path, in_chans, head = checkpoint.path, checkpoint.in_chans, TOOLBOX_HEADS[checkpoint.arch]
    head_shape = f"{head} {tuple(checkpoint.state[head].shape)}"
    if checkpoint.arch != spec.arch:
        raise WeightsIntegrityError(
            f"{path} holds a toolbox {checkpoint.arch} ({head_shape}), but {spec.value} (a {spec.arch}) was named"
        )
    if in_chans != spec.in_chans:
        fits = [f"{spec.arch}-{m}-{spec.label_type}" for m in MODALITIES if len(modality_bands(m)) == in_chans]
        raise WeightsIntegrityError(
            f"{path} has a {in_chans}-channel first convolution (encoder.0.weight "
            f"{tuple(checkpoint.state['encoder.0.weight'].shape)}), but {spec.value} reads {spec.in_chans} channels "
            f"({', '.join(spec.bands)})" + (f"; a {in_chans}-channel checkpoint is {' or '.join(fits)}" if fits else "")
        )
    if checkpoint.num_classes != len(spec.classes):
        raise WeightsIntegrityError(
            f"{path} predicts {checkpoint.num_classes} classes ({head_shape}); only the {len(spec.classes)}-class "
            "simplified IGBP scheme (the toolbox's IGBP_simple) is supported"
        )


@dataclass(frozen=True)
class Conversion:
    """The outcome of ``convert_checkpoint``: the checkpoint read, the entry and files written, the proof's figure."""

    checkpoint: ToolboxCheckpoint
    weights_entry: weights.ManifestEntry
    weights: Path
    manifest: Path
    card: Path
    max_abs_diff: float
    registered: Path | None


def convert_checkpoint(
    checkpoint: PathLike,
    model: str,
    modality: str | None = None,
    label_type: str | None = None,
    output_dir: PathLike = ".",
    *,
    register: bool = True,
) -> Conversion:
    """Convert a toolbox checkpoint into ``output_dir``: safetensors weights, manifest entry, model card, config.

    Nothing is written unless every key maps and the serialized file, parsed back, gives the original network's
    logits within ``TOLERANCE``; the same checkpoint always gives the same bytes.

    Args:
        checkpoint: the toolbox's ``*.pth`` file.
        model: the model it holds (``"resnet50-s1s2-multi"``, or an arch with ``modality`` and ``label_type``);
            arch and channels are checked against the tensors, the label type cannot be.
        modality: with an arch as ``model``.
        label_type: with an arch as ``model``.
        output_dir: the folder written; one model per folder (it becomes one Hub repo).
        register: also copy the file into the local registry, so that ``load_model(name)`` finds it.

    Raises:
        WeightsIntegrityError: the checkpoint is refused (naming the file and the keys) or fails the proof.
        ValueError: ``output_dir`` holds another model, or is the registry.
        ManifestError: the manifest in use has no entry (Hub repository) for the model.
    """
    spec, out = weights.get_weights(model, modality, label_type), Path(output_dir)
    repo_id = spec.repo_id  # before anything is written
    manifest = out / weights.MANIFEST_FILE
    if register and out.resolve() == weights.registry_dir().resolve():
        raise ValueError(f"output folder {out} is the local registry itself; write elsewhere, registering copies there")
    others = sorted(set(weights.read_manifest(manifest)) - {spec.value}) if manifest.is_file() else []
    if others:
        raise ValueError(
            f"output folder {out} already holds {', '.join(others)}; use one folder per model (each is one Hub repo "
            "with its own model card)"
        )
    read = read_toolbox_checkpoint(checkpoint)
    check_against(read, spec)
    converted = to_package_state_dict(read.state, read.arch, read.in_chans, read.num_classes, read.path)
    # one header entry: safetensors writes several in random order, and the same release must give the same bytes
    header = json.dumps({**ModelSpec.of(spec).to_json(), "original_sha256": read.sha256})
    data = safetensors.torch.save(converted, metadata={SPEC_KEY: header})
    diff = logits_difference(read.state, safetensors.torch.load(data), read.arch)
    if not diff <= TOLERANCE:  # also refuses NaN
        raise WeightsIntegrityError(
            f"{read.path}: the converted weights change the logits by up to {diff:.3g} (tolerance {TOLERANCE:g}); "
            "nothing was written"
        )
    out.mkdir(parents=True, exist_ok=True)
    file, card = out / spec.filename, out / "README.md"
    file.write_bytes(data)
    entry = weights.ManifestEntry(
        spec.value, repo_id, weights.CONVERTED, LICENSE, sha256=weights.sha256_hex(data), size=len(data)
    )
    weights.write_manifest_entry(entry, manifest)
    card.write_text(model_card(spec, entry, read, diff), encoding="utf-8")
    config = json.dumps(config_json(ModelSpec.of(spec), spec.filename), indent=2)
    (out / CONFIG_FILE).write_text(config + "\n", encoding="utf-8")
    registered = weights.register_weights(entry, data) if register else None
    return Conversion(read, entry, file, manifest, card, diff, registered)
