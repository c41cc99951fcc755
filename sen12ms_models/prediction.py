"""``predict``: raw patches (arrays, tensors, GeoTIFFs, URLs) in, named land-cover labels out, batch by batch:
files read (``inputs.files``), checked (``inputs.checks.inspect``), predicted on the model's device."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from sen12ms_models._progress import Progress
from sen12ms_models._types import PathLike
from sen12ms_models.inputs.checks import Inspected, check_8bit, inspect, warn_level_2a
from sen12ms_models.inputs.files import Patch, check_same_ground, pair_by_name, patch_files, read_patch
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.labels import DECISION_THRESHOLD, check_threshold, decide, output_probabilities
from sen12ms_models.models.api import inference_precision
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.transforms import ArrayLike, check_array

#: What ``predict`` takes for ``s1``/``s2``: an array or tensor ``(C, H, W)``/``(N, C, H, W)``, a
#: list of ``(C, H, W)`` arrays, a GeoTIFF path or URL, a folder, or a list of paths.
PatchInput = ArrayLike | PathLike | Sequence[ArrayLike] | Sequence[PathLike]


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
        p, skipped = self.probabilities, np.isnan(self.probabilities).any(axis=1, keepdims=True)
        if self.label_type == "multi":
            return decide(p, "multi", DECISION_THRESHOLD if self.threshold is None else self.threshold) & ~skipped
        return (np.arange(p.shape[1]) == decide(np.nan_to_num(p), "single")[:, None]) & ~skipped

    @property
    def labels(self) -> list[list[str]]:
        """Class names per patch (multi: above the threshold, most probable first; single: the argmax)."""
        order, mask = np.argsort(-self.probabilities, axis=1, kind="stable"), self.label_mask
        return [[self.class_names[j] for j in row if keep[j]] for row, keep in zip(order, mask, strict=True)]

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
        threshold: overrides the model's multi-label threshold (``spec.threshold``; 0.5 for the published models).
        precision: ``fp32`` (TF32 off: the published scores' arithmetic), ``tf32`` or ``bf16``
            (autocast). A model cast with ``.half()``/``.bfloat16()`` gets its own dtype.
        progress: a progress bar (``None``: a bar on a terminal, log lines elsewhere).

    Returns:
        The ``Prediction``, with each patch's valid and cloud shares and corrections.

    Raises:
        ValueError: a head without a decision rule, a threshold outside [0, 1] or for a single-label head,
            inputs that do not fit the model.
        InputUnitsError, NoDataError, PatchFileError: see ``inputs``.
        RuntimeError: non-finite model outputs.
    """
    if isinstance(model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        model = model.module  # the network it wraps
    spec, options = model.spec, options or InputOptions()
    if threshold is not None and spec.label_type is not None:  # no rule at all: ``predicting`` says so
        check_threshold(threshold, spec.label_type)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    reads = spec.transforms  # its s2_bands, s1_bands: SEN12MS's
    reads.check_given(s1=s1, s2=s2)
    sources = {
        sensor: _source(value, sensor, getattr(options, f"{sensor}_bands") or getattr(reads, f"{sensor}_bands"))
        for sensor, value in (("s2", s2), ("s1", s1))
        if getattr(reads, f"{sensor}_bands_used")
    }
    files = {sensor: source for sensor, source in sources.items() if isinstance(source, list)}
    if len(files) == 2:
        sources["s1"] = pair_by_name(files["s1"], files["s2"])
    counts = {sensor: len(v.names if isinstance(v, SensorBatch) else v) for sensor, v in sources.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"s1 and s2 must hold the same patches: s1 holds {counts['s1']}, s2 {counts['s2']}")
    count = max(counts.values())
    chunks, batches, corrections = [], [], []
    with predicting(model, precision) as parameter, Progress(count, "predict", "patch", enabled=progress) as bar:
        for start in range(0, count, batch_size):
            part = slice(start, start + batch_size)
            read = {sensor: _read(source, part, sensor, options) for sensor, source in sources.items()}
            probabilities, batch = predict_batch(model, read, options, parameter, start)
            chunks.append(probabilities)
            batches.append(batch)
            for i, notes in enumerate(batch.corrections):
                corrections.append((*(n for r in read.values() if r.patches for n in r.patches[i].corrections), *notes))
            bar.update(len(probabilities))
    if level_2a := next((b.level_2a for b in batches if b.level_2a), None):
        warn_level_2a(level_2a)
    clouds = [b.cloud_fraction for b in batches if b.cloud_fraction is not None]
    return Prediction(
        probabilities=torch.cat(chunks).numpy(),
        class_names=spec.classes,
        label_type=spec.label_type,  # type: ignore[arg-type]
        threshold=None if spec.label_type == "single" else spec.threshold if threshold is None else threshold,
        sources=next((tuple(os.fspath(p) for p in paths) for paths in files.values()), None),
        valid_fraction=np.concatenate([b.valid_fraction for b in batches]),
        cloud_fraction=np.concatenate(clouds) if clouds else None,
        corrections=tuple(corrections),
    )


class SensorBatch(NamedTuple):
    """One sensor's patches: ``(n, C, H, W)`` raw bands, their names, and the files read (if any)."""

    array: Any
    bands: tuple[str, ...]
    names: list[str]
    patches: Sequence[Patch] = ()  # files only: georeferencing, corrections, level


@contextlib.contextmanager
def predicting(model: Sen12msClassifier, precision: str) -> Iterator[torch.nn.Parameter]:
    """``model`` in eval mode, under ``inference_mode`` and ``precision``; yields a parameter (input device, dtype)."""
    if model.spec.label_type is None:
        raise ValueError(
            f"the model's head has {model.num_classes} outputs but no decision rule: say it with "
            "model.set_labels('multi' or 'single', classes=[...]) (this keeps the trained weights)"
        )
    parameter, was_training = next(model.parameters()), model.training
    model.eval()
    try:
        with torch.inference_mode(), inference_precision(precision, parameter.device):
            yield parameter
    finally:
        model.train(was_training)


def predict_batch(
    model: Sen12msClassifier,
    read: dict[str, SensorBatch],
    options: InputOptions,
    parameter: torch.nn.Parameter,
    first: int = 0,
) -> tuple[torch.Tensor, Inspected]:
    """``(n, classes)`` probabilities of a batch (NaN: skipped as invalid; ``first``: its first patch's
    number) and the batch as ``inspect`` found it."""
    if len(read) == 2 and read["s1"].patches and read["s2"].patches:
        for one, two in zip(read["s1"].patches, read["s2"].patches, strict=True):
            check_same_ground(one, two)
    s1, s2 = (read.get(sensor, SensorBatch(None, (), [])) for sensor in ("s1", "s2"))
    batch = inspect(
        model.spec.transforms,
        options,
        s1=_to(s1.array, parameter.device),
        s2=_to(s2.array, parameter.device),
        s2_bands=s2.bands,
        s1_bands=s1.bands,
        s1_names=s1.names,
        s2_names=s2.names,
        s2_level_2a=[p.level == "L2A" for p in s2.patches],
        s1_named=[p.named for p in s1.patches],
    )
    keep = torch.from_numpy(batch.valid_fraction >= options.min_valid)
    probabilities = torch.full((len(keep), model.num_classes), torch.nan)
    if keep.any():
        x = batch.x[keep.to(parameter.device)].to(parameter.device, parameter.dtype)
        logits = model(x.contiguous(memory_format=torch.channels_last))
        if not bool(torch.isfinite(logits).all()):
            raise RuntimeError(f"the model gave non-finite outputs for patches {first}..{first + len(keep) - 1}")
        probabilities[keep] = output_probabilities(logits.float(), model.spec.label_type).cpu()  # type: ignore[arg-type]
    return probabilities, batch


def _source(value: PatchInput | None, name: str, bands: Sequence[str]) -> SensorBatch | list[PathLike]:
    """``value`` as a list of files, or a batch ``(N, C, H, W)`` checked as given, a name per patch."""
    if isinstance(value, (str, os.PathLike)):
        return patch_files([value], name) if os.path.isdir(value) else [value]
    if value is not None and not isinstance(value, (np.ndarray, torch.Tensor)):
        items: list[Any] = list(value)
        if not items:
            raise ValueError(f"{name}: an empty list")
        if all(isinstance(item, (str, os.PathLike)) for item in items):
            return items
        kind = next((k for k in (np.ndarray, torch.Tensor) if all(isinstance(i, k) for i in items)), None)
        if kind is None:
            kinds = sorted({type(i).__name__ for i in items})
            raise TypeError(f"{name} must be arrays, tensors or paths (not a mix), got {kinds}")
        for what, found, remedy in (
            ("shapes", [tuple(i.shape) for i in items], "predict the patches of each size in their own call, or crop"),
            ("dtypes", [i.dtype for i in items], "stacked, an 8-bit one would pass for 16-bit: convert"),
        ):
            if len(distinct := list(dict.fromkeys(found))) > 1:
                shown = ", ".join(f"{name}[{found.index(one)}] {one}" for one in distinct[:3])
                raise ValueError(f"{name}: a list of arrays of {len(distinct)} {what} ({shown}); {remedy} them to one")
        value = np.stack(items) if kind is np.ndarray else torch.stack(items)
    value = check_array(value, name, bands)
    if value.ndim == 3:
        return SensorBatch(value[None], tuple(bands), [name])
    return SensorBatch(value, tuple(bands), [f"{name}[{i}]" for i in range(len(value))])


def _read(source: SensorBatch | list[PathLike], part: slice, sensor: Any, options: InputOptions) -> SensorBatch:
    """Batch ``part`` of a source; files are read now."""
    if isinstance(source, SensorBatch):
        return source._replace(array=source.array[part], names=source.names[part])
    patches = [read_patch(path, sensor, bands=getattr(options, f"{sensor}_bands")) for path in source[part]]
    first = patches[0]
    for patch in patches if sensor == "s2" else ():  # each file: stacked with 16-bit ones, 8-bit would pass
        check_8bit(patch.array.dtype, patch.path, options)
    for patch in patches[1:]:
        if (patch.bands, patch.array.shape) != (first.bands, first.array.shape):
            raise ValueError(
                f"{sensor}: {patch.path} holds bands {list(patch.bands)} of {patch.array.shape[1:]} pixels, "
                f"{first.path} {list(first.bands)} of {first.array.shape[1:]}; predict them in separate calls"
            )
    # promoted to the widest dtype
    return SensorBatch(np.stack([p.array for p in patches]), first.bands, [p.path for p in patches], patches)


def _to(array: Any, device: torch.device) -> Any:
    """``array`` on ``device``, where its checks then run; a non-numeric one stays as given, for ``inspect``."""
    if device.type == "cpu":
        return array
    if isinstance(array, np.ndarray) and array.dtype.kind in "iuf":
        array = torch.from_numpy(np.ascontiguousarray(array))
    return array.to(device, non_blocking=True) if isinstance(array, torch.Tensor) else array
