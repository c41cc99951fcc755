"""``load_model``: a baseline with verified weights, in one call.

Weights come, in this order, from ``weights=PATH`` when given, else the Hub file the manifest
pins (downloaded once, then cached), else the local registry (converted or trained files).
Every file is size- and sha256-checked against the entry that knows it before safetensors
parses it, and its tensors are checked against the architecture before they are loaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from sen12ms_models._types import PathLike
from sen12ms_models.errors import WeightsIntegrityError, WeightsNotPublishedError, format_names
from sen12ms_models.hub.download import fetch_weights, not_published_error
from sen12ms_models.hub.manifest import MANIFEST_FILE, ManifestEntry, read_manifest
from sen12ms_models.hub.registry import find_registered
from sen12ms_models.hub.verify import parse_safetensors, read_verified_bytes, refuse_non_safetensors, sha256_hex
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.spec import WeightsSpec, get_weights, load_entries

#: The trainer's checkpoints (``last.pt``, ``best.pt``); every other weight file is safetensors.
TRAINING_CHECKPOINT_SUFFIX = ".pt"


class UnverifiedWeightsWarning(UserWarning):
    """A local weight file that no manifest knows was loaded without a hash check."""


def load_model(
    model: str,
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
    device: str | torch.device | None = None,
) -> Sen12msClassifier:
    """Build a baseline and load its verified weights; returns an eval-mode model.

    ``model`` is a name from ``list_models()`` (``"resnet50-s1s2-multi"``, or ``"resnet50-s1s2"``
    for multi-label), or an architecture followed by ``modality`` and ``label_type``
    (``load_model("resnet50", "s1s2")``).

    - ``pretrained=False``: random (Kaiming) initialization, nothing fetched.
    - ``weights=PATH``: a local ``.safetensors`` file instead of the Hub's, verified when a
      manifest beside it, the package's or the local registry's records its hash; or a training
      checkpoint of this model (``RUN/best.pt``, read with ``torch.load(weights_only=True)``).
    - ``num_classes=K``: keep the pretrained backbone, give a fresh K-class head (``model.spec``
      then has K classes and an unknown decision rule until ``reset_classifier`` names one).
    - ``in_chans=C`` with ``adapt_first_conv=True``: adapt the first convolution to C input
      channels (see ``Sen12msClassifier.adapt_in_chans``); without it a mismatch is an error.

    Raises ``ManifestError`` for an unknown model, ``WeightsNotPublishedError`` when no file is
    published or registered, ``WeightsDownloadError`` when the Hub and the cache both fail
    (within ``$SEN12MS_MODELS_DOWNLOAD_TIMEOUT`` seconds, default 600), and
    ``WeightsIntegrityError`` for a file whose hash, size or tensors are wrong.

    >>> model = load_model("resnet50-s1s2-multi")               # doctest: +SKIP
    >>> model = load_model("resnet50", "s2", num_classes=6)     # doctest: +SKIP
    """
    spec = get_weights(model, modality, label_type)
    network = build_model(spec.arch, spec.in_chans, spec.num_classes)
    if weights is not None and Path(weights).suffix == TRAINING_CHECKPOINT_SUFFIX:
        network.load_state_dict(_training_checkpoint_state(Path(weights), spec))
    elif weights is not None:
        entry, data = _read_local_weights(Path(weights), spec)
        _load_into(network, data, Path(weights))
        spec = spec.with_entry(entry)
    elif pretrained:
        entry, path, data = _fetch_verified(spec, cache_dir=cache_dir, force_download=force_download)
        _load_into(network, data, path)
        spec = spec.with_entry(entry)
    network.spec = spec
    if in_chans is not None and in_chans != spec.in_chans:
        if not adapt_first_conv:
            raise ValueError(
                f"{spec.name} reads {spec.in_chans} channels ({', '.join(spec.bands or ())}), you asked "
                f"for in_chans={in_chans}; pass adapt_first_conv=True to adapt the first convolution"
            )
        network.adapt_in_chans(in_chans)
    if num_classes is not None and num_classes != spec.num_classes:
        network.reset_classifier(num_classes)
    network.to(device).to(memory_format=torch.channels_last)
    return network.eval()


def _training_checkpoint_state(path: Path, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """The weights of a ``sen12ms-models train`` checkpoint, refused unless it trained ``spec``'s model."""
    from sen12ms_models.training.checkpoint import load_checkpoint  # weights-only, no code unpickled

    try:
        state = load_checkpoint(path)
    except ValueError as error:  # anything torch.load(weights_only=True) refuses, or not our format
        raise WeightsIntegrityError(str(error)) from error
    config = state["config"]
    trained = "-".join(str(config.get(key)) for key in ("arch", "modality", "label_type"))
    if trained != spec.name:
        raise ValueError(f"{path} is a training checkpoint of {trained}, not of {spec.name}; name that model")
    return dict(state["model"])


def _fetch_verified(
    spec: WeightsSpec, *, cache_dir: PathLike | None, force_download: bool
) -> tuple[ManifestEntry, Path, bytes]:
    """The verified bytes of ``spec``'s file: from the Hub if published, else the registry."""
    if spec.published:
        assert spec.entry is not None
        path = fetch_weights(spec, cache_dir=cache_dir, force_download=force_download)
        return spec.entry, path, _verified(path, spec.entry)
    registered = find_registered(spec.name)
    if registered is None:
        raise not_published_error(spec)
    entry, path = registered
    return entry, path, _verified(path, entry)


def _verified(path: Path, entry: ManifestEntry) -> bytes:
    assert entry.sha256 is not None
    if not path.is_file():
        raise WeightsNotPublishedError(f"{path}: registered for {entry.name} but missing")
    return read_verified_bytes(path, sha256=entry.sha256, size=entry.size, name=entry.name)


def _read_local_weights(path: Path, spec: WeightsSpec) -> tuple[ManifestEntry | None, bytes]:
    """Bytes of a user-given file and the entry that vouches for them.

    A manifest beside the file (as ``export`` and ``convert`` write one) that records this model
    must match it exactly; otherwise the file is matched by hash against the package manifest
    and the local registry, and loaded with an ``UnverifiedWeightsWarning`` when none knows it.
    """
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    refuse_non_safetensors(path)
    beside = path.parent / MANIFEST_FILE
    entry = read_manifest(beside).get(spec.name) if beside.is_file() else None
    if entry is not None and entry.sha256 is not None and path.name == spec.filename:
        return entry, read_verified_bytes(path, sha256=entry.sha256, size=entry.size, name=spec.name)
    data = path.read_bytes()
    digest = sha256_hex(data)
    candidates = [e for e in load_entries().values() if e.name == spec.name]
    registered = find_registered(spec.name)
    if registered is not None:
        candidates.append(registered[0])
    known = next((e for e in candidates if e.sha256 == digest), None)
    if known is None:
        warnings.warn(
            f"{path} is not in any weights manifest (none beside it, the package's or the local registry's "
            f"records sha256 {digest}); loading it without a hash check",
            UnverifiedWeightsWarning,
            stacklevel=3,
        )
    return known, data


def _load_into(model: Sen12msClassifier, data: bytes, source: Path) -> None:
    """Parse verified bytes and load them, refusing any key, shape or dtype mismatch by name."""
    state = parse_safetensors(data, source)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{key}: file {tuple(state[key].shape)} {state[key].dtype}, model "
        f"{tuple(expected[key].shape)} {expected[key].dtype}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape or state[key].dtype != expected[key].dtype
    ]
    if missing or unexpected or wrong:
        parts = [
            f"{label} {format_names(items)}"
            for label, items in (
                ("missing tensors", missing),
                ("unexpected tensors", unexpected),
                ("mismatched", wrong),
            )
            if items
        ]
        raise WeightsIntegrityError(
            f"{source} does not fit {model.arch} with {model.in_chans} input channels: " + "; ".join(parts)
        )
    model.load_state_dict(state)
