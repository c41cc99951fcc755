"""``predict``: raw patches (arrays, tensors or GeoTIFF paths) in, named land-cover labels out.

The model's own ``WeightsSpec`` says how to preprocess and how to decide (``labels.decide``:
sigmoid >= 0.5 for multi-label models, softmax argmax for single-label ones). Inference runs in batches under
``torch.inference_mode`` on the model's device, channels-last.

>>> import sen12ms_models as sm
>>> model = sm.load_model("resnet50", "s1s2")                              # doctest: +SKIP
>>> pred = sm.predict(model, s1="..._s1_63_p100.tif", s2="..._s2_63_p100.tif")  # doctest: +SKIP
>>> pred.labels                                                            # doctest: +SKIP
[['Grassland', 'Croplands']]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sen12ms_models._types import PathLike
from sen12ms_models.bands import S1_BANDS, S2_BANDS
from sen12ms_models.inputs.arrays import check_array
from sen12ms_models.inputs.nodata import MIN_VALID
from sen12ms_models.inputs.prepare import InputOptions, prepare
from sen12ms_models.labels import DECISION_THRESHOLD, decide, output_probabilities
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.optimize import inference_precision
from sen12ms_models.transforms import ArrayLike, Sen12msTransform

PatchInput = ArrayLike | PathLike | Sequence[PathLike]


@dataclass(frozen=True)
class Prediction:
    """Class probabilities of N patches and the decision rule that turns them into labels."""

    probabilities: np.ndarray  # (N, num_classes), float32
    class_names: tuple[str, ...]
    label_type: str  # "multi" or "single"
    threshold: float | None  # multi-label decision threshold
    sources: tuple[str, ...] | None = None  # the files the patches came from, if any
    #: Per patch, the share of its pixels that held data (not fill/NaN/nodata) in every input read.
    valid_fraction: np.ndarray | None = None  # (N,) float32
    #: Per patch, what was corrected on the way in (declared offset applied, bands reordered, ...).
    corrections: tuple[tuple[str, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def label_mask(self) -> np.ndarray:
        """Boolean ``(N, num_classes)``: which classes each patch is labelled with."""
        if self.label_type == "multi":
            return decide(self.probabilities, "multi", DECISION_THRESHOLD if self.threshold is None else self.threshold)
        mask = np.zeros(self.probabilities.shape, dtype=bool)
        mask[np.arange(len(self)), decide(self.probabilities, "single")] = True
        return mask

    @property
    def labels(self) -> list[list[str]]:
        """Class names per patch (multi: above the threshold, by probability; single: the argmax)."""
        order = np.argsort(-self.probabilities, axis=1, kind="stable")
        mask = self.label_mask
        return [[self.class_names[j] for j in order[i] if mask[i, j]] for i in range(len(self))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the decision rule and, per patch, its source, labels and probabilities."""
        return {
            "label_type": self.label_type,
            "threshold": self.threshold,
            "classes": list(self.class_names),
            "patches": [
                {
                    "source": self.sources[i] if self.sources else None,
                    "labels": labels,
                    "valid_fraction": None if self.valid_fraction is None else round(float(self.valid_fraction[i]), 4),
                    "corrections": list(self.corrections[i]) if self.corrections else [],
                    "probabilities": {
                        name: round(float(p), 6)
                        for name, p in zip(self.class_names, self.probabilities[i], strict=True)
                    },
                }
                for i, labels in enumerate(self.labels)
            ],
        }

    def __repr__(self) -> str:
        rule = f"sigmoid >= {self.threshold}" if self.label_type == "multi" else "argmax"
        lines = [f"Prediction({len(self)} patches, {self.label_type}-label, {rule})"]
        for i, labels in enumerate(self.labels[:10]):
            name = os.path.basename(self.sources[i]) if self.sources else f"[{i}]"
            shown = ", ".join(f"{c} {self.probabilities[i, self.class_names.index(c)]:.2f}" for c in labels)
            valid = ""
            if self.valid_fraction is not None and self.valid_fraction[i] < 1:
                valid = f" [{self.valid_fraction[i]:.0%} valid pixels]"
            lines.append(f"  {name}: {shown or '(no class above threshold)'}{valid}")
            for note in self.corrections[i] if self.corrections else ():
                lines.append(f"    corrected: {note}")
        if len(self) > 10:
            lines.append(f"  ... {len(self) - 10} more")
        return "\n".join(lines)


def predict(
    model: Sen12msClassifier,
    s1: PatchInput | None = None,
    s2: PatchInput | None = None,
    *,
    batch_size: int = 32,
    threshold: float | None = None,
    transform: Sen12msTransform | None = None,
    class_names: Sequence[str] | None = None,
    progress: bool = False,
    s2_offset: float | None = None,
    s2_bands: Sequence[str] | None = None,
    check_units: bool = True,
    min_valid: float = MIN_VALID,
    precision: str = "fp32",
) -> Prediction:
    """Predict land-cover labels for raw S1 (dB) and/or S2 (DN) patches.

    ``s1``/``s2``: an array or tensor ``(C, H, W)``/``(N, C, H, W)``, a GeoTIFF path, or a list
    of paths (read batch by batch, so memory does not grow with the number of files).
    ``threshold`` overrides the multi-label 0.5; ``transform`` overrides the spec's
    preprocessing; ``class_names`` names the outputs of a fine-tuned head.

    Real Sentinel data (see ``sen12ms_models.inputs`` and docs/reliability.md):

    - ``s2_offset``: DN to subtract from S2, 1000 for products of processing baseline >= 04.00
      (every product since 25 January 2022) unless the file declares the offset itself;
    - ``s2_bands``: the S2 bands of the arrays/files in order, e.g. ``bands.L2A_BANDS``,
      ``bands.EUROSAT_BANDS`` (GeoTIFF band descriptions, when present, are used instead);
    - ``check_units=False`` accepts S2 that looks like reflectance or 8-bit and S1 that looks
      linear, which are refused by default;
    - ``min_valid``: patches with a smaller share of valid (non-fill) pixels are refused; 0
      labels every patch. ``Prediction.valid_fraction`` holds each patch's share.

    On a GPU the raw bands (uint16 DN, float32 dB: half the bytes of standardized input) go to
    the model's device and are checked and standardized there. ``precision``: ``fp32`` (TF32
    off: the published scores' arithmetic), ``tf32`` or ``bf16`` (autocast), see
    ``models.optimize.inference_precision``. Raises ``RuntimeError`` for non-finite outputs.
    """
    spec = model.spec
    if spec is None and (transform is None or class_names is None):
        raise ValueError("this model carries no WeightsSpec: pass transform= and class_names=")
    transform = transform or spec.transforms  # type: ignore[union-attr]
    if s2_bands is not None:
        transform = transform.with_s2_bands(s2_bands)
    if s2_offset is not None:
        transform = transform.with_s2_offset(s2_offset)
    options = InputOptions(check_units=check_units, min_valid=min_valid)
    names = tuple(class_names) if class_names is not None else spec.classes  # type: ignore[union-attr]
    if len(names) != model.num_classes:
        raise ValueError(
            f"the model has {model.num_classes} outputs but {len(names)} class names; "
            "pass class_names= for a fine-tuned head"
        )
    _check_channels(model, transform)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    label_type = spec.label_type if spec is not None else "multi"
    if label_type is None:
        raise ValueError(
            f"the model's head was replaced ({model.num_classes} outputs) without saying how to decide: call "
            "model.reset_classifier(num_classes, label_type='multi' or 'single') so predict knows its rule"
        )
    if threshold is None:
        threshold = DECISION_THRESHOLD if label_type == "multi" else None
    elif not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")

    s2_source = _source(s2, "s2", transform.s2_bands, check_units) if transform.s2_bands_used else None
    s1_source = _source(s1, "s1", S1_BANDS, check_units) if transform.s1_bands_used else None
    present = [source for source in (s1_source, s2_source) if source is not None]
    if len(present) == 2:
        _check_same_patches(*present)
    count = present[0].count

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks, fractions, corrections = [], [], []
    try:
        with torch.inference_mode(), inference_precision(precision, device):
            starts = range(0, count, batch_size)
            for start in tqdm(starts, desc="predict", unit="batch", disable=not progress):
                part = slice(start, min(start + batch_size, count))
                s1_part = s1_source.read(part) if s1_source is not None else None
                s2_part = s2_source.read(part) if s2_source is not None else None
                batch = prepare(
                    transform,
                    s1=_on(device, s1_part.array) if s1_part else None,
                    s2=_on(device, s2_part.array) if s2_part else None,
                    options=options,
                    s1_names=s1_part.names if s1_part else None,
                    s2_names=s2_part.names if s2_part else None,
                )
                x = batch.x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                logits = model(x).float()
                if not bool(torch.isfinite(logits).all()):
                    raise RuntimeError(f"the model gave non-finite outputs for patches {start}..{start + len(x) - 1}")
                chunks.append(output_probabilities(logits, label_type).cpu())
                fractions.append(batch.valid_fraction)
                for i, notes in enumerate(batch.corrections):
                    read_notes = [n for part_ in (s2_part, s1_part) if part_ for n in part_.corrections[i]]
                    corrections.append(tuple(read_notes) + notes)
    finally:
        model.train(was_training)
    sources = (s2_source.sources if s2_source else None) or (s1_source.sources if s1_source else None)
    return Prediction(
        probabilities=torch.cat(chunks).numpy(),
        class_names=names,
        label_type=label_type,
        threshold=threshold,
        sources=sources,
        valid_fraction=np.concatenate(fractions),
        corrections=tuple(corrections),
    )


def _on(device: torch.device, array: Any) -> Any:
    """A numeric batch as it is, on ``device`` (raw: standardized there); the CPU path and arrays
    ``prepare`` refuses (wrong dtype) stay as given."""
    if device.type == "cpu":
        return array
    if isinstance(array, np.ndarray) and array.dtype.kind in "iuf":
        return torch.from_numpy(np.ascontiguousarray(array)).to(device, non_blocking=True)
    return array.to(device, non_blocking=True) if isinstance(array, torch.Tensor) else array


def _check_channels(model: Sen12msClassifier, transform: Sen12msTransform) -> None:
    """The transform must give the model as many channels as its first convolution reads."""
    in_chans = getattr(model, "in_chans", None)
    if isinstance(in_chans, int) and in_chans != len(transform.bands):
        raise ValueError(
            f"the model reads {in_chans} input channels (its first convolution was adapted), but the "
            f"preprocessing gives {len(transform.bands)} ({', '.join(transform.bands)}): pass transform= a "
            f"Sen12msTransform whose bands are the {in_chans} the model was adapted to, e.g. "
            f"Sen12msTransform(bands=..., mean=..., std=..., s2_bands=...) built from bands.BAND_MEAN/BAND_STD"
        )


@dataclass(frozen=True)
class _Part:
    """One batch of one sensor: ``(n, C, H, W)`` pixels, a name per patch, corrections per patch."""

    array: ArrayLike
    names: list[str]
    corrections: list[tuple[str, ...]]


class _ArraySource:
    """An array or tensor the user passed; checked as given (so errors show the user's shape)."""

    def __init__(self, array: ArrayLike, name: str, bands: tuple[str, ...]) -> None:
        check_array(array, name, bands)
        self.array, self.name = array, name
        self.single = array.ndim == 3
        self.count = 1 if self.single else len(array)
        self.shape = tuple(array.shape)
        self.sources: tuple[str, ...] | None = None

    def read(self, part: slice) -> _Part:
        if self.single:
            return _Part(self.array[None], [self.name], [()])
        names = [f"{self.name}[{i}]" for i in range(part.start, part.stop)]
        return _Part(self.array[part], names, [()] * len(names))


class _FileSource:
    """GeoTIFF paths, read through ``read_patch`` one batch at a time (bounded memory)."""

    def __init__(self, paths: list[PathLike], name: str, bands: tuple[str, ...] | None, check_units: bool) -> None:
        from sen12ms_models.datasets.readers import read_patch  # rasterio: only when paths are given

        self._read_patch = read_patch
        self.paths, self.name, self.bands, self.check_units = paths, name, bands, check_units
        self.single = False
        self.count = len(paths)
        self.shape: tuple[int, ...] | None = None
        self.sources: tuple[str, ...] | None = tuple(os.fspath(p) for p in paths)

    def read(self, part: slice) -> _Part:
        patches = [
            self._read_patch(path, self.name, bands=self.bands, check_units=self.check_units)  # type: ignore[arg-type]
            for path in self.paths[part]
        ]
        for patch in patches:
            if self.shape is None:
                self.shape = patch.array.shape
            elif patch.array.shape != self.shape:
                raise ValueError(
                    f"{self.name}: the files have different shapes: {patch.path} is {patch.array.shape}, "
                    f"{self.paths[0]} {self.shape}"
                )
        arrays = [p.array for p in patches]
        dtype = np.result_type(*arrays)
        return _Part(
            np.stack([a.astype(dtype, copy=False) for a in arrays]),
            [str(p.path) for p in patches],
            [p.corrections for p in patches],
        )


def _source(
    value: PatchInput | None, name: str, bands: tuple[str, ...], check_units: bool
) -> _ArraySource | _FileSource:
    if value is None:
        raise ValueError(f"{name} is required by this model")
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _ArraySource(value, name, bands)
    paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not paths:
        raise ValueError(f"{name}: empty list of paths")
    # The default band list is read_patch's own, so its errors speak of SEN12MS files, not of bands=.
    return _FileSource(paths, name, None if name == "s1" or bands == S2_BANDS else bands, check_units)


def _check_same_patches(s1: _ArraySource | _FileSource, s2: _ArraySource | _FileSource) -> None:
    if isinstance(s1, _ArraySource) and isinstance(s2, _ArraySource):
        if s1.single != s2.single:
            raise ValueError(
                f"s1 and s2 must both be single patches or both batches, got shapes {s1.shape} and {s2.shape}"
            )
        if s1.shape[:-3] + s1.shape[-2:] != s2.shape[:-3] + s2.shape[-2:]:
            raise ValueError(f"s1 and s2 must hold the same patches: s1 has shape {s1.shape}, s2 has shape {s2.shape}")
    elif s1.count != s2.count:
        raise ValueError(f"s1 and s2 must hold the same patches: s1 holds {s1.count}, s2 {s2.count}")
