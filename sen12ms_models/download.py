"""Fetch weight files from the Hugging Face Hub and verify them before a byte is parsed.

``hf_hub_download`` does the transfer, caching (``HF_HOME``, ``cache_dir``) and offline mode
(``HF_HUB_OFFLINE=1``) at the manifest's pinned commit. Then the file's size and sha256 are
checked against the manifest on the very bytes that safetensors will parse, so no file can be
swapped between check and load. A file that fails is never loaded and never deleted: the
error names it, both hashes, and how to fetch it again. Pickles are never read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from .errors import WeightsDownloadError, WeightsIntegrityError, WeightsNotPublishedError
from .weights import WeightsSpec

#: Every error the download stack raises for network and HTTP trouble (HTTPError base included).
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EntryNotFoundError,
    *HfHubHTTPError.__bases__,
)


def not_published_error(spec: WeightsSpec) -> WeightsNotPublishedError:
    """The error for an entry without a published file, saying how to obtain the weights."""
    return WeightsNotPublishedError(
        f"no weights are published yet for {spec.name} (the manifest has no revision/sha256). "
        "To obtain them: convert the SEN12MS toolbox's released checkpoint with "
        f"`sen12ms-models convert CHECKPOINT.pth --arch {spec.arch} --modality {spec.modality} "
        f"--label-type {spec.label_type} -o DIR`, or train them with "
        f"`sen12ms-models train --arch {spec.arch} --modality {spec.modality} "
        f"--label-type {spec.label_type} --data-dir SEN12MS_ROOT`; then pass "
        "load_model(..., weights='DIR/FILE.safetensors'). Build without weights with pretrained=False."
    )


def fetch_weights(
    spec: WeightsSpec, *, cache_dir: str | os.PathLike[str] | None = None, force_download: bool = False
) -> Path:
    """Download (or find in the cache) the weight file of ``spec`` and return its local path.

    The file is not verified here; ``read_verified_bytes`` does that. Raises
    ``WeightsNotPublishedError`` for an entry without a published file and
    ``WeightsDownloadError`` when neither the Hub nor the cache can provide it.
    """
    if not spec.published:
        raise not_published_error(spec)
    try:
        return Path(
            hf_hub_download(
                spec.repo_id,
                spec.filename,
                revision=spec.revision,
                cache_dir=cache_dir,
                force_download=force_download,
            )
        )
    except _NETWORK_ERRORS as error:
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise WeightsDownloadError(
            f"could not fetch {spec.filename} of {spec.name} from {constants.ENDPOINT}/{spec.repo_id} "
            f"at revision {spec.revision}{offline}, and it is not in the cache: "
            f"{type(error).__name__}: {error}"
        ) from error


def sha256_hex(data: bytes) -> str:
    """The sha256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def read_verified_bytes(path: str | os.PathLike[str], *, sha256: str, size: int | None, name: str) -> bytes:
    """Read ``path`` whole and return its bytes only if size and sha256 match the manifest."""
    path = Path(path)
    data = path.read_bytes()
    if size is not None and len(data) != size:
        raise WeightsIntegrityError(
            f"{path}: {len(data)} bytes, but the manifest says {name} is {size} bytes; the file was "
            "NOT loaded. It is truncated or not the published file: delete it, or call again with "
            "force_download=True, to fetch it anew."
        )
    actual = sha256_hex(data)
    if actual != sha256:
        raise WeightsIntegrityError(
            f"{path}: sha256 {actual} does not match the manifest's {sha256} for {name}; the file "
            "was NOT loaded. Delete it, or call again with force_download=True, to fetch it anew."
        )
    return data


def parse_safetensors(data: bytes, source: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes into tensors; anything else is refused naming ``source``."""
    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise WeightsIntegrityError(f"{source}: not a valid safetensors file ({error})") from error
