"""Publish a model for tests: random weights as safetensors on the local Hub, plus a manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from sen12ms_models.models import Sen12msClassifier, build_model
from sen12ms_models.weights import MANIFEST_ENV, WeightsSpec, get_weights, manifest_path, write_manifest_entry
from tests.support.hub_server import HubServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Published:
    """What a test published: the manifest entry, the model it came from and the file bytes."""

    spec: WeightsSpec
    model: Sen12msClassifier
    data: bytes
    manifest: Path


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
    """Serve a seeded random model at COMMIT and point SEN12MS_MODELS_MANIFEST at a manifest for it.

    ``served`` replaces the bytes the server sends (the manifest still pins the real file).
    """
    torch.manual_seed(seed)
    model = build_model(arch, get_weights(arch, modality, label_type).in_chans).eval()
    data = save(model.state_dict())
    manifest = tmp_path / "weights_manifest.json"
    if not manifest.exists():
        manifest.write_text(json.dumps(json.loads(manifest_path().read_text())))
    monkeypatch.setenv(MANIFEST_ENV, str(manifest))
    spec = dataclasses.replace(
        get_weights(arch, modality, label_type),
        revision=COMMIT,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    write_manifest_entry(spec, manifest)
    hub.add_file(spec.repo_id, COMMIT, spec.filename, data if served is None else served)
    return Published(spec, model, data, manifest)
