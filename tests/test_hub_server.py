"""The local Hub stand-in works with the real ``huggingface_hub.hf_hub_download`` (no mocks)."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.support.bounded import run_bounded
from tests.support.hub_env import set_hub_offline, set_hub_timeouts
from tests.support.hub_server import HubServer

REPO = "sen12ms/test-weights"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILENAME = "resnet50_s2.safetensors"
DATA = bytes(range(256)) * 400  # 100 KiB, not a multiple of anything interesting
SHA256 = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """The shared ``hub`` serving DATA: stalls end after 5 s, a GET read times out after 0.3 s."""
    hub.add_file(REPO, COMMIT, FILENAME, DATA)
    hub.stall_seconds = 5.0
    set_hub_timeouts(monkeypatch, etag=2, download=0.3, etag_retry=2)
    return hub


def download(cache_dir: Path, revision: str = COMMIT, filename: str = FILENAME, **kw: Any) -> bytes:
    path = hf_hub_download(REPO, filename, revision=revision, cache_dir=cache_dir, **kw)
    return Path(path).read_bytes()


# -- protocol ---------------------------------------------------------------------------------------


def test_download_returns_the_served_bytes(server: HubServer, tmp_path: Path) -> None:
    path = Path(hf_hub_download(REPO, FILENAME, revision=COMMIT, cache_dir=tmp_path))

    assert path.read_bytes() == DATA
    assert path.resolve().name == SHA256  # blob is named after X-Linked-Etag
    resolve = f"/{REPO}/resolve/{COMMIT}/{FILENAME}"
    assert server.requests == [("HEAD", resolve), ("GET", resolve)]


def test_second_call_is_a_cache_hit_without_any_request(server: HubServer, tmp_path: Path) -> None:
    download(tmp_path)
    before = server.requests

    assert download(tmp_path) == DATA
    assert server.requests == before  # a cached commit-pinned file short-circuits all network


def test_offline_mode_serves_the_cache_with_zero_requests(
    server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_ref(REPO, "main", COMMIT)
    server.add_file(REPO, COMMIT, "uncached.json", b"{}")
    download(tmp_path, revision="main")  # also writes refs/main

    # The env var alone is read at import time only: it does not switch an imported library offline.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    server.clear_requests()
    download(tmp_path, revision="main")
    assert server.requests != []

    set_hub_offline(monkeypatch)
    server.clear_requests()
    assert download(tmp_path, revision="main") == DATA  # branch -> refs/main -> snapshot
    assert download(tmp_path) == DATA
    with pytest.raises(LocalEntryNotFoundError):
        download(tmp_path, filename="uncached.json")
    assert server.requests == []


@pytest.mark.parametrize(
    ("repo", "revision", "filename", "error"),
    [
        (REPO, COMMIT, "missing.bin", RemoteEntryNotFoundError),
        (REPO, "f" * 40, FILENAME, RevisionNotFoundError),
        ("sen12ms/no-such-repo", COMMIT, FILENAME, RepositoryNotFoundError),
    ],
)
def test_unknown_entries_raise_the_library_errors(
    server: HubServer, tmp_path: Path, repo: str, revision: str, filename: str, error: type
) -> None:
    with pytest.raises(error):
        hf_hub_download(repo, filename, revision=revision, cache_dir=tmp_path)
    assert [method for method, _ in server.requests] == ["HEAD"]


def test_range_requests(server: HubServer) -> None:
    url = f"{server.url}/{REPO}/resolve/{COMMIT}/{FILENAME}"
    for header, expected in [("bytes=100-", DATA[100:]), ("bytes=5-9", DATA[5:10]), ("bytes=-3", DATA[-3:])]:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": header})) as resp:
            assert resp.status == 206
            assert resp.read() == expected
    with pytest.raises(urllib.error.HTTPError, match="416"):
        urllib.request.urlopen(urllib.request.Request(url, headers={"Range": f"bytes={len(DATA)}-"}))


def test_library_resumes_a_broken_download_with_range(
    server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The library only resumes from whole chunks it has written (DOWNLOAD_CHUNK_SIZE, 10 MiB by default).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1024)
    server.fault, server.fault_times = "short_body", 1

    assert run_bounded(10, lambda: download(tmp_path)) == DATA
    ranges = [h.get("Range") for h in server.request_headers]
    assert ranges == [None, None, f"bytes={len(DATA) // 2}-"]


# -- fault modes ------------------------------------------------------------------------------------

# (fault, methods it hits, fault_times, expected: exception type or DATA), each bounded in time.
FAULT_CASES = [
    ("500", {"GET"}, None, HfHubHTTPError),  # GET is only retried on 408/429
    ("503", {"HEAD", "GET"}, 2, DATA),  # HEAD fails fast, then the retried HEAD backs off 1 s
    ("404", {"HEAD"}, None, LocalEntryNotFoundError),  # bare 404 on HEAD reads as "hub unreachable"
    ("404", {"GET"}, None, HfHubHTTPError),
    ("redirect_loop", {"HEAD"}, None, httpx2.TooManyRedirects),
    ("redirect_loop", {"GET"}, None, httpx2.TooManyRedirects),
    ("short_body", {"GET"}, 1, DATA),  # RemoteProtocolError -> retried after 1 s
    ("drop_mid_body", {"GET"}, None, httpx2.ReadError),  # RST: not retried by the library
    ("long_body", {"GET"}, None, DATA),  # bytes past Content-Length are never read
    ("stall", {"GET"}, 1, DATA),  # read timeout -> retried after 1 s
    ("stall", {"GET"}, None, httpx2.ReadTimeout),  # 6 attempts x 0.3 s + 5 x 1 s backoff
]


@pytest.mark.parametrize(
    ("fault", "methods", "times", "expected"),
    FAULT_CASES,
    ids=[f"{f}-{'+'.join(sorted(m))}-{t or 'always'}" for f, m, t, _ in FAULT_CASES],
)
def test_faults_never_return_wrong_bytes_and_never_hang(
    server: HubServer,
    tmp_path: Path,
    fault: str,
    methods: set[str],
    times: int | None,
    expected: bytes | type[BaseException],
) -> None:
    server.fault, server.fault_methods, server.fault_times = fault, frozenset(methods), times

    if isinstance(expected, bytes):
        assert run_bounded(15, lambda: download(tmp_path)) == expected
    else:
        with pytest.raises(expected):
            run_bounded(15, lambda: download(tmp_path))
        assert not list((tmp_path).rglob(FILENAME)), "a failed download left a snapshot entry"


def test_wrong_bytes_are_not_detected_by_the_library(server: HubServer, tmp_path: Path) -> None:
    """hf_hub_download checks only the size, never the sha256: callers must verify it themselves."""
    server.fault = "wrong_bytes"
    path = Path(hf_hub_download(REPO, FILENAME, revision=COMMIT, cache_dir=tmp_path))
    content = path.read_bytes()

    assert len(content) == len(DATA) and content != DATA
    assert path.resolve().name == SHA256  # the cache blob is named after the *claimed* hash
    assert hashlib.sha256(content).hexdigest() != SHA256  # so a sha256 check catches it


def test_stop_interrupts_a_stall() -> None:
    hub = HubServer()
    hub.add_file(REPO, COMMIT, FILENAME, DATA)
    hub.fault, hub.stall_seconds = "stall", 30.0
    url = f"{hub.url}/{REPO}/resolve/{COMMIT}/{FILENAME}"
    with urllib.request.urlopen(url, timeout=20) as resp:  # headers arrive, then the body stalls
        assert resp.headers["X-Linked-Size"] == str(len(DATA))
        threading.Timer(0.2, hub.stop).start()
        started = time.monotonic()
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
    assert time.monotonic() - started < 2
    hub.stop()  # idempotent
