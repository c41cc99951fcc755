"""``predict``: raw patches (arrays, tensors, GeoTIFFs, URLs) in, named land-cover labels out.

Batch by batch: files read (``inputs.files``), checked and standardized (``inputs.checks.prepare``),
predicted under ``torch.inference_mode`` on the model's device.

>>> import sen12ms_models as sm
>>> pred = sm.predict(model, s1="..._s1_63_p100.tif", s2="..._s2_63_p100.tif")  # doctest: +SKIP
>>> pred.labels                                                                 # doctest: +SKIP
[['Grassland', 'Croplands']]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from sen12ms_models._progress import Progress
from sen12ms_models._types import PathLike
from sen12ms_models.bands import S1_BANDS, S2_BANDS
from sen12ms_models.inputs.checks import prepare, warn_level_2a
from sen12ms_models.inputs.files import (
    Patch,
    check_same_ground,
    pair_by_name,
    patch_files,
    read_patch,
)
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.labels import DECISION_THRESHOLD, decide, output_probabilities
from sen12ms_models.models.api import inference_precision
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.transforms import ArrayLike, check_array

#: What ``predict`` takes for ``s1``/``s2``: an array or tensor ``(C, H, W)``/``(N, C, H, W)``, a
#: list of ``(C, H, W)`` arrays, a GeoTIFF path or URL, a folder, or a list of paths.
PatchInput = ArrayLike | PathLike | Sequence[ArrayLike] | Sequence[PathLike]
_DEFAULT_BANDS = {"s2": S2_BANDS, "s1": S1_BANDS}


@dataclass(frozen=True)
class Prediction:
    """Class probabilities of N patches and the decision rule that turns them into labels.

    Attributes:
        probabilities: ``(N, num_classes)`` float32 sigmoid (multi) or softmax (single) outputs;
            NaN for a patch skipped as invalid.
        class_names: the name of each output.
        label_type: ``multi`` or ``single``.
        threshold: the multi-label decision threshold (``None`` for single-label).
        sources: the files the patches came from, if any.
        valid_fraction: ``(N,)`` share of each patch's pixels with data in every input, not cloud.
        cloud_fraction: ``(N,)`` share of each patch's pixels found cloudy (``None``: no S2 checked).
        corrections: per patch, what was corrected on the way in (declared offset, band order...).
    """

    probabilities: np.ndarray
    class_names: tuple[str, ...]
    label_type: str
    threshold: float | None
    sources: tuple[str, ...] | None = None
    valid_fraction: np.ndarray | None = None
    cloud_fraction: np.ndarray | None = None
    corrections: tuple[tuple[str, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def label_mask(self) -> np.ndarray:
        """Boolean ``(N, num_classes)``: the classes each patch is labelled with (none if skipped)."""
        probabilities = self.probabilities
        if self.label_type == "multi":
            mask = decide(probabilities, "multi", DECISION_THRESHOLD if self.threshold is None else self.threshold)
        else:
            mask = np.arange(probabilities.shape[1]) == decide(np.nan_to_num(probabilities), "single")[:, None]
        return mask & ~np.isnan(probabilities).any(axis=1, keepdims=True)

    @property
    def labels(self) -> list[list[str]]:
        """Class names per patch (multi: above the threshold, most probable first; single: the argmax)."""
        order = np.argsort(-self.probabilities, axis=1, kind="stable")
        mask = self.label_mask
        return [[self.class_names[j] for j in order[i] if mask[i, j]] for i in range(len(self))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the decision rule and, per patch, its source, labels, shares and probabilities."""
        patches = [
            {
                "source": self.sources[i] if self.sources else None,
                "labels": labels,
                "valid_fraction": None if self.valid_fraction is None else round(float(self.valid_fraction[i]), 4),
                "cloud_fraction": None if self.cloud_fraction is None else round(float(self.cloud_fraction[i]), 4),
                "corrections": list(self.corrections[i]) if self.corrections else [],
                "probabilities": None
                if np.isnan(self.probabilities[i]).any()
                else {c: round(float(p), 6) for c, p in zip(self.class_names, self.probabilities[i], strict=True)},
            }
            for i, labels in enumerate(self.labels)
        ]
        classes = list(self.class_names)
        return {"label_type": self.label_type, "threshold": self.threshold, "classes": classes, "patches": patches}

    def summary(self, limit: int | None = None) -> str:
        """One line per patch (labels with probabilities, shares, corrections); ``limit`` patches at most."""
        rule = f"sigmoid >= {self.threshold}" if self.label_type == "multi" else "argmax"
        lines = [f"Prediction({len(self)} patch{'es' * (len(self) != 1)}, {self.label_type}-label, {rule})"]
        for i, labels in enumerate(self.labels[:limit]):
            name = os.path.basename(self.sources[i]) if self.sources else f"[{i}]"
            shown = ", ".join(f"{c} {self.probabilities[i, self.class_names.index(c)]:.2f}" for c in labels)
            if np.isnan(self.probabilities[i]).any():
                shown = "(no label: too little valid data)"
            valid = ""
            if self.valid_fraction is not None and self.valid_fraction[i] < 1:
                cloud = "" if self.cloud_fraction is None else f", {self.cloud_fraction[i]:.0%} cloud"
                valid = f" [{self.valid_fraction[i]:.0%} valid pixels{cloud}]"
            lines.append(f"  {name}: {shown or '(no class above threshold)'}{valid}")
            lines += [f"    corrected: {note}" for note in (self.corrections[i] if self.corrections else ())]
        if limit is not None and len(self) > limit:
            lines.append(f"  ... {len(self) - limit} more (all of them: summary(), or --json)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary(limit=10)


def predict(
    model: Sen12msClassifier,
    s1: PatchInput | None = None,
    s2: PatchInput | None = None,
    *,
    options: InputOptions | None = None,
    batch_size: int = 32,
    threshold: float | None = None,
    precision: str = "fp32",
    progress: bool | None = False,
) -> Prediction:
    """Predict land-cover labels for raw S1 (dB) and/or S2 (DN) patches.

    Args:
        model: a model from ``load_model`` (its ``spec`` names its bands, classes and rule).
        s1, s2: the patches (``PatchInput``); files are read batch by batch, a folder gives its
            SEN12MS files of that sensor (``patch_files``). S1 and S2 files must show the same
            ground; lists of SEN12MS-named files are paired by name.
        options: how to read and check the input (``InputOptions``).
        batch_size: patches per forward pass.
        threshold: overrides the model's multi-label threshold (``spec.threshold``, default 0.5).
        precision: ``fp32`` (TF32 off: the published scores' arithmetic), ``tf32`` or ``bf16``
            (autocast). A model cast with ``.half()``/``.bfloat16()`` gets its own dtype.
        progress: a progress bar (``None``: a bar on a terminal, log lines elsewhere).

    Returns:
        The ``Prediction``, with each patch's valid and cloud shares and corrections.

    Raises:
        ValueError: a head without a decision rule, inputs that do not fit the model.
        InputUnitsError, NoDataError, PatchFileError: see ``inputs``.
        RuntimeError: non-finite model outputs.
    """
    if isinstance(model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        model = model.module  # the network it wraps
    spec, options = model.spec, options or InputOptions()
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    transform = spec.transforms
    sources = {
        sensor: _source(value, sensor, getattr(options, f"{sensor}_bands") or _DEFAULT_BANDS[sensor])
        for sensor, value, used in (("s2", s2, transform.s2_bands_used), ("s1", s1, transform.s1_bands_used))
        if used
    }
    if len(sources) == 2 and sources["s1"][1] is None and sources["s2"][1] is None:
        sources["s1"] = (pair_by_name(sources["s1"][0], sources["s2"][0]), None)
    counts = {sensor: len(items) for sensor, (items, _) in sources.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"s1 and s2 must hold the same patches: s1 holds {counts['s1']}, s2 {counts['s2']}")
    prediction, level_2a = predict_sources(model, sources, options, batch_size, threshold, precision, progress)
    if level_2a:
        warn_level_2a(level_2a)
    return prediction


def predict_sources(
    model: Sen12msClassifier,
    sources: Mapping[str, tuple[Any, list[str] | None]],
    options: InputOptions,
    batch_size: int,
    threshold: float | None = None,
    precision: str = "fp32",
    progress: bool | None = False,
) -> tuple[Prediction, str | None]:
    """``predict`` on the sources it resolved, or ``map_scene`` on a batch of windows it names.

    Args:
        model, options, batch_size, threshold, precision, progress: as for ``predict``.
        sources: per sensor read, ``(N, C, H, W)`` raw bands and a name per patch, or a list of
            files (names ``None``); as many patches each.

    Returns:
        The ``Prediction``, and why the S2 input looks like Level-2A if any batch does (for the
        caller's one ``warn_level_2a``).

    Raises:
        As ``predict``.
    """
    spec, transform = model.spec, model.spec.transforms
    if spec.label_type is None:
        raise ValueError(
            f"the model's head has {model.num_classes} outputs but no decision rule: say it with "
            "model.set_labels('multi' or 'single', classes=[...]) (this keeps the trained weights)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    threshold = None if spec.label_type == "single" else threshold if threshold is not None else spec.threshold
    count = len(next(iter(sources.values()))[0])
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    chunks, batches, corrections, level_2a = [], [], [], None
    bar = Progress(count, "predict", "patch", enabled=progress)
    try:
        with torch.inference_mode(), inference_precision(precision, parameter.device):
            for start in range(0, count, batch_size):
                part = slice(start, min(start + batch_size, count))
                read = {
                    s: _read(items, names, part, s, options, parameter.device) for s, (items, names) in sources.items()
                }
                if len(read) == 2 and read["s1"].patches and read["s2"].patches:
                    for one, two in zip(read["s1"].patches, read["s2"].patches, strict=True):
                        check_same_ground(one, two)
                l2a = any(p.level == "L2A" for r in read.values() for p in r.patches)
                none = _Read(None, (), [], [])
                read_s1, read_s2 = read.get("s1", none), read.get("s2", none)
                batch = prepare(
                    transform,
                    dataclasses.replace(options, level="L2A" if l2a else options.level),
                    s1=read_s1.array,
                    s2=read_s2.array,
                    s2_bands=read_s2.bands,
                    s1_bands=read_s1.bands,
                    s1_names=read_s1.names,
                    s2_names=read_s2.names,
                )
                level_2a = level_2a or batch.level_2a
                if not options.skip_invalid:
                    batch.refuse_invalid(options.min_valid)
                keep = torch.from_numpy(batch.valid_fraction >= options.min_valid)
                probabilities = torch.full((len(keep), model.num_classes), torch.nan)
                if keep.any():
                    x = batch.x[keep.to(batch.x.device)]
                    logits = model(
                        x.to(parameter.device, parameter.dtype).contiguous(memory_format=torch.channels_last)
                    )
                    if not bool(torch.isfinite(logits).all()):
                        raise RuntimeError(f"the model gave non-finite outputs for patches {start}..{part.stop - 1}")
                    probabilities[keep] = output_probabilities(logits.float(), spec.label_type).cpu()
                chunks.append(probabilities)
                batches.append(batch)
                for i, notes in enumerate(batch.corrections):
                    corrections.append(
                        (*(n for r in read.values() if r.patches for n in r.patches[i].corrections), *notes)
                    )
                bar.update(part.stop - start)
    finally:
        bar.close()
        model.train(was_training)
    clouds = [b.cloud_fraction for b in batches if b.cloud_fraction is not None]
    prediction = Prediction(
        probabilities=torch.cat(chunks).numpy(),
        class_names=spec.classes,
        label_type=spec.label_type,
        threshold=threshold,
        sources=next((tuple(map(os.fspath, items)) for items, names in sources.values() if names is None), None),
        valid_fraction=np.concatenate([b.valid_fraction for b in batches]),
        cloud_fraction=np.concatenate(clouds) if clouds else None,
        corrections=tuple(corrections),
    )
    return prediction, level_2a


class _Read(NamedTuple):
    """One batch of one sensor: ``(n, C, H, W)`` raw bands and what is known of each patch."""

    array: Any
    bands: tuple[str, ...]
    names: list[str]
    patches: list[Patch]  # files only: georeferencing, corrections, level


def _source(value: PatchInput | None, name: str, bands: Sequence[str]) -> tuple[Any, list[str] | None]:
    """``value`` as a batch ``(N, C, H, W)`` checked as given (errors show the user's shape) with a
    name per patch, or as a list of files (names ``None``)."""
    if value is None:
        raise ValueError(f"{name} is required: this model reads its bands")
    if isinstance(value, (str, os.PathLike)):
        return (patch_files([value], name) if os.path.isdir(value) else [value]), None
    if not isinstance(value, (np.ndarray, torch.Tensor)):
        items = list(value)
        if not items:
            raise ValueError(f"{name}: an empty list")
        if all(isinstance(item, (str, os.PathLike)) for item in items):
            return items, None
        kind = next((k for k in (np.ndarray, torch.Tensor) if all(isinstance(i, k) for i in items)), None)
        if kind is None:
            kinds = sorted({type(i).__name__ for i in items})
            raise TypeError(f"{name} must be arrays, tensors or paths (not a mix), got {kinds}")
        first: dict[tuple[int, ...], int] = {}  # the first item of each shape
        for i, item in enumerate(items):
            first.setdefault(tuple(item.shape), i)  # type: ignore[union-attr]
        if len(first) > 1:
            shown = ", ".join(f"{name}[{i}] {shape}" for shape, i in list(first.items())[:3])
            raise ValueError(
                f"{name}: a list of arrays of {len(first)} shapes ({shown}); predict the patches of each size "
                "in their own call, or crop them to one size"
            )
        value = np.stack(items) if kind is np.ndarray else torch.stack(items)  # type: ignore[arg-type]
    check_array(value, name, bands)
    if value.ndim == 3:
        return value[None], [name]
    return value, [f"{name}[{i}]" for i in range(len(value))]


def _read(items: Any, names: list[str] | None, part: slice, sensor: Any, options: InputOptions, device: Any) -> _Read:
    """Batch ``part`` of a source on ``device`` (raw: checked and standardized there); files are read now."""
    given = options.s2_bands if sensor == "s2" else options.s1_bands
    if names is not None:
        array, bands, names, patches = items[part], given or _DEFAULT_BANDS[sensor], names[part], []
    else:
        patches = [read_patch(path, sensor, bands=given) for path in items[part]]
        first = patches[0]
        for patch in patches[1:]:
            if (patch.bands, patch.array.shape) != (first.bands, first.array.shape):
                raise ValueError(
                    f"{sensor}: {patch.path} holds bands {list(patch.bands)} of {patch.array.shape[1:]} pixels, "
                    f"{first.path} {list(first.bands)} of {first.array.shape[1:]}; predict them in separate calls"
                )
        array = np.stack([p.array for p in patches])  # promoted to the widest dtype
        bands, names = first.bands, [p.path for p in patches]
    if device.type != "cpu":  # a non-numeric array stays as given, for prepare to refuse
        if isinstance(array, np.ndarray) and array.dtype.kind in "iuf":
            array = torch.from_numpy(np.ascontiguousarray(array))
        if isinstance(array, torch.Tensor):
            array = array.to(device, non_blocking=True)
    return _Read(array, tuple(bands), names, patches)
