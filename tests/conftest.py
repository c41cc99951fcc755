"""Shared fixtures: a miniature SEN12MS tree of real GeoTIFFs, isolated caches, a local Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants

from sen12ms_models.synthetic import SyntheticPatch, write_tree
from tests.support.hub_env import point_hub_at, set_hub_timeouts
from tests.support.hub_server import HubServer
from tests.support.spectrum import SpectrumModel


@pytest.fixture(scope="session")
def sen12ms_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SyntheticPatch]]:
    """8 scenes over 4 seasons (2 hold-out, 2 validation, 4 training), 3 triplets each, 256x256."""
    root = tmp_path_factory.mktemp("SEN12MS")
    return root, write_tree(root, patches_per_scene=3, nan_fraction=0.01)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: steady timings on a shared 2-core machine, and runs comparable bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's Hugging Face cache or local registry.

    huggingface_hub reads HF_HOME/HF_HUB_CACHE once at import, so its constants are patched too.
    """
    hf_home = tmp_path / "hf_home"
    monkeypatch.setenv("SEN12MS_MODELS_HOME", str(tmp_path / "registry"))
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A local server speaking the Hub's resolve protocol, with huggingface_hub pointed at it."""
    with HubServer() as server:
        point_hub_at(monkeypatch, server.url)
        set_hub_timeouts(monkeypatch, etag=2.0, download=10.0, etag_retry=2.0)
        yield server


@pytest.fixture(scope="module")
def s2_model() -> SpectrumModel:
    return SpectrumModel("s2")


@pytest.fixture(scope="module")
def s1s2_model() -> SpectrumModel:
    return SpectrumModel("s1s2")
