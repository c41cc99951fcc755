"""Verify weight files before a byte is parsed, and parse only safetensors.

The size and sha256 are checked on the very bytes that safetensors will parse, so no file can
be swapped between check and load. A file that fails is never loaded and never deleted: the
error names it, both hashes, and how to fetch it again. Pickles are never read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from sen12ms_models._types import PathLike
from sen12ms_models.errors import WeightsIntegrityError

if TYPE_CHECKING:
    import torch

_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+, torch.save's zip container


def sha256_hex(data: bytes) -> str:
    """The sha256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def read_verified_bytes(path: PathLike, *, sha256: str, size: int | None, name: str) -> bytes:
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


def parse_safetensors(data: bytes, source: PathLike) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes into tensors; anything else is refused naming ``source``."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors  # torch: only when weights are parsed

    try:
        return load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise WeightsIntegrityError(f"{source}: not a valid safetensors file ({error})") from error


def refuse_non_safetensors(path: Path) -> None:
    """Refuse ``path`` unless it is a ``.safetensors`` file (a renamed pickle is caught by its bytes)."""
    with path.open("rb") as handle:
        head = handle.read(9)
    # bytes 0-7 of a safetensors file are its header length (any value), byte 8 opens the JSON header
    renamed_pickle = head.startswith(_PICKLE_MAGIC) and head[8:9] != b"{"
    if path.suffix != ".safetensors" or renamed_pickle:
        raise WeightsIntegrityError(
            f"{path}: only .safetensors weight files and this package's training checkpoints (.pt) are loaded "
            "(nothing else is unpickled); a SEN12MS toolbox checkpoint (.pth) becomes safetensors with "
            "`sen12ms-models convert CHECKPOINT.pth --model NAME -o DIR`"
        )
