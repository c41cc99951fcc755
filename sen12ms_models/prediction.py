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
from sen12ms_models.labels import DECISION_THRESHOLD, decide, output_probabilities
from sen12ms_models.models.base import Sen12msClassifier
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
            lines.append(f"  {name}: {shown or '(no class above threshold)'}")
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
) -> Prediction:
    """Predict land-cover labels for raw S1 (dB) and/or S2 (DN) patches.

    ``s1``/``s2``: an array or tensor ``(C, H, W)``/``(N, C, H, W)``, a GeoTIFF path, or a list
    of paths. ``threshold`` overrides the multi-label 0.5; ``transform`` overrides the spec's
    preprocessing (e.g. ``spec.transforms.with_s2_bands(...)`` for a 12-band L2A product);
    ``class_names`` names the outputs of a fine-tuned head.
    """
    spec = model.spec
    if spec is None and (transform is None or class_names is None):
        raise ValueError("this model carries no WeightsSpec: pass transform= and class_names=")
    transform = transform or spec.transforms  # type: ignore[union-attr]
    names = tuple(class_names) if class_names is not None else spec.classes  # type: ignore[union-attr]
    if len(names) != model.num_classes:
        raise ValueError(
            f"the model has {model.num_classes} outputs but {len(names)} class names; "
            "pass class_names= for a fine-tuned head"
        )
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

    s1_array, s1_sources = _load_input(s1, "s1") if transform.s1_bands_used else (None, None)
    s2_array, s2_sources = _load_input(s2, "s2") if transform.s2_bands_used else (None, None)
    present = [a for a in (s1_array, s2_array) if a is not None]
    if len(present) == 2 and tuple(present[0].shape[:-3]) != tuple(present[1].shape[:-3]):
        raise ValueError(
            f"s1 and s2 must hold the same patches: s1 has shape {tuple(present[0].shape)}, "
            f"s2 has shape {tuple(present[1].shape)}"
        )
    single = present[0].ndim == 3
    count = 1 if single else len(present[0])
    if count == 0:
        name = "s2" if s2_array is not None else "s1"
        raise ValueError(f"{name} is empty (shape {tuple(present[-1].shape)}): no patch to predict")

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            starts = range(0, count, batch_size)
            for start in tqdm(starts, desc="predict", unit="batch", disable=not progress):
                part = slice(start, start + batch_size)
                x = (
                    transform(s1=_batch(s1_array, single, part), s2=_batch(s2_array, single, part))
                    .to(device, non_blocking=True)
                    .contiguous(memory_format=torch.channels_last)
                )
                logits = model(x).float()
                if not bool(torch.isfinite(logits).all()):
                    raise RuntimeError(f"the model gave non-finite outputs for patches {start}..{start + len(x) - 1}")
                chunks.append(output_probabilities(logits, label_type))
    finally:
        model.train(was_training)
    return Prediction(
        probabilities=torch.cat(chunks).cpu().numpy(),
        class_names=names,
        label_type=label_type,
        threshold=threshold,
        sources=s2_sources or s1_sources,
    )


def _load_input(value: PatchInput | None, name: str) -> tuple[ArrayLike | None, tuple[str, ...] | None]:
    """Arrays pass through; paths are read (with checks) and stacked into ``(N, C, H, W)``."""
    if value is None:
        raise ValueError(f"{name} is required by this model")
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value, None
    paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not paths:
        raise ValueError(f"{name}: empty list of paths")
    from sen12ms_models.datasets.readers import read_patch  # rasterio: only when paths are given

    patches = [read_patch(p, name) for p in paths]  # type: ignore[arg-type]
    shapes = {p.array.shape for p in patches}
    if len(shapes) > 1:
        raise ValueError(f"{name}: the files have different shapes {sorted(shapes)}")
    stacked = np.stack([p.array for p in patches])
    return stacked, tuple(os.fspath(p) for p in paths)


def _batch(array: ArrayLike | None, single: bool, part: slice) -> ArrayLike | None:
    if array is None:
        return None
    if single:
        return array[None]
    if array.ndim == 3:
        raise ValueError(f"s1 and s2 must both be single patches or both batches, got shape {tuple(array.shape)}")
    return array[part]
