"""Fetch weight files from the Hugging Face Hub at the manifest's pinned commit.

``hf_hub_download`` does the transfer, caching (``HF_HOME``, ``cache_dir``) and offline mode
(``HF_HUB_OFFLINE=1``), within a wall-clock bound (``$SEN12MS_MODELS_DOWNLOAD_TIMEOUT`` seconds,
default 600): the library's own timeouts bound a silent server, but not one that throttles
(``Retry-After``) or trickles bytes. The file is verified by ``hub.verify`` before it is parsed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from sen12ms_models._threads import DeadlineExceeded, call_within
from sen12ms_models._types import PathLike
from sen12ms_models.errors import WeightsDownloadError, WeightsNotPublishedError

if TYPE_CHECKING:
    from sen12ms_models.models.spec import WeightsSpec

#: Environment variable bounding one fetch (metadata, retries, backoff and transfer), in seconds.
DOWNLOAD_TIMEOUT_ENV = "SEN12MS_MODELS_DOWNLOAD_TIMEOUT"
DEFAULT_DOWNLOAD_TIMEOUT = 600.0

#: Every error the download stack raises for network and HTTP trouble (HTTPError base included).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EntryNotFoundError,
    *HfHubHTTPError.__bases__,
)


def not_published_error(spec: WeightsSpec) -> WeightsNotPublishedError:
    """The error for an entry without a published file, saying how to obtain the weights."""
    return WeightsNotPublishedError(
        f"no weights are published yet for {spec.name} (the manifest has no revision/sha256). "
        "To obtain them: convert the SEN12MS toolbox's released checkpoint with "
        f"`sen12ms-models convert CHECKPOINT.pth --model {spec.name} -o DIR`, or train them with "
        f"`sen12ms-models train --model {spec.name} --data-dir SEN12MS_ROOT --output-dir RUN` and "
        "`sen12ms-models export RUN --output-dir DIR --register`. Both register the file locally, so "
        f"load_model({spec.name!r}) then finds it; or pass load_model(..., weights='DIR/FILE.safetensors'). "
        "Build without weights with pretrained=False."
    )


def fetch_weights(spec: WeightsSpec, *, cache_dir: PathLike | None = None, force_download: bool = False) -> Path:
    """Download (or find in the cache) the weight file of ``spec`` and return its local path.

    The file is not verified here; ``read_verified_bytes`` does that. Raises
    ``WeightsNotPublishedError`` for an entry without a published file and
    ``WeightsDownloadError`` when neither the Hub nor the cache can provide it within
    ``download_timeout()`` seconds.
    """
    repo_id = spec.repo_id
    if not spec.published or repo_id is None:
        raise not_published_error(spec)
    seconds = download_timeout()
    try:
        path = call_within(
            seconds,
            lambda: hf_hub_download(
                repo_id,
                spec.filename,
                revision=spec.revision,
                cache_dir=None if cache_dir is None else Path(cache_dir),
                force_download=force_download,
            ),
        )
    except DeadlineExceeded:
        raise _fetch_error(
            spec,
            force_download,
            f"not done within {seconds:g} s ({DOWNLOAD_TIMEOUT_ENV}): the server stalls, throttles or is too "
            f"slow; on a slow connection set {DOWNLOAD_TIMEOUT_ENV} to more seconds",
        ) from None
    except Exception as error:
        # force_download=True turns a failed metadata request into a ValueError caused by it
        if not isinstance(error, NETWORK_ERRORS) and not isinstance(error.__cause__, NETWORK_ERRORS):
            raise
        raise _fetch_error(spec, force_download, error_chain(error)) from error
    return Path(path)


def _fetch_error(spec: WeightsSpec, force_download: bool, reason: str) -> WeightsDownloadError:
    """The error for a file that neither the Hub nor the cache provided, naming it and why."""
    offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
    cache = "force_download=True, so the cache was not used" if force_download else "it is not in the cache"
    return WeightsDownloadError(
        f"could not fetch {spec.filename} of {spec.name} from {constants.ENDPOINT}/{spec.repo_id} "
        f"at revision {spec.revision}{offline}, and {cache}: {reason}"
    )


def error_chain(error: BaseException) -> str:
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
