"""Point an already-imported ``huggingface_hub`` at a local ``HubServer``, offline or with short timeouts.

``huggingface_hub`` reads its environment at import time, so a test changes its constants in
place (through pytest's ``monkeypatch``, or anything with ``setattr``/``setenv``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def point_hub_at(monkeypatch: Any, url: str) -> None:
    """Point an already-imported ``huggingface_hub`` (2.4.0) at ``url`` for the current test.

    ``huggingface_hub.constants`` reads ``HF_ENDPOINT`` at import time and bakes it into
    ``ENDPOINT`` and ``HUGGINGFACE_CO_URL_TEMPLATE`` (the latter is what ``hf_hub_download`` formats),
    and the module-level ``HfApi`` instance behind ``list_repo_files`` & co copied ``ENDPOINT`` at import.
    All three are patched; the env var is also set for subprocesses. Also pins the agent-harness
    registry to empty: otherwise the first ``build_hf_headers`` of the process fetches
    ``{ENDPOINT}/api/agent-harnesses`` and writes it under ``HF_HOME`` (the user's ``~/.cache``).
    """
    from huggingface_hub import constants, hf_api
    from huggingface_hub.utils import _detect_agent

    endpoint = url.rstrip("/")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})


def set_hub_offline(monkeypatch: Any, offline: bool = True) -> None:
    """Toggle ``HF_HUB_OFFLINE`` in-process (the env var alone is only read at import time).

    The library checks ``constants.HF_HUB_OFFLINE`` at call time, in the HTTP client's request
    hook, which raises ``OfflineModeIsEnabled`` before anything is sent.
    """
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


def set_hub_timeouts(
    monkeypatch: Any,
    etag: float | None = None,
    download: float | None = None,
    etag_retry: float | None = None,
) -> None:
    """Shorten the library's timeouts in-process (env vars are only read at import time).

    etag: timeout of the metadata ``HEAD`` (``constants.HF_HUB_ETAG_TIMEOUT``; overrides the
        ``etag_timeout`` argument whenever it differs from the default 10).
    download: read/connect timeout of the ``GET`` (``constants.HF_HUB_DOWNLOAD_TIMEOUT``).
    etag_retry: timeout of the *second* ``HEAD`` made when the first failed and nothing is cached
        (private ``file_download._ETAG_RETRY_TIMEOUT``, hard-coded 60 s).
    """
    from huggingface_hub import constants, file_download

    settings: Iterable[tuple[Any, str, float | None]] = (
        (constants, "HF_HUB_ETAG_TIMEOUT", etag),
        (constants, "HF_HUB_DOWNLOAD_TIMEOUT", download),
        (file_download, "_ETAG_RETRY_TIMEOUT", etag_retry),
    )
    for module, name, value in settings:
        if value is not None:
            monkeypatch.setattr(module, name, value)


def skip_hub_backoff(monkeypatch: Any) -> None:
    """Let huggingface_hub retry a refused connection without its waits (1 + 2 + 4 + 8 + 8 s);
    ``http_backoff`` is the only user of ``time`` in its private ``utils._http`` module."""
    from types import SimpleNamespace

    from huggingface_hub.utils import _http

    monkeypatch.setattr(_http, "time", SimpleNamespace(sleep=lambda seconds: None))
