"""A local registry of weight files that are not on the Hub (converted or trained by the user).

It is a folder holding the files and a ``weights_manifest.json`` of the same format as the
package's, whose entries carry ``sha256``/``size`` but no Hub ``revision``. ``load_model``
looks here when the package manifest has no published file for a model, and verifies the
local file against its entry exactly as it verifies downloads.

Location: ``$SEN12MS_MODELS_HOME`` if set, else ``$HF_HOME/sen12ms_models`` (by default
``~/.cache/huggingface/sen12ms_models``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from huggingface_hub import constants

from .download import sha256_hex
from .weights import WeightsSpec, load_manifest, write_manifest_entry

REGISTRY_ENV = "SEN12MS_MODELS_HOME"


def registry_dir() -> Path:
    """The local registry folder (see the module docstring); not created by this call."""
    override = os.environ.get(REGISTRY_ENV)
    return Path(override) if override else Path(constants.HF_HOME) / "sen12ms_models"


def find_registered(name: str) -> tuple[WeightsSpec, Path] | None:
    """The registry's entry and file path for model ``name``, or None if it has none."""
    manifest = registry_dir() / "weights_manifest.json"
    if not manifest.is_file():
        return None
    entry = load_manifest(manifest).get(name)
    if entry is None or entry.sha256 is None:
        return None
    return entry, registry_dir() / entry.filename


def register_weights(spec: WeightsSpec, file: str | os.PathLike[str]) -> WeightsSpec:
    """Copy ``file`` into the registry under ``spec.filename`` and record its hash and size.

    Returns the entry as written (``revision`` None: a local file is not a Hub commit).
    """
    data = Path(file).read_bytes()
    entry = dataclasses.replace(spec, revision=None, sha256=sha256_hex(data), size=len(data))
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file, folder / entry.filename)
    write_manifest_entry(entry, folder / "weights_manifest.json")
    return entry
