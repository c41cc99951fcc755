"""``weights_manifest.json`` as typed data: one ``WeightsSpec`` per arch x modality x label type.

The manifest is the single source of truth for published weights: where they live on the
Hugging Face Hub (``repo_id``, ``filename``, a pinned commit ``revision``), what they must hash
to (``sha256``, ``size``), what they expect as input (``bands``, ``mean``, ``std``) and how good
they are (``metrics``; ``paper_metrics`` quotes Table 4 of Schmitt & Wu 2021). It is read and
validated once per file; ``SEN12MS_MODELS_MANIFEST`` points at another manifest (a mirror).

>>> import sen12ms_models as sm
>>> spec = sm.get_weights("resnet50", "s1s2")
>>> spec.name, spec.in_chans, spec.published   # doctest: +SKIP
('resnet50-s1s2-multi', 12, False)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .bands import modality_bands
from .classes import NUM_CLASSES
from .errors import ManifestError
from .models import ARCHITECTURES
from .transforms import Sen12msTransform

LabelType = Literal["multi", "single"]
LABEL_TYPES: tuple[str, ...] = ("multi", "single")
SOURCES: tuple[str, ...] = ("retrained", "original-release-converted")
MANIFEST_ENV = "SEN12MS_MODELS_MANIFEST"
FORMAT_VERSION = 1

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class WeightsSpec:
    """Everything known about one set of weights; ``published`` is False until a file exists."""

    name: str
    arch: str
    modality: str
    label_type: str
    repo_id: str
    filename: str
    revision: str | None
    sha256: str | None
    size: int | None
    in_chans: int
    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    source: str
    license: str
    metrics: dict[str, Any] | None = None
    paper_metrics: dict[str, Any] | None = None

    @property
    def published(self) -> bool:
        """True when the manifest pins a Hub commit and a hash for this file."""
        return self.revision is not None and self.sha256 is not None

    @property
    def transforms(self) -> Sen12msTransform:
        """The preprocessing these weights were trained with: ``spec.transforms(s1=..., s2=...)``."""
        return Sen12msTransform(self.bands, self.mean, self.std)

    @property
    def threshold(self) -> float | None:
        """Decision threshold on sigmoid outputs (multi-label); None for single-label argmax."""
        return 0.5 if self.label_type == "multi" else None

    def to_json(self) -> dict[str, Any]:
        """The manifest entry (without ``name``, which is its key)."""
        entry = asdict(self)
        del entry["name"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in entry.items()}


def model_name(arch: str, modality: str, label_type: str = "multi") -> str:
    """The manifest key of a model, e.g. ``resnet50-s1s2-multi``."""
    return f"{arch}-{modality}-{label_type}"


def manifest_path() -> Path:
    """The manifest in use: ``$SEN12MS_MODELS_MANIFEST``, else the one shipped with the package."""
    override = os.environ.get(MANIFEST_ENV)
    if override:
        return Path(override)
    packaged = resources.files("sen12ms_models") / "weights_manifest.json"
    if packaged.is_file():  # installed from a wheel
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "weights_manifest.json"  # source checkout


def load_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, WeightsSpec]:
    """Read and validate a manifest into ``{name: WeightsSpec}`` (parsed once per content)."""
    path = Path(path) if path is not None else manifest_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read weights manifest {path}: {error}") from error
    return dict(_parse_manifest(str(path), text))


@cache
def _parse_manifest(path: str, text: str) -> dict[str, WeightsSpec]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ManifestError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
        raise ManifestError(f"{path}: expected an object with format_version {FORMAT_VERSION}")
    models = document.get("models")
    if not isinstance(models, dict):
        raise ManifestError(f"{path}: 'models' must be an object of entries")
    return {name: _parse_entry(path, name, entry) for name, entry in models.items()}


def _parse_entry(path: str, name: str, entry: Any) -> WeightsSpec:
    where = f"{path}: entry {name!r}"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} must be an object")
    expected = {f.name for f in fields(WeightsSpec)} - {"name"}
    optional = {"metrics", "paper_metrics"}
    missing = sorted(expected - optional - set(entry))
    unknown = sorted(set(entry) - expected)
    if missing or unknown:
        raise ManifestError(f"{where}: missing fields {missing}, unknown fields {unknown}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
    spec = WeightsSpec(name=name, **values)
    problems = _entry_problems(spec)
    if problems:
        raise ManifestError(f"{where}: " + "; ".join(problems))
    return spec


def _entry_problems(spec: WeightsSpec) -> list[str]:
    """Everything wrong with one entry, checked against the code's facts."""
    problems = []
    if spec.arch not in ARCHITECTURES:
        problems.append(f"arch {spec.arch!r} is not one of {list(ARCHITECTURES)}")
    if spec.label_type not in LABEL_TYPES:
        problems.append(f"label_type {spec.label_type!r} is not one of {list(LABEL_TYPES)}")
    if spec.source not in SOURCES:
        problems.append(f"source {spec.source!r} is not one of {list(SOURCES)}")
    try:
        if spec.bands != modality_bands(spec.modality):
            expected = list(modality_bands(spec.modality))
            problems.append(f"bands {list(spec.bands)} are not modality {spec.modality}'s {expected}")
    except ValueError as error:
        problems.append(str(error))
    if spec.name != model_name(spec.arch, spec.modality, spec.label_type):
        problems.append(f"name should be {model_name(spec.arch, spec.modality, spec.label_type)!r}")
    if not (spec.in_chans == len(spec.bands) == len(spec.mean) == len(spec.std)):
        problems.append("in_chans, bands, mean and std disagree in length")
    if spec.num_classes != NUM_CLASSES:
        problems.append(f"num_classes must be {NUM_CLASSES}")
    if (spec.sha256 is None) != (spec.size is None):
        problems.append("sha256 and size must both be set or both be null")
    if spec.revision is not None and spec.sha256 is None:
        problems.append("a pinned revision needs the file's sha256 and size")
    if spec.revision is not None and not _COMMIT.match(str(spec.revision)):
        problems.append(f"revision {spec.revision!r} must be a full 40-hex commit hash, never a branch")
    if spec.sha256 is not None and not _SHA256.match(str(spec.sha256)):
        problems.append(f"sha256 {spec.sha256!r} must be 64 lowercase hex digits")
    if spec.size is not None and (not isinstance(spec.size, int) or spec.size <= 0):
        problems.append(f"size {spec.size!r} must be a positive integer")
    if not spec.filename.endswith(".safetensors"):
        problems.append(f"filename {spec.filename!r} must be a .safetensors file")
    return problems


def list_models(published_only: bool = False) -> list[str]:
    """Names of the manifest's entries, e.g. ``['densenet121-rgb-multi', ...]``, sorted."""
    return sorted(n for n, s in load_manifest().items() if s.published or not published_only)


def get_weights(arch: str, modality: str, label_type: str = "multi") -> WeightsSpec:
    """The ``WeightsSpec`` of one model, e.g. ``get_weights("densenet121", "s2", "single")``."""
    name = model_name(arch, modality, label_type)
    manifest = load_manifest()
    if name not in manifest:
        modality_bands(modality)  # names the valid modalities if that is what is wrong
        raise ManifestError(
            f"no model {name!r} in {manifest_path()}; arch is one of {list(ARCHITECTURES)}, "
            f"label_type one of {list(LABEL_TYPES)}; available: {', '.join(sorted(manifest))}"
        )
    return manifest[name]


def write_manifest_entry(spec: WeightsSpec, path: str | os.PathLike[str] | None = None) -> Path:
    """Validate ``spec`` and write it into the manifest at ``path`` (created if absent).

    The only way entries are written: training's export/publish and the converter call it, so
    no hash is ever edited by hand. Other entries are kept as they are.
    """
    path = Path(path) if path is not None else manifest_path()
    problems = _entry_problems(spec)
    if problems:
        raise ManifestError(f"refusing to write entry {spec.name!r}: " + "; ".join(problems))
    document: dict[str, Any] = (
        json.loads(path.read_text(encoding="utf-8"))
        if path.exists()
        else {"format_version": FORMAT_VERSION, "models": {}}
    )
    document["models"][spec.name] = spec.to_json()
    document["models"] = dict(sorted(document["models"].items()))
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
