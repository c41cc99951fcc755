"""``load_model``: a baseline with verified weights, in one call.

Weights come, in this order, from ``weights=PATH`` when given, else the Hub file the manifest
pins (downloaded once, then cached), else the local registry (converted or trained files).
Every file is size- and sha256-checked against the entry that knows it before safetensors
parses it, and its tensors are checked against the architecture before they are loaded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from .download import (
    fetch_weights,
    not_published_error,
    parse_safetensors,
    read_verified_bytes,
    sha256_hex,
)
from .errors import WeightsIntegrityError, WeightsNotPublishedError, format_names
from .models import Sen12msClassifier, build_model
from .registry import find_registered
from .weights import WeightsSpec, get_weights, load_manifest

_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+, torch.save's zip container


class UnverifiedWeightsWarning(UserWarning):
    """A local weight file that no manifest knows was loaded without a hash check."""


def load_model(
    arch: str,
    modality: str,
    label_type: str = "multi",
    *,
    pretrained: bool = True,
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    adapt_first_conv: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
    device: str | torch.device | None = None,
) -> Sen12msClassifier:
    """Build ``arch`` for ``modality`` and load its verified weights; returns an eval-mode model.

    - ``pretrained=False``: random (Kaiming) initialization, nothing fetched.
    - ``weights=PATH``: a local ``.safetensors`` file instead of the Hub's.
    - ``num_classes=K``: keep the pretrained backbone, give a fresh K-class head.
    - ``in_chans=C`` with ``adapt_first_conv=True``: adapt the first convolution to C input
      channels (see ``Sen12msClassifier.adapt_in_chans``); without it a mismatch is an error.

    A download takes at most ``$SEN12MS_MODELS_DOWNLOAD_TIMEOUT`` seconds (default 600), then
    fails with ``WeightsDownloadError``; a cached file needs no network at all.

    >>> model = load_model("resnet50", "s1s2")                    # doctest: +SKIP
    >>> model = load_model("resnet50", "s2", num_classes=6)       # doctest: +SKIP
    """
    spec = get_weights(arch, modality, label_type)
    model = build_model(arch, spec.in_chans, spec.num_classes)
    if weights is not None:
        _load_into(model, _read_local_weights(Path(weights), spec), Path(weights))
    elif pretrained:
        path, data = _fetch_verified(spec, cache_dir=cache_dir, force_download=force_download)
        _load_into(model, data, path)
    model.spec = spec
    if in_chans is not None and in_chans != spec.in_chans:
        if not adapt_first_conv:
            raise ValueError(
                f"{spec.name} reads {spec.in_chans} channels ({', '.join(spec.bands)}), you asked "
                f"for in_chans={in_chans}; pass adapt_first_conv=True to adapt the first convolution"
            )
        model.adapt_in_chans(in_chans)
    if num_classes is not None and num_classes != spec.num_classes:
        model.reset_classifier(num_classes)
    model.to(device).to(memory_format=torch.channels_last)
    return model.eval()


def _fetch_verified(
    spec: WeightsSpec, *, cache_dir: str | os.PathLike[str] | None, force_download: bool
) -> tuple[Path, bytes]:
    """The verified bytes of ``spec``'s file: from the Hub if published, else the registry."""
    if spec.published:
        path = fetch_weights(spec, cache_dir=cache_dir, force_download=force_download)
        return path, _verified(path, spec)
    registered = find_registered(spec.name)
    if registered is None:
        raise not_published_error(spec)
    entry, path = registered
    return path, _verified(path, entry)


def _verified(path: Path, entry: WeightsSpec) -> bytes:
    assert entry.sha256 is not None
    if not path.is_file():
        raise WeightsNotPublishedError(f"{path}: registered for {entry.name} but missing")
    return read_verified_bytes(path, sha256=entry.sha256, size=entry.size, name=entry.name)


def _read_local_weights(path: Path, spec: WeightsSpec) -> bytes:
    """Bytes of a user-given file: verified when a manifest knows it, else loaded with a warning."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    with path.open("rb") as handle:
        head = handle.read(9)
    # bytes 0-7 of a safetensors file are its header length (any value), byte 8 opens the JSON header
    renamed_pickle = head.startswith(_PICKLE_MAGIC) and head[8:9] != b"{"
    if path.suffix != ".safetensors" or renamed_pickle:
        raise WeightsIntegrityError(
            f"{path}: only .safetensors weight files are loaded (pickles are never unpickled); "
            "turn a PyTorch checkpoint into one with `sen12ms-models convert CHECKPOINT.pth ...`"
        )
    if path.name == spec.filename and spec.sha256 is not None:
        return read_verified_bytes(path, sha256=spec.sha256, size=spec.size, name=spec.name)
    data = path.read_bytes()
    known = {entry.sha256 for entry in load_manifest().values()}
    registered = find_registered(spec.name)
    if registered is not None:
        known.add(registered[0].sha256)
    if sha256_hex(data) not in known:
        warnings.warn(
            f"{path} is not in any weights manifest; loading it without a hash check",
            UnverifiedWeightsWarning,
            stacklevel=3,
        )
    return data


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
