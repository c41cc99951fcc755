"""Weight files that must never load: broken safetensors, files of another model, and pickles.

Every refusal is a ``WeightsIntegrityError`` naming the file and the problem. Pickles carry a
``__reduce__`` that would create a marker file when unpickled: the marker must never appear, on
any path bytes take to the parser (a local file, a pinned Hub file, the local registry).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load, save

import sen12ms_models as sm
from sen12ms_models.weights import ManifestEntry, register_weights, write_manifest_entry
from tests.support.hub_server import HubServer
from tests.support.published import publish

MODEL = ("densenet121", "rgb")
FIRST_CONV = "features.conv0.weight"


@pytest.fixture(scope="module")
def valid_file() -> bytes:
    """A valid safetensors file of a DenseNet121 RGB model."""
    torch.manual_seed(0)
    return save(sm.build_model("densenet121", 3).state_dict())


def _load_unverified(path: Path) -> sm.Sen12msClassifier:
    """``load_model(weights=path)`` for a file no manifest knows (its warning is expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.UnverifiedWeightsWarning)
        return sm.load_model(*MODEL, weights=path)


# -- broken safetensors -----------------------------------------------------------------------------


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the tensor bytes of a safetensors file."""
    length = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def _with_header(data: bytes, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """``data`` with ``edit`` applied to its JSON header, lengths kept consistent."""
    header, body = _split(data)
    edit(header)
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + body


def _with_length(data: bytes, length: int) -> bytes:
    """``data`` whose 8-byte header length claims ``length``."""
    return struct.pack("<Q", length) + data[8:]


def _doubled_shape(header: dict[str, Any]) -> None:
    header[FIRST_CONV]["shape"] = [2 * n for n in header[FIRST_CONV]["shape"]]


def _past_the_end(header: dict[str, Any]) -> None:
    header[FIRST_CONV]["data_offsets"][1] += 10**9


def _overlapping(header: dict[str, Any]) -> None:
    first, second = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])[:2]
    header[second]["data_offsets"] = header[first]["data_offsets"]


BROKEN: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("empty", lambda data: b"", "header too small"),
    ("7-bytes", lambda data: data[:7], "header too small"),
    ("header-length-2**64-1", lambda data: _with_length(data, 2**64 - 1), "header too large"),
    ("header-length-101MB", lambda data: _with_length(data, 101_000_000), "header too large"),
    ("header-length-past-eof", lambda data: _with_length(data, len(data)), "invalid header length"),
    ("header-not-json", lambda data: data[:8] + b"[" + data[9:], "invalid JSON in header"),
    ("header-not-utf8", lambda data: data[:9] + b"\xff" + data[10:], "invalid UTF-8 in header"),
    ("unknown-dtype", lambda data: _with_header(data, lambda h: h[FIRST_CONV].update(dtype="X99")), "unknown variant"),
    ("negative-shape", lambda data: _with_header(data, lambda h: h[FIRST_CONV].update(shape=[-1])), "invalid value"),
    ("shape-2**80", lambda data: _with_header(data, lambda h: h[FIRST_CONV].update(shape=[2**40] * 2)), "overflow"),
    ("shape-vs-offsets", lambda data: _with_header(data, _doubled_shape), "invalid shape, data type, or offset"),
    ("offsets-past-eof", lambda data: _with_header(data, _past_the_end), "invalid shape, data type, or offset"),
    ("overlapping-tensors", lambda data: _with_header(data, _overlapping), "invalid offset for tensor"),
    ("truncated-data", lambda data: data[:-1000], "incomplete metadata"),
    ("trailing-bytes", lambda data: data + b"\0" * 16, "incomplete metadata"),
]


@pytest.mark.parametrize(("break_file", "problem"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_safetensors_file_is_refused_naming_the_problem(
    tmp_path: Path, valid_file: bytes, break_file: Callable[[bytes], bytes], problem: str
) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(break_file(valid_file))
    with pytest.raises(sm.WeightsIntegrityError, match=rf"{path}: not a valid safetensors file \(.*{problem}"):
        _load_unverified(path)


# -- valid files of another model -------------------------------------------------------------------


def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its floating-point tensors in float16."""
    return {key: value.half() if value.is_floating_point() else value for key, value in state.items()}


MISFITS = [
    ("other-modality", lambda: sm.build_model("densenet121", 12).state_dict(), rf"{FIRST_CONV}: file \(64, 12, 7, 7\)"),
    (
        "other-arch",
        lambda: sm.build_model("resnet50", 3).state_dict(),
        r"missing tensors \[.*\(\d+ in all\)\]; unexpected tensors \[.*\(\d+ in all\)\]",
    ),
    (
        "half-precision",
        lambda: _half(sm.build_model("densenet121", 3).state_dict()),
        r"file \(.*\) torch.float16, model",
    ),
    ("no-tensors", dict, r"missing tensors \[.*\(\d+ in all\)\]$"),
]


@pytest.mark.parametrize(("state", "problem"), [m[1:] for m in MISFITS], ids=[m[0] for m in MISFITS])
def test_a_valid_file_of_another_model_is_refused_naming_the_tensors(
    tmp_path: Path, state: Callable[[], dict[str, torch.Tensor]], problem: str
) -> None:
    path = tmp_path / "other.safetensors"
    path.write_bytes(save(state()))
    with pytest.raises(
        sm.WeightsIntegrityError, match=rf"{path} does not fit densenet121 with 3 input channels: .*{problem}"
    ):
        _load_unverified(path)


# -- pickles that would run code --------------------------------------------------------------------


class _CreatesMarker:
    """Unpickling this object creates the file ``marker``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return open, (str(self.marker), "w")


def _pickles(marker: Path, folder: Path) -> list[Path]:
    """Files holding the marker payload: raw pickles (protocols 0, 2, 5) and torch.save files,
    under checkpoint names, under a training checkpoint's (``.pt``) and renamed to ``.safetensors``."""
    payload = {"model_state_dict": _CreatesMarker(marker)}
    contents = {f"protocol{p}": pickle.dumps(payload, protocol=p) for p in (0, 2, 5)}
    for name, zipped in (("torch-zip", True), ("torch-legacy", False)):
        torch.save(payload, folder / name, _use_new_zipfile_serialization=zipped)
        contents[name] = (folder / name).read_bytes()
    files = []
    for name, data in contents.items():
        for suffix in (".pth", ".safetensors", ".pt"):
            files.append(folder / f"{name}{suffix}")
            files[-1].write_bytes(data)
    return files


def test_the_payload_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The pickles below are live: plain unpickling creates the marker (so the next tests can fail)."""
    marker = tmp_path / "unpickled"
    for path in _pickles(marker, tmp_path):
        if not path.name.startswith("torch") and path.suffix == ".pth":
            marker.unlink(missing_ok=True)
            pickle.loads(path.read_bytes())
            assert marker.exists(), path.name
    marker.unlink()
    torch.load(tmp_path / "torch-zip.pth", weights_only=False)
    assert marker.exists()


def test_a_pickle_given_as_weights_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    files = _pickles(marker, tmp_path)
    for path in files:
        with pytest.raises(
            sm.WeightsIntegrityError,
            match=rf"{path}: (only \.safetensors weight files and this package's training checkpoints \(\.pt\) are "
            r"loaded \(nothing else is unpickled\)|not a valid|not a loadable training checkpoint)",
        ):
            _load_unverified(path)
    assert len(files) == 15 and not marker.exists()


def test_a_valid_file_whose_header_length_starts_like_a_pickle_loads(tmp_path: Path, valid_file: bytes) -> None:
    """Byte 0 of a safetensors file is its header length's low byte; 0x80 is also the pickle opcode."""
    header, _ = _split(valid_file)
    padding = next(
        "x" * n
        for n in range(256)
        if len(json.dumps({**header, "__metadata__": {"p": "x" * n}}).encode()) % 256 == 0x80
    )
    path = tmp_path / "mine.safetensors"
    path.write_bytes(_with_header(valid_file, lambda h: h.update(__metadata__={"p": padding})))
    assert path.read_bytes()[:1] == b"\x80"
    loaded = _load_unverified(path).state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in load(valid_file).items())


def _pin_on_the_hub(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Serve ``data`` as the published file and pin its very hash and size in the test manifest."""
    published = publish(hub, tmp_path, monkeypatch, *MODEL, served=data)
    pinned = dataclasses.replace(published.entry, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    write_manifest_entry(pinned, published.manifest)


def _register(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Record ``data`` in the local registry as converted weights of an unpublished entry."""
    (tmp_path / "converted.safetensors").write_bytes(data)
    register_weights(_entry(), (tmp_path / "converted.safetensors").read_bytes())


def _entry() -> ManifestEntry:
    """A converted file's entry for MODEL, as ``convert`` writes one."""
    name = sm.get_weights(*MODEL).value
    return ManifestEntry(name, f"sen12ms-models/{name}", "original-release-converted", "toolbox")


@pytest.mark.parametrize("source", [_pin_on_the_hub, _register], ids=["pinned-on-the-hub", "local-registry"])
@pytest.mark.parametrize("content", ["pickle", "broken-header"])
def test_a_file_whose_hash_is_pinned_is_still_parsed_as_safetensors_only(
    hub: HubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    valid_file: bytes,
    source: Callable[[HubServer, Path, pytest.MonkeyPatch, bytes], None],
    content: str,
) -> None:
    """A compromised publisher or registry: the hash matches, the content is hostile."""
    marker = tmp_path / "code-ran"
    data = pickle.dumps(_CreatesMarker(marker)) if content == "pickle" else _with_length(valid_file, 2**64 - 1)
    source(hub, tmp_path, monkeypatch, data)
    refused = r"densenet121-rgb-multi.safetensors: (not a valid safetensors|.*nothing else is unpickled)"
    with pytest.raises(sm.WeightsIntegrityError, match=refused):
        sm.load_model(*MODEL)
    assert not marker.exists()
