"""``publish``: a model served by the local Hub with SEN12MS_MODELS_MANIFEST pointing at its manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from sen12ms_models.hub.manifest import MANIFEST_ENV, MANIFEST_FILE
from sen12ms_models.testing.hub_server import HubServer
from sen12ms_models.testing.published import Published, serve_model


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
