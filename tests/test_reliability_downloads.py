"""load_model against a misbehaving Hub, a tampered cache and competing or killed processes.

Everything runs over real HTTP (tests/support/hub_server.py), the real huggingface_hub download
and cache, and real spawned processes. Each case ends in a model whose weights are the published
ones, or in a clear ``WeightsDownloadError``/``WeightsIntegrityError`` naming the file, within a
bound: a case that would hang fails instead. The model is DenseNet121 RGB (a 31 MB file).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from huggingface_hub.file_download import repo_folder_name
from safetensors.torch import save

import sen12ms_models as sm
from tests.support.bounded import run_bounded
from tests.support.hub_env import set_hub_timeouts, skip_hub_backoff
from tests.support.hub_server import HubServer
from tests.support.published import Published, publish, state_digest

MODEL = ("densenet121", "rgb")


@pytest.fixture
def published(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Published:
    """A DenseNet121 RGB file served by the local Hub, pinned by a test manifest."""
    return publish(hub, tmp_path, monkeypatch, *MODEL)


def cache_entries(published: Published) -> list[Path]:
    """Every blob (complete or partial) and snapshot entry of the published repo in the HF cache."""
    repo = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=published.entry.repo_id, repo_type="model")
    return sorted(p for part in ("blobs", "snapshots") for p in (repo / part).rglob("*") if not p.is_dir())


def wait_for_cache_entry(published: Published, matches: Callable[[Path], bool], seconds: float) -> Path:
    """The first cache entry of the published file that ``matches``, polled for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [path for path in cache_entries(published) if path.exists() and matches(path)]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no cache entry as expected after {seconds} s: {cache_entries(published)}")


def gets(hub: HubServer, published: Published) -> list[dict[str, str]]:
    """Headers of the GET requests of the published file that the hub received."""
    return [
        headers
        for (method, path), headers in zip(hub.requests, hub.request_headers, strict=True)
        if method == "GET" and path.endswith(f"/resolve/{published.entry.revision}/{published.weights.filename}")
    ]


# -- a misbehaving Hub ------------------------------------------------------------------------------

# (fault, methods hit, times applied or None for always, expected: None = verified model, else a
# regex the WeightsDownloadError must match). Status faults carry "Retry-After: 0", so the library's
# retries wait 1 s each instead of 1+2+4+8+8 s.
FAULTS = [
    ("500", {"GET"}, None, r"HfHubHTTPError: Server error '500"),  # GET: no retry
    ("500", {"HEAD"}, None, r"LocalEntryNotFoundError: .* <- caused by HfHubHTTPError: .*'500"),  # 1 + 5 retries
    ("503", {"HEAD", "GET"}, 2, None),  # first HEAD and one retried HEAD fail
    ("429", {"GET"}, 2, None),  # rate limited twice, Retry-After honoured
    ("404", {"HEAD"}, None, r"LocalEntryNotFoundError: .* <- caused by HfHubHTTPError: .*'404"),
    ("404", {"GET"}, None, r"HfHubHTTPError: .*'404"),
    ("redirect_loop", {"HEAD"}, None, r"TooManyRedirects"),
    ("redirect_loop", {"GET"}, None, r"TooManyRedirects"),
    ("short_body", {"GET"}, 1, None),  # resumed with a Range request
    ("short_body", {"GET"}, None, r"RemoteProtocolError"),  # resumes until no whole chunk arrives
    ("drop_mid_body", {"GET"}, 1, r"ReadError"),  # a reset connection is not retried
    ("long_body", {"GET"}, None, None),  # bytes past Content-Length are never read
    ("stall", {"GET"}, 1, None),  # read timeout, then a retry
]


@pytest.mark.parametrize(
    ("fault", "methods", "times", "expected"),
    FAULTS,
    ids=[f"{f}-{'+'.join(sorted(m))}-{t or 'always'}" for f, m, t, _ in FAULTS],
)
def test_a_misbehaving_hub_gives_the_published_weights_or_a_clear_error(
    hub: HubServer,
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    methods: set[str],
    times: int | None,
    expected: str | None,
) -> None:
    set_hub_timeouts(monkeypatch, download=0.5)
    skip_hub_backoff(monkeypatch)  # the outcome is under test, not the library's waits between retries
    hub.fault, hub.fault_methods, hub.fault_times, hub.retry_after = fault, frozenset(methods), times, 0
    if expected is None:
        assert state_digest(run_bounded(30, lambda: sm.load_model(*MODEL))) == state_digest(published.model)
        return
    with pytest.raises(sm.WeightsDownloadError, match=expected) as info:
        run_bounded(30, lambda: sm.load_model(*MODEL))
    assert f"could not fetch {published.weights.filename}" in str(info.value)
    assert cache_entries(published) == [], "a failed download left a file in the cache"
    hub.fault = None  # the Hub recovers: nothing from the failure stands in the way
    assert state_digest(sm.load_model(*MODEL)) == state_digest(published.model)


def test_force_download_against_a_failing_hub_is_a_download_error(hub: HubServer, published: Published) -> None:
    sm.load_model(*MODEL)
    hub.fault, hub.fault_methods = "500", frozenset({"HEAD"})
    with pytest.raises(sm.WeightsDownloadError, match=r"force_download=True, so the cache was not used: .*500"):
        run_bounded(30, lambda: sm.load_model(*MODEL, force_download=True))
    assert state_digest(sm.load_model(*MODEL)) == state_digest(published.model)  # the cached file still serves


# (fault, methods, Retry-After): huggingface_hub's own timeouts bound a stalled read
# (HF_HUB_DOWNLOAD_TIMEOUT per read, a few retries) and its own retry budget a throttling server.
HANGS = [("stall", {"GET"}, None), ("503", {"HEAD", "GET"}, 1), ("429", {"GET"}, 1)]


@pytest.mark.parametrize(("fault", "methods", "retry_after"), HANGS, ids=[h[0] for h in HANGS])
def test_a_hub_that_stalls_or_throttles_ends_in_a_clear_error_within_the_hub_clients_timeouts(
    hub: HubServer,
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    methods: set[str],
    retry_after: int | None,
) -> None:
    set_hub_timeouts(monkeypatch, etag=0.5, download=0.5, etag_retry=0.5)
    if fault != "stall":  # every retry still runs; its wait (the library's schedule, ~10 s in all) is not under test
        skip_hub_backoff(monkeypatch)
    hub.fault, hub.fault_methods, hub.retry_after, hub.stall_seconds = fault, frozenset(methods), retry_after, 2
    started = time.monotonic()
    with pytest.raises(sm.WeightsDownloadError, match=r"could not fetch densenet121-rgb-multi.safetensors") as info:
        run_bounded(30, lambda: sm.load_model(*MODEL))
    assert time.monotonic() - started < 20
    assert "Timeout" in str(info.value) or "503" in str(info.value) or "429" in str(info.value)
    assert not [p for p in cache_entries(published) if not p.name.endswith(".incomplete")]
    hub.fault = None  # the Hub recovers: nothing from the failure stands in the way
    assert state_digest(sm.load_model(*MODEL)) == state_digest(published.model)


# -- a tampered cache: huggingface_hub trusts a cached pinned file without a request -----------------


def _flip_one_byte(data: bytes) -> bytes:
    """``data`` with one byte of the last tensor inverted: same size, still valid safetensors."""
    return data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]


def _other_weights(data: bytes) -> bytes:
    """A valid file of the same size and layout holding other weights: silently wrong numbers."""
    torch.manual_seed(99)
    other = save(sm.build_model("densenet121", 3).state_dict())
    assert len(other) == len(data) and other != data
    return other


TAMPERINGS = [
    (_flip_one_byte, r"sha256 [0-9a-f]{64} \(\d+ bytes\) does not match the manifest's"),
    (
        lambda data: data[: len(data) // 3],
        r"\(\d+ bytes\) does not match the manifest's [0-9a-f]{64} \(\d+ bytes\) for densenet121-rgb-multi",
    ),
    (_other_weights, r"sha256 [0-9a-f]{64} \(\d+ bytes\) does not match the manifest's"),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERINGS, ids=["flipped-byte", "truncated", "other-weights"])
def test_a_tampered_cached_file_is_refused_until_force_download(
    hub: HubServer, published: Published, tamper: Callable[[bytes], bytes], message: str
) -> None:
    sm.load_model(*MODEL)
    blob = next(p for p in cache_entries(published) if "blobs" in p.parts)
    blob.write_bytes(tamper(published.data))
    hub.clear_requests()
    for _ in range(2):  # refused, and refused again: the library never re-checks a cached file
        with pytest.raises(sm.WeightsIntegrityError, match=message):
            sm.load_model(*MODEL)
    assert hub.requests == []
    assert state_digest(sm.load_model(*MODEL, force_download=True)) == state_digest(published.model)


# -- competing and killed processes -----------------------------------------------------------------


def load_in_child(arch: str, modality: str) -> tuple[str, list[float]]:
    """Run in a spawned process: ``load_model`` as a user would, then embed a fixed input."""
    torch.set_num_threads(1)
    model = sm.load_model(arch, modality)
    torch.manual_seed(0)
    with torch.inference_mode():
        features = model.forward_features(torch.randn(1, model.in_chans, 64, 64))
    return state_digest(model), features.flatten().tolist()


def test_four_processes_on_an_empty_cache_share_one_verified_download(hub: HubServer, published: Published) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap_async(load_in_child, [MODEL] * 4).get(timeout=180)
    assert {digest for digest, _ in results} == {state_digest(published.model)}
    assert all(features == results[0][1] for _, features in results)
    assert len(gets(hub, published)) == 1, "the cache lock should let exactly one process download"
    blobs = [p for p in cache_entries(published) if "blobs" in p.parts]
    assert [p.name for p in blobs] == [published.entry.sha256]  # no partial file left behind
    assert hashlib.sha256(blobs[0].read_bytes()).hexdigest() == published.entry.sha256


def test_a_process_killed_mid_download_leaves_nothing_trusted(hub: HubServer, published: Published) -> None:
    hub.fault, hub.fault_times = "stall_mid_body", 1  # half the body, then silence
    child = multiprocessing.get_context("spawn").Process(target=load_in_child, args=MODEL)
    child.start()
    partial = wait_for_cache_entry(
        published,
        lambda path: path.name.endswith(".incomplete") and path.stat().st_size >= constants.DOWNLOAD_CHUNK_SIZE,
        seconds=90,
    )
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    partial_bytes = partial.read_bytes()
    assert 0 < len(partial_bytes) < published.entry.size  # the kill landed mid-body

    hub.clear_requests()
    model = run_bounded(60, lambda: sm.load_model(*MODEL))
    assert state_digest(model) == state_digest(published.model)
    # downloaded afresh, not resumed from the dead process's bytes
    assert [h.get("Range") for h in gets(hub, published)] == [None]
    assert partial.read_bytes() == partial_bytes  # the dead process's file was neither used nor moved
    blob = Path(constants.HF_HUB_CACHE).glob(f"*/blobs/{published.entry.sha256}")
    assert hashlib.sha256(next(blob).read_bytes()).hexdigest() == published.entry.sha256
