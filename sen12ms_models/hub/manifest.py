"""``weights_manifest.json``: what only a publication can say about a weight file.

An entry holds the Hub repository, the pinned commit ``revision``, the file's ``sha256`` and
``size``, its ``source``, ``license`` and measured ``metrics``, and nothing the code can derive
(architecture, bands, statistics, channels, classes, file name: ``models.spec`` derives those
from the model's name). A field that the code derives is refused, so the manifest can never
contradict the code. The manifest in use ships inside the package (``hub/weights_manifest.json``);
``$SEN12MS_MODELS_MANIFEST`` points at another (a mirror). Export folders and the local registry
hold manifests of the same format; nothing here ever writes into the installed package.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sen12ms_models._types import PathLike
from sen12ms_models.errors import ManifestError

#: The file name of every manifest: the package's, an export folder's, the local registry's.
MANIFEST_FILE = "weights_manifest.json"
MANIFEST_ENV = "SEN12MS_MODELS_MANIFEST"
FORMAT_VERSION = 2
#: Weights trained with ``sen12ms-models train`` / converted from the SEN12MS toolbox's release.
RETRAINED, CONVERTED = "retrained", "original-release-converted"
SOURCES: tuple[str, ...] = (RETRAINED, CONVERTED)
#: Fields a manifest must not hold: the code derives them from the model's name.
DERIVED_FIELDS = frozenset(
    {"arch", "modality", "label_type", "filename", "in_chans", "bands", "mean", "std", "num_classes", "paper_metrics"}
)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ManifestEntry:
    """One weight file as published: where it lives, what it hashes to, where it came from.

    ``revision`` is a 40-hex Hub commit (``None`` until published, and for local files);
    ``sha256``/``size`` are set together; ``metrics`` are the file's own measured test scores.
    """

    name: str
    repo_id: str
    source: str
    license: str
    revision: str | None = None
    sha256: str | None = None
    size: int | None = None
    metrics: dict[str, Any] | None = None

    @property
    def published(self) -> bool:
        """True when the entry pins a Hub commit and a hash."""
        return self.revision is not None and self.sha256 is not None

    def to_json(self) -> dict[str, Any]:
        """The entry as stored (without ``name``, which is its key)."""
        entry = asdict(self)
        del entry["name"]
        return entry

    def problems(self) -> list[str]:
        """Everything wrong with the entry's values (empty when it is valid)."""
        found = []
        if self.source not in SOURCES:
            found.append(f"source {self.source!r} is not one of {list(SOURCES)}")
        if (self.sha256 is None) != (self.size is None):
            found.append("sha256 and size must both be set or both be null")
        if self.revision is not None and self.sha256 is None:
            found.append("a pinned revision needs the file's sha256 and size")
        if self.revision is not None and not _COMMIT.match(str(self.revision)):
            found.append(f"revision {self.revision!r} must be a full 40-hex commit hash, never a branch")
        if self.sha256 is not None and not _SHA256.match(str(self.sha256)):
            found.append(f"sha256 {self.sha256!r} must be 64 lowercase hex digits")
        if self.size is not None and (not isinstance(self.size, int) or self.size <= 0):
            found.append(f"size {self.size!r} must be a positive integer")
        return found


def manifest_path() -> Path:
    """The manifest in use: ``$SEN12MS_MODELS_MANIFEST``, else the one shipped in the package."""
    override = os.environ.get(MANIFEST_ENV)
    return Path(override) if override else Path(str(resources.files(__package__) / MANIFEST_FILE))


def read_manifest(path: PathLike | None = None) -> dict[str, ManifestEntry]:
    """Read and validate a manifest into ``{name: ManifestEntry}`` (parsed once per content).

    Raises ``ManifestError`` naming the file and entry for unreadable JSON, a missing or unknown
    field, a field the code derives, or an invalid value.
    """
    path = Path(path) if path is not None else manifest_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read weights manifest {path}: {error}") from error
    return dict(_parse(str(path), text))


@cache
def _parse(path: str, text: str) -> dict[str, ManifestEntry]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ManifestError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
        raise ManifestError(
            f"{path}: expected an object with format_version {FORMAT_VERSION} (format 1 repeated what the code "
            "derives; keep only repo_id, revision, sha256, size, source, license and metrics)"
        )
    models = document.get("models")
    if not isinstance(models, dict):
        raise ManifestError(f"{path}: 'models' must be an object of entries")
    return {name: _parse_entry(path, name, entry) for name, entry in models.items()}


def _parse_entry(path: str, name: str, entry: Any) -> ManifestEntry:
    where = f"{path}: entry {name!r}"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} must be an object")
    known = {f.name for f in fields(ManifestEntry)} - {"name"}
    derived = sorted(set(entry) & DERIVED_FIELDS)
    if derived:
        raise ManifestError(
            f"{where}: fields {derived} are derived from the model's name by the code (bands.py, "
            "models/); a manifest must not restate them: remove them"
        )
    required = {"repo_id", "source", "license"}
    missing, unknown = sorted(required - set(entry)), sorted(set(entry) - known)
    if missing or unknown:
        raise ManifestError(f"{where}: missing fields {missing}, unknown fields {unknown}")
    parsed = ManifestEntry(name=name, **entry)
    problems = parsed.problems()
    if problems:
        raise ManifestError(f"{where}: " + "; ".join(problems))
    return parsed


def write_manifest_entry(entry: ManifestEntry, path: PathLike) -> Path:
    """Validate ``entry`` and write it into the manifest at ``path`` (created if absent).

    The only way entries are written (export, convert, the registry, publish), so no hash is
    ever edited by hand; other entries are kept as they are. ``path`` is always explicit:
    the manifest shipped in the package is never written.
    """
    path = Path(path)
    problems = entry.problems()
    if problems:
        raise ManifestError(f"refusing to write entry {entry.name!r}: " + "; ".join(problems))
    document: dict[str, Any] = (
        json.loads(path.read_text(encoding="utf-8"))
        if path.exists()
        else {"format_version": FORMAT_VERSION, "models": {}}
    )
    document["models"][entry.name] = entry.to_json()
    document["models"] = dict(sorted(document["models"].items()))
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
