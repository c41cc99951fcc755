"""``convert_checkpoint``: a toolbox checkpoint in, a verified safetensors release folder out.

Reads the checkpoint (``checkpoint``), renames its keys (``keymap``), proves on a fixed random
input that the converted model gives the same logits as the original network (``proof``), and
writes a safetensors file, its manifest entry and a model card (``card``) into one folder,
optionally registering the file locally.

>>> conversion = convert_checkpoint("ResNet50_model_best.pth", "resnet50-s1s2-multi", output_dir="o")  # doctest: +SKIP
>>> conversion.max_abs_diff  # doctest: +SKIP
0.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import save as save_safetensors

from sen12ms_models._types import PathLike
from sen12ms_models.convert.card import LICENSE, model_card
from sen12ms_models.convert.checkpoint import ToolboxCheckpoint, check_against, read_toolbox_checkpoint
from sen12ms_models.convert.keymap import to_package_state_dict
from sen12ms_models.convert.proof import TOLERANCE, logits_difference
from sen12ms_models.errors import WeightsIntegrityError
from sen12ms_models.hub.manifest import CONVERTED, MANIFEST_FILE, ManifestEntry, read_manifest, write_manifest_entry
from sen12ms_models.hub.registry import register_weights, registry_dir
from sen12ms_models.hub.timm_config import write_timm_config
from sen12ms_models.hub.verify import parse_safetensors, sha256_hex
from sen12ms_models.models.spec import WeightsSpec, get_weights


@dataclass(frozen=True)
class Conversion:
    """The outcome of ``convert_checkpoint``: the entry written, its files, the proof's figure."""

    checkpoint: ToolboxCheckpoint
    spec: WeightsSpec
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
    """Convert a toolbox checkpoint into ``output_dir`` (safetensors, manifest entry, model card).

    ``model`` names the model the checkpoint holds (``"resnet50-s1s2-multi"``, or ``"resnet50"``
    with ``modality`` and ``label_type``); architecture and channels are checked against the
    tensors, the label type cannot be. Nothing is written unless every key maps and the
    serialized file, parsed back, reproduces the original network's logits within ``TOLERANCE``.
    ``register`` also copies the file into the local registry, so that ``load_model(name)``
    finds it without a path. Raises ``WeightsIntegrityError`` naming the file and the keys.
    """
    spec, out = get_weights(model, modality, label_type), Path(output_dir)
    _check_output_dir(out, spec, register)
    read = read_toolbox_checkpoint(checkpoint)
    check_against(read, spec)
    converted = to_package_state_dict(read)
    # One metadata entry only: safetensors writes several in random order, and the same release
    # must always give the same bytes (so that a published hash verifies anyone's conversion).
    data = save_safetensors(converted, metadata={"original_sha256": read.sha256})
    diff = logits_difference(read.state, parse_safetensors(data, out / spec.filename), read.arch)
    if not diff <= TOLERANCE:  # also refuses NaN
        raise WeightsIntegrityError(
            f"{read.path}: the converted weights change the logits by up to {diff:.3g} "
            f"(tolerance {TOLERANCE:g}); nothing was written"
        )
    out.mkdir(parents=True, exist_ok=True)
    weights, partial = out / spec.filename, out / f"{spec.filename}.partial"
    partial.write_bytes(data)  # the very bytes proven above; renamed into place whole
    partial.replace(weights)
    entry = ManifestEntry(
        name=spec.name,
        repo_id=spec.repo_id or f"sen12ms-models/{spec.name}",
        source=CONVERTED,
        license=LICENSE,
        sha256=sha256_hex(data),
        size=len(data),
        metrics=spec.paper_metrics,
    )
    manifest = write_manifest_entry(entry, out / MANIFEST_FILE)
    converted_spec = spec.with_entry(entry)
    card = out / "README.md"
    card.write_text(model_card(converted_spec, read, diff), encoding="utf-8")
    write_timm_config(converted_spec, out)
    registered = None
    if register:
        register_weights(entry, weights)
        registered = registry_dir() / spec.filename
    return Conversion(read, converted_spec, weights, manifest, card, diff, registered)


def _check_output_dir(out: Path, spec: WeightsSpec, register: bool) -> None:
    """One model per folder (it becomes one Hub repo with one model card), never the registry."""
    if register and out.resolve() == registry_dir().resolve():
        raise ValueError(f"output folder {out} is the local registry itself; write elsewhere, registering copies there")
    manifest = out / MANIFEST_FILE
    others = sorted(set(read_manifest(manifest)) - {spec.name}) if manifest.is_file() else []
    if others:
        raise ValueError(
            f"output folder {out} already holds {', '.join(others)}; use one folder per model (each is one Hub repo "
            "with its own model card)"
        )
