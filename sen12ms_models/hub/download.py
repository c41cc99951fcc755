"""Weight files from the Hugging Face Hub at the manifest's pinned commit, verified before a byte is parsed.

``hf_hub_download`` does the transfer, cache, offline mode and timeouts; size and sha256 are then
checked on the very bytes safetensors parses. Nothing is unpickled (docs/security.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from sen12ms_models.errors import WeightsDownloadError, WeightsIntegrityError, WeightsNotPublishedError
from sen12ms_models.weights import MANIFEST_FILE, ManifestEntry, Sen12msWeights, registry_dir, sha256_hex

if TYPE_CHECKING:
    import torch

#: Every error the download stack raises for network and HTTP trouble (HTTPError base included).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, EntryNotFoundError, *HfHubHTTPError.__bases__)
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+, torch.save's zip container


def not_published_error(weights: Sen12msWeights) -> WeightsNotPublishedError:
    """The error for a model without a published or registered file, saying how to obtain one."""
    name = weights.value
    return WeightsNotPublishedError(
        f"no weights are published yet for {name} (the manifest has no revision/sha256). To obtain them: "
        f"convert the SEN12MS toolbox's released checkpoint with `sen12ms-models convert CHECKPOINT.pth --model "
        f"{name} -o DIR`, or train them with `sen12ms-models train --model {name} --data-dir SEN12MS_ROOT "
        "--output-dir RUN` and `sen12ms-models export RUN --output-dir DIR --register`. Both register the file "
        f"locally, so {name} is then found by name; or give the file: --weights DIR/FILE.safetensors "
        "(Python: load_model(..., weights=PATH); without weights: pretrained=False)."
    )


def locate(
    weights: Sen12msWeights, *, cache_dir: str | os.PathLike[str] | None = None, force_download: bool = False
) -> tuple[Path, ManifestEntry]:
    """The local path and entry of the file ``load_model(name)`` loads (``weights.loadable``, not yet verified): the
    published one from the Hub cache (``fetch``), else the registered one (``force_download`` does not apply).

    Raises:
        WeightsNotPublishedError: no file is published or registered.
        FileNotFoundError: the registered file is gone.
    """
    if (entry := weights.loadable) is None:
        raise not_published_error(weights)
    if entry.published:
        return fetch(weights, cache_dir=cache_dir, force_download=force_download), entry
    path = registry_dir() / weights.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is registered for {weights.value} in {registry_dir() / MANIFEST_FILE} but does not exist; "
            f"{_write_anew(weights.value)}"
        )
    return path, entry


def _write_anew(name: str) -> str:
    """How to replace a file written on this machine (converted or exported), which nothing can fetch."""
    return (
        f"write it anew with `sen12ms-models convert CHECKPOINT.pth --model {name} -o DIR` or `sen12ms-models "
        "export RUN --output-dir DIR --register` (each registers the new file)"
    )


def fetch(
    weights: Sen12msWeights, *, cache_dir: str | os.PathLike[str] | None = None, force_download: bool = False
) -> Path:
    """The local path of ``weights``' published file, from the cache or downloaded (not yet verified)."""
    entry = weights.entry
    if entry is None or not entry.published:
        raise not_published_error(weights)
    folder = None if cache_dir is None else Path(cache_dir)
    if force_download:  # a cache without symlinks keeps a snapshot copy that huggingface_hub would not replace
        cached = try_to_load_from_cache(entry.repo_id, weights.filename, cache_dir=folder, revision=entry.revision)
        if isinstance(cached, str) and not os.path.islink(cached):
            os.remove(cached)
    try:
        path = hf_hub_download(
            entry.repo_id, weights.filename, revision=entry.revision, cache_dir=folder, force_download=force_download
        )
    except Exception as error:
        # force_download=True turns a failed metadata request into a ValueError caused by it
        if not isinstance(error, NETWORK_ERRORS) and not isinstance(error.__cause__, NETWORK_ERRORS):
            raise
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        cache = "force_download=True, so the cache was not used" if force_download else "it is not in the cache"
        raise WeightsDownloadError(
            f"could not fetch {weights.filename} of {weights.value} from {constants.ENDPOINT}/{entry.repo_id} at "
            f"revision {entry.revision}{offline}, and {cache}: {error_chain(error)}"
        ) from error
    return Path(path)


def error_chain(error: BaseException) -> str:
    """``Type: message`` of ``error`` and of each error that caused it and says something new."""
    text, seen, cause = f"{type(error).__name__}: {error}", {id(error)}, error.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if str(cause) not in text:
            text += f" <- caused by {type(cause).__name__}: {cause}"
        cause = cause.__cause__
    return text


def read_verified(path: str | os.PathLike[str], entry: ManifestEntry, *, fetched: bool = False) -> bytes:
    """The bytes of ``path`` if their size and sha256 are ``entry``'s, else ``WeightsIntegrityError`` (file kept)
    whose remedy fits where the file came from: the Hub cache (``fetched``), else a local ``convert``/``export``."""
    data = Path(path).read_bytes()
    if (len(data), actual := sha256_hex(data)) != (entry.size, entry.sha256):
        remedy = (
            f"fetch it anew with load_model({entry.name!r}, force_download=True) (CLI: `sen12ms-models download "
            f"{entry.name} --force`)"
            if fetched
            else _write_anew(entry.name)
        )
        raise WeightsIntegrityError(
            f"{path}: sha256 {actual} ({len(data)} bytes) does not match the manifest's {entry.sha256} ({entry.size} "
            f"bytes) for {entry.name}; the file was NOT loaded. It is truncated, corrupted or not the file the "
            f"manifest records: {remedy}."
        )
    return data


#: How a ``torch.save``d state dict of one of these networks becomes a file ``load_model`` reads.
STATE_DICT_REMEDY = (
    "A state dict saved with torch.save becomes one with safetensors.torch.save_file(torch.load(PATH, "
    "weights_only=True), 'model.safetensors'); then load_model(NAME, weights='model.safetensors')"
)


def file_kind(data: bytes) -> str:
    """``safetensors``, ``pickle`` (protocol 2+, or torch.save's zip archive) or ``other``, from the first bytes."""
    # bytes 0-7 of a safetensors file are its header length (any value), byte 8 opens the JSON header
    if data[8:9] == b"{":
        return "safetensors"
    return "pickle" if data.startswith(_PICKLE_MAGIC) else "other"


def refuse_pickle(data: bytes, source: str | os.PathLike[str]) -> None:
    """``WeightsIntegrityError`` naming ``source`` and the remedy if ``data`` is a pickle or torch's zip."""
    if file_kind(data) == "pickle":
        raise WeightsIntegrityError(
            f"{source}: only .safetensors weight files and this package's training checkpoints (.pt) are loaded "
            "(nothing else is unpickled), and this is a pickle. A SEN12MS toolbox checkpoint (.pth) becomes "
            f"safetensors with `sen12ms-models convert CHECKPOINT.pth --model NAME -o DIR`. {STATE_DICT_REMEDY}"
        )


def parse_safetensors(data: bytes, source: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of safetensors bytes; anything else is a ``WeightsIntegrityError`` naming ``source``."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    refuse_pickle(data, source)
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise WeightsIntegrityError(f"{source}: not a valid safetensors file ({error})") from error
