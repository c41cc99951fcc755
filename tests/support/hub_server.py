"""A tiny, stdlib-only stand-in for the Hugging Face Hub's file-resolve protocol.

The real ``huggingface_hub.hf_hub_download`` (checked against huggingface_hub 2.4.0) downloads from it
once ``hub_env.point_hub_at`` has pointed the library at ``HubServer.url``::

    with HubServer() as server:
        server.add_file("org/name", COMMIT, "weights.safetensors", data)
        point_hub_at(monkeypatch, server.url)
        path = hf_hub_download("org/name", "weights.safetensors", revision=COMMIT, cache_dir=tmp_path)

What the library needs from ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}``:

* ``X-Repo-Commit`` (else ``FileMetadataError``), and an ETag: ``X-Linked-Etag`` is preferred over ``ETag``,
  both are sent as ``"<sha256 hex>"`` like the Hub does for LFS files. The ETag names the cached blob.
* ``X-Linked-Size`` (preferred) / ``Content-Length``: the expected size, checked after the download.
* No ``X-Xet-Hash`` / ``Link: <...>; rel="xet-auth"`` headers: with them (and ``hf_xet`` installed, as it
  is here) the library would bypass the GET and talk to a Xet CAS server instead.
* Errors are typed by the ``X-Error-Code`` header: ``RepoNotFound`` -> ``RepositoryNotFoundError``,
  ``RevisionNotFound`` -> ``RevisionNotFoundError``, ``EntryNotFound`` -> ``RemoteEntryNotFoundError``.
* ``Range: bytes=N-`` is sent when the library resumes a broken download; answered with 206.

Fault injection (``server.fault``), for reliability tests:

* ``None``: behave.
* ``"429"`` / ``"500"`` / ``"503"``: answer that status (JSON error body), with ``Retry-After:
  <retry_after>`` when ``server.retry_after`` is set (the library sleeps that long before a retry).
* ``"404"``: bare 404 without ``X-Error-Code`` (e.g. a misconfigured mirror).
* ``"redirect_loop"``: ``302`` to the very same URL.
* ``"short_body"`` (GET only): full ``Content-Length``, send half the body, close cleanly (FIN).
* ``"drop_mid_body"`` (GET only): full ``Content-Length``, send half the body, abort the socket (RST).
* ``"long_body"`` (GET only): send the body followed by extra junk bytes, then close.
* ``"wrong_bytes"`` (GET only): same length, different bytes; headers still claim the real sha256.
* ``"stall"`` (GET only): send headers, then nothing for ``stall_seconds`` (or until ``stop()``).
* ``"stall_mid_body"`` (GET only): full ``Content-Length``, send half the body, then stall likewise.

``fault_methods`` limits which methods a fault hits (body faults never hit HEAD, it has no body) and
``fault_times`` makes a fault transient: it is applied that many times, then the server behaves.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "BODY_FAULTS",
    "FAULTS",
    "HubServer",
]

STATUS_FAULTS = frozenset({"429", "500", "503", "404", "redirect_loop"})
BODY_FAULTS = frozenset({"short_body", "drop_mid_body", "long_body", "wrong_bytes", "stall", "stall_mid_body"})
FAULTS = STATUS_FAULTS | BODY_FAULTS

_REPO_TYPE_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class _Entry:
    data: bytes
    sha256: str


class HubServer:
    """Local Hub-like file server on ``127.0.0.1:<free port>``, served from a daemon thread.

    Attributes meant to be set by tests (thread-safe enough: plain attribute writes):
        fault: one of :data:`FAULTS` or ``None``.
        fault_methods: HTTP methods a fault applies to (default ``{"HEAD", "GET"}``).
        fault_times: apply the fault this many more times, then behave (``None`` = forever).
        stall_seconds: upper bound of a ``"stall"`` (the stall also ends when the server stops).
        retry_after: seconds sent as ``Retry-After`` with ``"429"``/``"500"``/``"503"`` (``None``: no header).
    """

    def __init__(self) -> None:
        self.fault: str | None = None
        self.fault_methods: frozenset[str] = frozenset({"HEAD", "GET"})
        self.fault_times: int | None = None
        self.stall_seconds: float = 30.0
        self.retry_after: int | None = None
        self._files: dict[tuple[str, str], dict[str, _Entry]] = {}  # (repo path, commit) -> files
        self._refs: dict[tuple[str, str], str] = {}  # (repo path, branch/tag) -> commit
        self._requests: list[tuple[str, str]] = []
        self._request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.hub = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- content -----------------------------------------------------------------------------------

    def add_file(self, repo_id: str, revision: str, filename: str, data: bytes, repo_type: str = "model") -> str:
        """Serve ``data`` as ``filename`` at commit ``revision``; returns its sha256 hex (the ETag)."""
        sha = hashlib.sha256(data).hexdigest()
        key = (_REPO_TYPE_PREFIXES[repo_type] + repo_id, revision)
        with self._lock:
            self._files.setdefault(key, {})[filename] = _Entry(bytes(data), sha)
        return sha

    def remove_file(self, repo_id: str, revision: str, filename: str, repo_type: str = "model") -> None:
        """Stop serving ``filename`` (the repo and commit stay known, so the Hub answers EntryNotFound)."""
        with self._lock:
            del self._files[(_REPO_TYPE_PREFIXES[repo_type] + repo_id, revision)][filename]

    def add_ref(self, repo_id: str, ref: str, commit: str, repo_type: str = "model") -> None:
        """Make branch/tag ``ref`` (e.g. ``"main"``) resolve to ``commit``."""
        with self._lock:
            self._refs[(_REPO_TYPE_PREFIXES[repo_type] + repo_id, ref)] = commit

    # -- request log -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Snapshot of every request received so far, as ``(method, path)``."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of every request received so far (same order as :attr:`requests`)."""
        with self._lock:
            return [dict(h) for h in self._request_headers]

    def clear_requests(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._requests.clear()
            self._request_headers.clear()

    # -- lifecycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving, wake up stalled handlers and close the listening socket. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals used by the handler -------------------------------------------------------------

    def _record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append((method, path))
            self._request_headers.append(headers)

    def _take_fault(self, method: str) -> str | None:
        """The fault to apply to this request, if any (consumes one of ``fault_times``)."""
        with self._lock:
            fault = self.fault
            if fault is None or method not in self.fault_methods:
                return None
            if fault in BODY_FAULTS and method != "GET":
                return None
            if self.fault_times is not None:
                if self.fault_times <= 0:
                    return None
                self.fault_times -= 1
            return fault

    def _resolve(self, repo: str, revision: str, filename: str) -> tuple[int, dict[str, str], Any]:
        """Look a file up; returns ``(status, extra headers, entry-or-error-message)``."""
        with self._lock:
            repo_known = any(key[0] == repo for key in self._files)
            commit = self._refs.get((repo, revision), revision)
            files = self._files.get((repo, commit))
        if not repo_known:
            # The Hub answers 401 (not 404) to anonymous requests for unknown or private repos.
            return 401, {"X-Error-Code": "RepoNotFound"}, "Repository not found"
        if files is None:
            msg = f"Invalid rev id: {revision}"
            return 404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": msg}, msg
        entry = files.get(filename)
        if entry is None:
            # X-Repo-Commit lets the library cache the non-existence under `.no_exist/<commit>/`.
            headers = {
                "X-Error-Code": "EntryNotFound",
                "X-Error-Message": "Entry not found",
                "X-Repo-Commit": commit,
            }
            return 404, headers, "Entry not found"
        return 200, {"X-Repo-Commit": commit}, entry


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not block stop()
    hub: HubServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + Content-Length framing, like the Hub
    timeout = 10  # idle keep-alive connections are dropped after this many seconds
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_GET(self) -> None:
        self._serve("GET")

    # -- dispatch ----------------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        hub = self.server.hub
        hub._record(method, self.path, dict(self.headers.items()))
        path = urlsplit(self.path).path

        if path == "/api/agent-harnesses":  # fetched once per process by the user-agent builder
            self._send_json(200, {"standardEnvVars": [], "harnesses": {}}, method)
            return
        repo, sep, rest = path.lstrip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        if not sep or not repo or not revision or not filename:
            self._send_json(404, {"error": "Not found"}, method)
            return

        fault = hub._take_fault(method)
        if fault in ("429", "500", "503"):
            retry = {} if hub.retry_after is None else {"Retry-After": str(hub.retry_after)}
            self._send_json(int(fault), {"error": f"injected {fault}"}, method, retry)
            return
        if fault == "404":
            self._send_json(404, {"error": "Not found"}, method)
            return
        if fault == "redirect_loop":
            self._send_json(302, {}, method, {"Location": hub.url + self.path})
            return

        status, headers, found = hub._resolve(unquote(repo), unquote(revision), unquote(filename))
        if status != 200:
            self._send_json(status, {"error": found}, method, headers)
            return
        self._send_file(method, found, headers, fault)

    # -- responses ---------------------------------------------------------------------------------

    def _send_json(self, status: int, body: dict[str, Any], method: str, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method == "GET":
            self.wfile.write(payload)

    def _send_file(self, method: str, entry: _Entry, headers: dict[str, str], fault: str | None) -> None:
        size = len(entry.data)
        start, end = 0, size  # half-open slice of entry.data to send
        status = 200
        range_header = self.headers.get("Range")
        if method == "GET" and range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                self._send_json(416, {"error": "Range not satisfiable"}, method, {"Content-Range": f"bytes */{size}"})
                return
            start, end = parsed
            status = 206

        self.send_response(status)
        quoted_sha = f'"{entry.sha256}"'
        for name, value in {
            **headers,
            "ETag": quoted_sha,
            "X-Linked-Etag": quoted_sha,
            "X-Linked-Size": str(size),
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Length": str(end - start),
        }.items():
            self.send_header(name, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if method != "GET":
            return

        body = entry.data[start:end]
        if fault in ("stall", "stall_mid_body"):
            if fault == "stall_mid_body":
                self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.server.hub._stopped.wait(self.server.hub.stall_seconds)
            self.close_connection = True
        elif fault == "short_body":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif fault == "drop_mid_body":
            self.wfile.write(body[: len(body) // 2])
            self._abort_connection()
        elif fault == "long_body":
            self.wfile.write(body + b"\x00JUNK" * 8)
            self.close_connection = True
        elif fault == "wrong_bytes":
            self.wfile.write(bytes(b ^ 0xFF for b in body))
        else:
            self.wfile.write(body)

    def _abort_connection(self) -> None:
        """Close with an RST instead of a FIN (SO_LINGER 0), like a dropped network connection."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range into a half-open slice."""
    match = _RANGE_RE.fullmatch(header.replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    return (start, end) if start < end else None
