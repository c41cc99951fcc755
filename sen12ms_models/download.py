"""Fetch weight files from the Hugging Face Hub and verify them before a byte is parsed.

``hf_hub_download`` does the transfer, caching (``HF_HOME``, ``cache_dir``) and offline mode
(``HF_HUB_OFFLINE=1``) at the manifest's pinned commit, within a wall-clock bound
(``$SEN12MS_MODELS_DOWNLOAD_TIMEOUT`` seconds, default 600): the library's own timeouts bound a
silent server, but not one that throttles (``Retry-After``) or trickles bytes. Then the file's
size and sha256 are checked against the manifest on the very bytes that safetensors will parse,
so no file can be swapped between check and load. A file that fails is never loaded and never
deleted: the error names it, both hashes, and how to fetch it again. Pickles are never read.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from .errors import WeightsDownloadError, WeightsIntegrityError, WeightsNotPublishedError
from .weights import WeightsSpec

T = TypeVar("T")

#: Environment variable bounding one fetch (metadata, retries, backoff and transfer), in seconds.
DOWNLOAD_TIMEOUT_ENV = "SEN12MS_MODELS_DOWNLOAD_TIMEOUT"
DEFAULT_DOWNLOAD_TIMEOUT = 600.0

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
        f"--label-type {spec.label_type} --data-dir SEN12MS_ROOT --output-dir RUN` and "
        "`sen12ms-models export RUN --output-dir DIR --register`. Both register the file locally, so "
        "load_model(arch, modality) then finds it; or pass load_model(..., weights='DIR/FILE.safetensors'). "
        "Build without weights with pretrained=False."
    )


def fetch_weights(
    spec: WeightsSpec, *, cache_dir: str | os.PathLike[str] | None = None, force_download: bool = False
) -> Path:
    """Download (or find in the cache) the weight file of ``spec`` and return its local path.

    The file is not verified here; ``read_verified_bytes`` does that. Raises
    ``WeightsNotPublishedError`` for an entry without a published file and
    ``WeightsDownloadError`` when neither the Hub nor the cache can provide it within
    ``download_timeout()`` seconds.
    """
    if not spec.published:
        raise not_published_error(spec)
    seconds = download_timeout()
    try:
        path = _call_within(
            seconds,
            lambda: hf_hub_download(
                spec.repo_id,
                spec.filename,
                revision=spec.revision,
                cache_dir=None if cache_dir is None else Path(cache_dir),
                force_download=force_download,
            ),
        )
    except _DeadlineExceeded:
        raise _fetch_error(
            spec,
            force_download,
            f"not done within {seconds:g} s ({DOWNLOAD_TIMEOUT_ENV}): the server stalls, throttles or is too "
            f"slow; on a slow connection set {DOWNLOAD_TIMEOUT_ENV} to more seconds",
        ) from None
    except Exception as error:
        # force_download=True turns a failed metadata request into a ValueError caused by it
        if not isinstance(error, _NETWORK_ERRORS) and not isinstance(error.__cause__, _NETWORK_ERRORS):
            raise
        raise _fetch_error(spec, force_download, _error_chain(error)) from error
    return Path(path)


def _fetch_error(spec: WeightsSpec, force_download: bool, reason: str) -> WeightsDownloadError:
    """The error for a file that neither the Hub nor the cache provided, naming it and why."""
    offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
    cache = "force_download=True, so the cache was not used" if force_download else "it is not in the cache"
    return WeightsDownloadError(
        f"could not fetch {spec.filename} of {spec.name} from {constants.ENDPOINT}/{spec.repo_id} "
        f"at revision {spec.revision}{offline}, and {cache}: {reason}"
    )


def _error_chain(error: BaseException) -> str:
    """``Type: message`` of ``error`` and of each error that caused it and says something new."""
    text = f"{type(error).__name__}: {error}"
    seen = {id(error)}
    cause = error.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if str(cause) not in text:
            text += f" <- caused by {type(cause).__name__}: {cause}"
        cause = cause.__cause__
    return text


def download_timeout() -> float:
    """Seconds one fetch may take in all: ``$SEN12MS_MODELS_DOWNLOAD_TIMEOUT``, default 600."""
    text = os.environ.get(DOWNLOAD_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_DOWNLOAD_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{DOWNLOAD_TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return seconds


class _DeadlineExceeded(Exception):
    """``_call_within`` gave up waiting."""


def _call_within(seconds: float, call: Callable[[], T]) -> T:
    """Return ``call()``, run in a daemon thread, or raise ``_DeadlineExceeded`` after ``seconds``.

    Python cannot cancel a thread: an abandoned download goes on in the background until it
    completes or the library's own timeouts end it. It writes only to a temporary file of its
    own, renamed into the cache when complete and of the announced size, and that file is
    verified like any other before it is ever loaded.
    """
    outcome: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()

    def run() -> None:
        try:
            outcome.put((True, call()))
        except BaseException as error:  # handed to the caller, re-raised there
            outcome.put((False, error))

    threading.Thread(target=run, name="sen12ms-models-fetch", daemon=True).start()
    try:
        succeeded, value = outcome.get(timeout=seconds)
    except queue.Empty:
        raise _DeadlineExceeded from None
    if not succeeded:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


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
