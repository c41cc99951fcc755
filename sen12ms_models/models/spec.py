"""``WeightsSpec``: everything known about one model, from the code's facts plus its manifest entry.

A model is named ``<arch>-<modality>-<label type>`` (``resnet50-s1s2-multi``). The name alone
fixes the architecture, the input bands and their statistics (``bands.py``), the classes
(``classes.py``), the decision rule (``labels.py``), the Paper's scores (``paper.py``) and the
file name; the manifest entry adds only what a publication knows (repository, commit, hash,
size, source, licence, measured metrics). A spec describes exactly the model that carries it:
a new head or new input channels give a new spec (``with_classifier``, ``with_in_chans``).

>>> spec = get_weights("resnet50-s1s2-multi")
>>> spec.in_chans, spec.bands[-2:], spec.published
(12, ('VV', 'VH'), False)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sen12ms_models.bands import BAND_MEAN, BAND_STD, MODALITIES, modality_bands
from sen12ms_models.classes import CLASSES
from sen12ms_models.errors import ManifestError
from sen12ms_models.hub.manifest import ManifestEntry, manifest_path, read_manifest
from sen12ms_models.labels import DECISION_THRESHOLD, LABEL_TYPES, check_label_type
from sen12ms_models.paper import paper_metrics

if TYPE_CHECKING:
    from sen12ms_models.transforms import Sen12msTransform

#: The baseline architectures (each class in ``models/`` declares its own as ``arch``).
ARCHITECTURE_NAMES: tuple[str, ...] = ("resnet50", "densenet121")


@dataclass(frozen=True)
class WeightsSpec:
    """One model: name, architecture, input bands, classes, decision rule and published file.

    ``bands`` is ``None`` when the input channels were adapted to an unknown band list;
    ``label_type`` is ``None`` when a new head's decision rule is not known (``predict`` then
    refuses to guess). ``entry`` is the manifest entry (``None`` for a model that has none).
    """

    name: str
    arch: str
    modality: str
    label_type: str | None
    in_chans: int
    bands: tuple[str, ...] | None
    classes: tuple[str, ...]
    entry: ManifestEntry | None = None

    # -- derived from the code's facts --------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel training mean (S2 in DN, S1 in dB) from ``bands.BAND_MEAN``."""
        return tuple(BAND_MEAN[b] for b in self._known_bands())

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel training standard deviation from ``bands.BAND_STD``."""
        return tuple(BAND_STD[b] for b in self._known_bands())

    @property
    def filename(self) -> str:
        return f"{self.name}.safetensors"

    @property
    def transforms(self) -> Sen12msTransform:
        """The preprocessing these weights were trained with: ``spec.transforms(s1=..., s2=...)``."""
        from sen12ms_models.transforms import Sen12msTransform  # torch: only when preprocessing

        return Sen12msTransform(self._known_bands(), self.mean, self.std)

    @property
    def threshold(self) -> float | None:
        """Decision threshold on sigmoid outputs (multi-label); None for single-label argmax."""
        return DECISION_THRESHOLD if self.label_type == "multi" else None

    @property
    def paper_metrics(self) -> dict[str, Any] | None:
        """Table 4 of Schmitt & Wu (2021) for this model (``paper.py``), or None."""
        return paper_metrics(self.name)

    # -- from the manifest entry --------------------------------------------------------
    @property
    def published(self) -> bool:
        return self.entry is not None and self.entry.published

    @property
    def repo_id(self) -> str | None:
        return self.entry.repo_id if self.entry else None

    @property
    def revision(self) -> str | None:
        return self.entry.revision if self.entry else None

    @property
    def sha256(self) -> str | None:
        return self.entry.sha256 if self.entry else None

    @property
    def size(self) -> int | None:
        return self.entry.size if self.entry else None

    @property
    def source(self) -> str | None:
        return self.entry.source if self.entry else None

    @property
    def license(self) -> str | None:
        return self.entry.license if self.entry else None

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self.entry.metrics if self.entry else None

    # -- a spec that follows the model ------------------------------------------------
    def with_entry(self, entry: ManifestEntry | None) -> WeightsSpec:
        """The same model with another manifest entry (a local file's, say)."""
        return dataclasses.replace(self, entry=entry)

    def with_classifier(
        self, num_classes: int, label_type: str | None = None, classes: tuple[str, ...] | None = None
    ) -> WeightsSpec:
        """The spec of this model after its head was replaced by one with ``num_classes`` outputs.

        ``label_type`` (the new head's decision rule) and ``classes`` (its names) are kept when
        the head has as many outputs as before, else unknown unless given.
        """
        same = num_classes == self.num_classes
        if classes is not None and len(classes) != num_classes:
            raise ValueError(f"{len(classes)} class names for {num_classes} outputs")
        return dataclasses.replace(
            self,
            label_type=check_label_type(label_type) if label_type else (self.label_type if same else None),
            classes=tuple(classes) if classes else (self.classes if same else tuple(map(str, range(num_classes)))),
            entry=None,
        )

    def with_in_chans(self, in_chans: int, bands: tuple[str, ...] | None = None) -> WeightsSpec:
        """The spec after the first convolution was adapted to ``in_chans`` channels (named ``bands``)."""
        if bands is not None and len(bands) != in_chans:
            raise ValueError(f"{len(bands)} band names for {in_chans} input channels")
        return dataclasses.replace(self, in_chans=in_chans, bands=tuple(bands) if bands else None, entry=None)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: what the code derives, then the manifest entry's fields."""
        return {
            "name": self.name,
            "arch": self.arch,
            "modality": self.modality,
            "label_type": self.label_type,
            "in_chans": self.in_chans,
            "bands": None if self.bands is None else list(self.bands),
            "mean": None if self.bands is None else list(self.mean),
            "std": None if self.bands is None else list(self.std),
            "classes": list(self.classes),
            "threshold": self.threshold,
            "filename": self.filename,
            "published": self.published,
            **({k: v for k, v in self.entry.to_json().items()} if self.entry else {}),
            "paper_metrics": self.paper_metrics,
        }

    def _known_bands(self) -> tuple[str, ...]:
        if self.bands is None:
            raise ValueError(
                f"{self.name}: its first convolution was adapted to {self.in_chans} channels without band names, "
                "so no band statistics apply; pass your own transform (e.g. Sen12msTransform(bands, mean, std))"
            )
        return self.bands


def model_name(arch: str, modality: str, label_type: str = "multi") -> str:
    """The name of a model, e.g. ``model_name("resnet50", "s1s2")`` is ``resnet50-s1s2-multi``."""
    return f"{arch}-{modality}-{label_type}"


def known_models() -> tuple[str, ...]:
    """Every model this package builds: 2 architectures x 5 modalities x 2 label types, sorted."""
    return tuple(sorted(model_name(a, m, t) for a in ARCHITECTURE_NAMES for m in MODALITIES for t in LABEL_TYPES))


def parse_model_name(name: str, modality: str | None = None, label_type: str | None = None) -> str:
    """The full name of a model given as ``"resnet50-s1s2-multi"``, ``"resnet50-s1s2"`` (multi-label)
    or as ``("resnet50", "s1s2"[, "single"])``; ``ManifestError`` naming the known models otherwise.
    """
    if modality is not None:
        full = model_name(name, modality, label_type or "multi")
    else:
        parts = name.split("-")
        if len(parts) == 2:
            parts.append(label_type or "multi")
        elif len(parts) == 3 and label_type is not None and parts[2] != label_type:
            raise ValueError(f"model {name!r} is {parts[2]}-label, but label_type={label_type!r} was given")
        full = "-".join(parts)
    if full not in known_models():
        raise ManifestError(
            f"unknown model {name if modality is None else full!r}; known: {', '.join(known_models())} "
            f"(or arch, modality[, label_type] with arch one of {list(ARCHITECTURE_NAMES)}, modality one of "
            f"{list(MODALITIES)}, label_type one of {list(LABEL_TYPES)})"
        )
    return full


def spec_for(name: str, entry: ManifestEntry | None) -> WeightsSpec:
    """The spec of the known model ``name`` (full form) with manifest ``entry``."""
    arch, modality, label_type = name.split("-")
    bands = modality_bands(modality)
    return WeightsSpec(name, arch, modality, label_type, len(bands), bands, CLASSES, entry)


def get_weights(name: str, modality: str | None = None, label_type: str | None = None) -> WeightsSpec:
    """The ``WeightsSpec`` of one model: ``get_weights("densenet121-s2-single")`` or
    ``get_weights("densenet121", "s2", "single")``. Raises ``ManifestError`` for an unknown model.
    """
    full = parse_model_name(name, modality, label_type)
    return spec_for(full, load_entries().get(full))


def load_entries() -> dict[str, ManifestEntry]:
    """The manifest in use, every entry checked to name a model this package builds."""
    entries = read_manifest()
    unknown = sorted(set(entries) - set(known_models()))
    if unknown:
        raise ManifestError(f"{manifest_path()}: entries {unknown} name no model this package builds")
    return entries


def list_models(published_only: bool = False) -> list[str]:
    """Names of the known models, e.g. ``['densenet121-rgb-multi', ...]``, sorted.

    With ``published_only``, only those with a verified file to load: published on the Hub
    or registered locally (``convert``, ``export --register``).
    """
    if not published_only:
        return list(known_models())
    from sen12ms_models.hub.registry import read_registry

    registered = read_registry()
    entries = load_entries()
    return sorted(n for n in known_models() if (n in entries and entries[n].published) or n in registered)
