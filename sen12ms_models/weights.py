"""The weights of the SEN12MS baselines: one enum member per model, in torchvision's shape.

A model's name, ``<arch>-<modality>-<label type>``, fixes all the code knows about it; what only a publication
can say (Hub repository, pinned commit, sha256, size, source, licence, metrics) lives in ``weights_manifest.json``
(shipped in the wheel) and nowhere else. Locally converted or trained files are recorded in a registry folder's
manifest of the same format. This module loads neither torch nor the Hub client.

>>> ResNet50_Weights.DEFAULT.value
'resnet50-s1s2-multi'
>>> w = get_weights("densenet121", "s2")
>>> w.in_chans, w.bands[:3], w.published
(10, ('B2', 'B3', 'B4'), False)
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sen12ms_models.bands import MODALITIES, modality_bands
from sen12ms_models.classes import CLASSES
from sen12ms_models.errors import ManifestError
from sen12ms_models.labels import DECISION_THRESHOLD, LABEL_TYPES
from sen12ms_models.paper import paper_metrics

if TYPE_CHECKING:
    from sen12ms_models.transforms import Sen12msTransform

#: The two architectures of Schmitt & Wu (2021).
ARCHITECTURES: tuple[str, ...] = ("resnet50", "densenet121")

MANIFEST_FILE = "weights_manifest.json"
MANIFEST_ENV = "SEN12MS_MODELS_MANIFEST"
REGISTRY_ENV = "SEN12MS_MODELS_HOME"
FORMAT_VERSION = 2
#: Weights trained with ``sen12ms-models train`` / converted from the SEN12MS toolbox's release.
RETRAINED, CONVERTED = "retrained", "original-release-converted"
SOURCES: tuple[str, ...] = (RETRAINED, CONVERTED)
_ENTRY_FIELDS = ("repo_id", "revision", "sha256", "size", "source", "license", "metrics")


def model_name(arch: str, modality: str, label_type: str = "multi") -> str:
    """The name of a model: ``model_name("resnet50", "s1s2")`` is ``"resnet50-s1s2-multi"``."""
    return f"{arch}-{modality}-{label_type}"


def known_models() -> tuple[str, ...]:
    """Every model this package builds: 2 architectures x 5 modalities x 2 label types, sorted."""
    return tuple(sorted(model_name(a, m, t) for a in ARCHITECTURES for m in MODALITIES for t in LABEL_TYPES))


def parse_model_name(name: str, modality: str | None = None, label_type: str | None = None) -> str:
    """The full name of ``"resnet50-s1s2-multi"``, ``"resnet50-s1s2"`` (multi) or ``"resnet50", "s1s2"[, "single"]``."""
    parts = _name_parts(name, modality)
    if len(parts) == 2:
        parts.append(label_type or "multi")
    elif len(parts) == 3 and label_type not in (None, parts[2]):
        raise ValueError(f"model {name!r} is {parts[2]}-label, but label_type={label_type!r} was given")
    if (full := "-".join(parts)) not in known_models():
        raise ManifestError(
            f"unknown model {name if modality is None else full!r}; known: {', '.join(known_models())} "
            f"(or arch, modality[, label_type] with arch one of {list(ARCHITECTURES)}, modality one of "
            f"{list(MODALITIES)}, label_type one of {list(LABEL_TYPES)})"
        )
    return full


def label_type_given(name: str | Sen12msWeights, modality: str | None = None, label_type: str | None = None) -> bool:
    """Whether ``get_weights``' arguments say the label type (a member, a full name, ``label_type``) rather than
    leave it to the default, ``multi`` (``"resnet50-s2"``, or ``"resnet50", "s2"``)."""
    return isinstance(name, Sen12msWeights) or label_type is not None or len(_name_parts(name, modality)) == 3


def _name_parts(name: str, modality: str | None) -> list[str]:
    return name.split("-") if modality is None else [name, modality]


@dataclass(frozen=True)
class ManifestEntry:
    """One weight file as published: ``revision`` is a 40-hex Hub commit (``None`` until published, and for local
    files), ``sha256``/``size`` are set together, ``metrics`` the file's own test scores; else ``ManifestError``."""

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
        return {key: getattr(self, key) for key in _ENTRY_FIELDS}

    def __post_init__(self) -> None:
        found = []
        if self.name not in known_models():
            found.append("it names no model this package builds")
        if self.source not in SOURCES:
            found.append(f"source {self.source!r} is not one of {list(SOURCES)}")
        if (self.sha256 is None) != (self.size is None):
            found.append("sha256 and size must both be set or both be null")
        if self.revision is not None and (self.sha256 is None or not re.fullmatch("[0-9a-f]{40}", str(self.revision))):
            found.append(f"revision {self.revision!r} must be a 40-hex commit hash, with the file's sha256 and size")
        if self.sha256 is not None and not re.fullmatch("[0-9a-f]{64}", str(self.sha256)):
            found.append(f"sha256 {self.sha256!r} must be 64 lowercase hex digits")
        if self.size is not None and (not isinstance(self.size, int) or self.size <= 0):
            found.append(f"size {self.size!r} must be a positive integer")
        if found:
            raise ManifestError(f"entry {self.name!r}: " + "; ".join(found))


def manifest_path() -> Path:
    """``$SEN12MS_MODELS_MANIFEST``, else the wheel's manifest, else (a source checkout) the repository's."""
    if override := os.environ.get(MANIFEST_ENV):
        return Path(override)
    shipped = Path(str(resources.files(__package__) / MANIFEST_FILE))
    return shipped if shipped.is_file() else Path(__file__).resolve().parent.parent / MANIFEST_FILE


def read_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, ManifestEntry]:
    """A manifest (default: ``manifest_path()``) as ``{name: ManifestEntry}``; ``ManifestError`` if invalid."""
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
        if document["format_version"] != FORMAT_VERSION:
            raise ValueError(f"format_version {document['format_version']!r}")
        return {name: ManifestEntry(name=name, **fields) for name, fields in document["models"].items()}
    except ManifestError as error:  # an entry's own check, naming the entry
        raise ManifestError(f"{path}: {error}") from error
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ManifestError(
            f"{path}: not a weights manifest of format_version {FORMAT_VERSION} ({type(error).__name__}: {error}); "
            f"each entry of its 'models' holds {', '.join(_ENTRY_FIELDS)} (the code derives the rest from the name)"
        ) from error


def write_manifest_entry(entry: ManifestEntry, path: str | os.PathLike[str]) -> Path:
    """Write ``entry`` into the manifest at ``path`` (created if absent), keeping the others."""
    path = Path(path)
    entries = {**(read_manifest(path) if path.exists() else {}), entry.name: entry}
    document = {"format_version": FORMAT_VERSION, "models": {name: entries[name].to_json() for name in sorted(entries)}}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def sha256_hex(data: bytes) -> str:
    """The sha256 of ``data`` as 64 lowercase hex digits (the manifest's ``sha256``)."""
    return hashlib.sha256(data).hexdigest()


def registry_dir() -> Path:
    """The local registry: ``$SEN12MS_MODELS_HOME``, else ``$HF_HOME/sen12ms_models`` (not created here)."""
    from huggingface_hub import constants

    return Path(os.environ.get(REGISTRY_ENV) or Path(constants.HF_HOME) / "sen12ms_models")


def read_registry() -> dict[str, ManifestEntry]:
    """The registry's entries (each with a file hash), by model name; empty when there is none."""
    manifest = registry_dir() / MANIFEST_FILE
    return read_manifest(manifest) if manifest.is_file() else {}


def register_weights(entry: ManifestEntry, data: bytes) -> Path:
    """Store ``data`` in the registry as ``entry`` (hash and size recomputed, no revision); returns the file."""
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{entry.name}.safetensors"
    file.write_bytes(data)
    registered = dataclasses.replace(entry, revision=None, sha256=sha256_hex(data), size=len(data))
    write_manifest_entry(registered, folder / MANIFEST_FILE)
    return file


class Sen12msWeights(enum.Enum):
    """The weights of one model; the member's value is the model's name, from which all but ``entry`` derive.

    Attributes:
        arch, modality, label_type: the three parts of the name.
        bands: input channels in the network's order (``bands.MODALITY_BANDS``); ``in_chans``: their count.
        classes: the output names; ``filename``: ``<name>.safetensors``.
    """

    arch: str
    modality: str
    label_type: str
    bands: tuple[str, ...]
    in_chans: int
    classes: tuple[str, ...]
    filename: str

    def __init__(self, value: str) -> None:
        self.arch, self.modality, self.label_type = value.split("-")
        self.bands = modality_bands(self.modality)
        self.in_chans = len(self.bands)
        self.classes = CLASSES
        self.filename = f"{value}.safetensors"

    @property
    def entry(self) -> ManifestEntry | None:
        """This model's record in the manifest in use (``None`` if it has none)."""
        return read_manifest().get(str(self.value))

    @property
    def published(self) -> bool:
        """A file is pinned on the Hub (commit and sha256)."""
        return self.entry is not None and self.entry.published

    @property
    def loadable(self) -> ManifestEntry | None:
        """The entry of the file ``load_model(name)`` loads: the published one, else the local registry's."""
        return self.entry if self.published else read_registry().get(str(self.value))

    @property
    def repo_id(self) -> str:
        """This model's Hub repository in the manifest in use; ``ManifestError`` naming the manifest if it has none."""
        if (entry := self.entry) is None:
            raise ManifestError(
                f"weights manifest {manifest_path()} has no entry for {self.value}, so its Hub repository is unknown; "
                f"add one, or unset ${MANIFEST_ENV} to use the package's manifest"
            )
        return entry.repo_id

    @property
    def meta(self) -> dict[str, Any]:
        """What the model is and, JSON-ready (torchvision's ``meta``), the entry of the file ``load_model(name)`` loads
        (``loadable``; ``weights`` says whether it is the Hub's or the local registry's), else the manifest's plan."""
        loadable = self.loadable
        shown = loadable or self.entry
        return {
            "name": self.value,
            "arch": self.arch,
            "modality": self.modality,
            "label_type": self.label_type,
            "in_chans": self.in_chans,
            "bands": list(self.bands),
            "classes": list(self.classes),
            "threshold": DECISION_THRESHOLD if self.label_type == "multi" else None,
            "filename": self.filename,
            "published": self.published,
            "weights": None if loadable is None else "hub" if loadable.published else "registered",
            **(shown.to_json() if shown else {}),
            "paper_metrics": paper_metrics(str(self.value)),
        }

    def transforms(self) -> Sen12msTransform:
        """The preprocessing these weights were trained with: raw S1 dB + S2 DN -> standardized input."""
        from sen12ms_models.transforms import Sen12msTransform

        return Sen12msTransform.for_bands(self.bands)


class ResNet50_Weights(Sen12msWeights):
    """ResNet50 trained on SEN12MS (Schmitt & Wu, 2021); ``DEFAULT``: S1 + S2, multi-label."""

    SEN12MS_RGB_MULTI = "resnet50-rgb-multi"
    SEN12MS_RGB_SINGLE = "resnet50-rgb-single"
    SEN12MS_S2_MULTI = "resnet50-s2-multi"
    SEN12MS_S2_SINGLE = "resnet50-s2-single"
    SEN12MS_S1S2_MULTI = "resnet50-s1s2-multi"
    SEN12MS_S1S2_SINGLE = "resnet50-s1s2-single"
    SEN12MS_S1_MULTI = "resnet50-s1-multi"
    SEN12MS_S1_SINGLE = "resnet50-s1-single"
    SEN12MS_S1RGB_MULTI = "resnet50-s1rgb-multi"
    SEN12MS_S1RGB_SINGLE = "resnet50-s1rgb-single"
    DEFAULT = "resnet50-s1s2-multi"


class DenseNet121_Weights(Sen12msWeights):
    """DenseNet121 trained on SEN12MS (Schmitt & Wu, 2021); ``DEFAULT``: S1 + S2, multi-label."""

    SEN12MS_RGB_MULTI = "densenet121-rgb-multi"
    SEN12MS_RGB_SINGLE = "densenet121-rgb-single"
    SEN12MS_S2_MULTI = "densenet121-s2-multi"
    SEN12MS_S2_SINGLE = "densenet121-s2-single"
    SEN12MS_S1S2_MULTI = "densenet121-s1s2-multi"
    SEN12MS_S1S2_SINGLE = "densenet121-s1s2-single"
    SEN12MS_S1_MULTI = "densenet121-s1-multi"
    SEN12MS_S1_SINGLE = "densenet121-s1-single"
    SEN12MS_S1RGB_MULTI = "densenet121-s1rgb-multi"
    SEN12MS_S1RGB_SINGLE = "densenet121-s1rgb-single"
    DEFAULT = "densenet121-s1s2-multi"


#: The weights enum of each architecture.
WEIGHTS: dict[str, type[Sen12msWeights]] = {"resnet50": ResNet50_Weights, "densenet121": DenseNet121_Weights}


def get_weights(
    name: str | Sen12msWeights, modality: str | None = None, label_type: str | None = None
) -> Sen12msWeights:
    """The weights of one model: ``get_weights("densenet121-s2-single")``, ``get_weights("densenet121", "s2")``.

    Args:
        name: a model name, an architecture (with ``modality``), or a weights enum member.
        modality, label_type: with an architecture; ``label_type`` defaults to ``multi``.

    Returns:
        The ``ResNet50_Weights`` / ``DenseNet121_Weights`` member.

    Raises:
        ManifestError: no such model.
    """
    if isinstance(name, Sen12msWeights):
        return name
    full = parse_model_name(name, modality, label_type)
    return WEIGHTS[full.split("-")[0]](full)


def list_models(published_only: bool = False) -> list[str]:
    """Names of the known models, e.g. ``resnet50-s1s2-multi``.

    Args:
        published_only: only those with a verified file to load: published on the Hub or registered
            locally (``convert``, ``export --register``).

    Returns:
        The names, sorted.
    """
    return [name for name in known_models() if not published_only or get_weights(name).loadable]
