"""Publish a model on the local Hub server: seeded random weights as safetensors, pinned in a manifest.

Tests and benchmarks use it to exercise the real download, cache and verification path without
the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from sen12ms_models.models.api import build_model
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.weights import (
    MANIFEST_ENV,
    MANIFEST_FILE,
    ManifestEntry,
    Sen12msWeights,
    get_weights,
    manifest_path,
    model_name,
    read_manifest,
    sha256_hex,
    write_manifest_entry,
)
from tests.support.hub_server import HubServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Published:
    """What a test published: the weights, their manifest entry, the model and the file bytes.

    ``model`` and ``data`` are shared by every test that publishes the same model: never modify them.
    """

    weights: Sen12msWeights
    entry: ManifestEntry
    model: Sen12msClassifier
    data: bytes
    manifest: Path


def state_digest(model: torch.nn.Module) -> str:
    """sha256 over every tensor of ``model``'s state dict, by name, dtype and shape (not memory layout)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(f"{key} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@cache
def _seeded_model(arch: str, in_chans: int, seed: int) -> tuple[Sen12msClassifier, bytes, torch.Tensor]:
    """A seeded random model in eval mode, its safetensors bytes and the torch RNG state building left."""
    torch.manual_seed(seed)
    model = build_model(arch, in_chans).eval()
    return model, save(model.state_dict()), torch.get_rng_state()


def serve_model(
    hub: HubServer,
    manifest: Path,
    arch: str = "resnet50",
    modality: str = "s1s2",
    label_type: str = "multi",
    *,
    seed: int = 0,
    served: bytes | None = None,
) -> Published:
    """Serve a seeded random model at COMMIT and pin it in ``manifest`` (a copy of the package's, made if absent).

    ``served`` replaces the bytes the server sends (the manifest still pins the real file).
    """
    if not manifest.exists():
        shutil.copyfile(manifest_path(), manifest)
    weights = get_weights(model_name(arch, modality, label_type))
    model, data, rng_state = _seeded_model(arch, weights.in_chans, seed)
    torch.set_rng_state(rng_state)  # the global RNG ends where an uncached build would leave it
    base = read_manifest(manifest)[weights.value]
    entry = dataclasses.replace(base, revision=COMMIT, sha256=sha256_hex(data), size=len(data))
    write_manifest_entry(entry, manifest)
    hub.add_file(entry.repo_id, COMMIT, weights.filename, data if served is None else served)
    return Published(weights, entry, model, data, manifest)


def publish(
    hub: HubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arch: str = "resnet50",
    modality: str = "s1s2",
    label_type: str = "multi",
    *,
    seed: int = 0,
    served: bytes | None = None,
) -> Published:
    """``serve_model`` into ``tmp_path``'s manifest, and point SEN12MS_MODELS_MANIFEST at it."""
    published = serve_model(hub, tmp_path / MANIFEST_FILE, arch, modality, label_type, seed=seed, served=served)
    monkeypatch.setenv(MANIFEST_ENV, str(published.manifest))
    return published
