"""A local registry of weight files that are not on the Hub (converted or trained by the user).

It is a folder holding the files and a ``weights_manifest.json`` of the package's format, whose
entries carry ``sha256``/``size`` but no Hub ``revision``. ``load_model`` looks here when the
package manifest has no published file for a model, and verifies the local file against its
entry exactly as it verifies downloads; ``list``, ``info`` and ``download`` show what is here.

Location: ``$SEN12MS_MODELS_HOME`` if set, else ``$HF_HOME/sen12ms_models`` (by default
``~/.cache/huggingface/sen12ms_models``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from sen12ms_models._types import PathLike
from sen12ms_models.hub.manifest import MANIFEST_FILE, ManifestEntry, read_manifest, write_manifest_entry
from sen12ms_models.hub.verify import sha256_hex

REGISTRY_ENV = "SEN12MS_MODELS_HOME"


def registry_dir() -> Path:
    """The local registry folder (see the module docstring); not created by this call."""
    from huggingface_hub import constants  # its import takes a while; `--help` needs none of it

    override = os.environ.get(REGISTRY_ENV)
    return Path(override) if override else Path(constants.HF_HOME) / "sen12ms_models"


def read_registry() -> dict[str, ManifestEntry]:
    """The registry's entries that have a file hash, by model name (empty when there is none)."""
    manifest = registry_dir() / MANIFEST_FILE
    if not manifest.is_file():
        return {}
    return {name: entry for name, entry in read_manifest(manifest).items() if entry.sha256 is not None}


def find_registered(name: str) -> tuple[ManifestEntry, Path] | None:
    """The registry's entry and file path for model ``name``, or None if it has none."""
    entry = read_registry().get(name)
    return None if entry is None else (entry, registry_dir() / f"{name}.safetensors")


def register_weights(entry: ManifestEntry, file: PathLike) -> ManifestEntry:
    """Copy ``file`` into the registry as ``<name>.safetensors`` and record its hash and size.

    Returns the entry as written (``revision`` None: a local file is not a Hub commit). An
    earlier registration of the same model is replaced.
    """
    data = Path(file).read_bytes()
    registered = dataclasses.replace(entry, revision=None, sha256=sha256_hex(data), size=len(data))
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file, folder / f"{entry.name}.safetensors")
    write_manifest_entry(registered, folder / MANIFEST_FILE)
    return registered
