"""Figures people would rather look at: patch previews, predictions, per-class F1 (``plot`` extra).

- ``plot_patch``: S1 VV backscatter and S2 true colour side by side with the patch's labels in
  their class colours, the main class in bold (like Figure 1 of Schmitt & Wu 2021).
- ``plot_predictions``: true colour per patch with predicted vs reference labels (like Figure 3).
- ``plot_per_class_f1``: bars of per-class F1 in the class colours, from an evaluation result.

Each returns a ``matplotlib.figure.Figure``; save it with ``fig.savefig("out.png")``.
Needs ``pip install 'sen12ms-models[plot]'``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sen12ms_models.bands import S1_CLIP_DB, S2_BANDS
from sen12ms_models.classes import CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.labels import multi_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sen12ms_models.prediction import Prediction

_COLOURS = {c.name: c.colour for c in SIMPLIFIED_IGBP}
_TRUE_COLOUR = tuple(S2_BANDS.index(b) for b in ("B4", "B3", "B2"))  # red, green, blue


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'sen12ms-models[plot]'") from error
    return plt


def true_colour(s2: np.ndarray, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """RGB ``(H, W, 3)`` in [0, 1] from a 13-band S2 patch, stretched per band between percentiles."""
    rgb = np.asarray(s2, dtype=np.float32)[list(_TRUE_COLOUR)]
    low, high = np.percentile(rgb, percentiles, axis=(1, 2), keepdims=True)
    return np.clip((rgb - low) / np.maximum(high - low, 1e-6), 0, 1).transpose(1, 2, 0)


def sar_grey(s1: np.ndarray) -> np.ndarray:
    """VV backscatter ``(H, W)`` in [0, 1]: NaN -> 0 dB and clipping as in the preprocessing."""
    vv = np.clip(np.nan_to_num(np.asarray(s1, dtype=np.float32)[0], nan=0.0), *S1_CLIP_DB)
    return (vv - S1_CLIP_DB[0]) / (S1_CLIP_DB[1] - S1_CLIP_DB[0])


def _label_text(ax: Axes, y: float, names: Sequence[str], main: str | None, prefix: str = "") -> None:
    """Write class names in their colours along a line of ``ax`` (axes coordinates)."""
    text = ax.text(0.0, y, prefix, transform=ax.transAxes, fontsize=9, va="top")
    for name in names:
        text = ax.annotate(
            f" {name}",
            xycoords=text,
            xy=(1, 0),
            va="bottom",
            fontsize=9,
            fontweight="bold" if name == main else "normal",
            color="black",
            bbox={"boxstyle": "round,pad=0.15", "fc": _COLOURS[name], "ec": "none", "alpha": 0.8},
        )


def plot_patch(s1: np.ndarray | None, s2: np.ndarray, probabilities: np.ndarray | None = None) -> Figure:
    """S1 VV and S2 true colour of one patch; ``probabilities`` (10,) adds its labels.

    Labels are the multi label (share >= 10 %), the main (argmax) class in bold.
    """
    plt = _pyplot()
    panels = 2 if s1 is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.9), squeeze=False)
    axes = axes[0]
    if s1 is not None:
        axes[0].imshow(sar_grey(s1), cmap="gray", vmin=0, vmax=1)
        axes[0].set_title("Sentinel-1 VV", fontsize=10)
    axes[-1].imshow(true_colour(s2))
    axes[-1].set_title("Sentinel-2 true colour", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    if probabilities is not None:
        names = [CLASSES[i] for i in np.flatnonzero(multi_label(probabilities))]
        _label_text(axes[0], -0.04, names, CLASSES[int(np.argmax(probabilities))])
    fig.tight_layout()
    return fig


def plot_predictions(
    prediction: Prediction, s2: np.ndarray, reference: np.ndarray | None = None, columns: int = 4
) -> Figure:
    """True colour of each patch of ``s2`` ``(N, 13, H, W)`` with predicted (and reference) labels.

    ``reference`` is an ``(N, 10)`` array of reference class shares or a boolean label mask.
    """
    plt = _pyplot()
    count = len(prediction)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, min(columns, count), figsize=(3.0 * min(columns, count), 3.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= count:
            continue
        ax.imshow(true_colour(s2[i]))
        main = prediction.class_names[int(np.argmax(prediction.probabilities[i]))]
        _label_text(ax, -0.03, prediction.labels[i], main, "model:")
        if reference is not None:
            mask = reference[i] if reference.dtype == bool else multi_label(reference[i])
            _label_text(ax, -0.14, [CLASSES[j] for j in np.flatnonzero(mask)], None, "reference:")
    fig.tight_layout()
    return fig


def plot_per_class_f1(result: Mapping[str, Any] | str | os.PathLike[str]) -> Figure:
    """Bars of per-class F1 from an evaluation result (a dict or the JSON file ``evaluate`` writes).

    Reads ``result["per_class_f1"]`` (class name -> F1, in % or as a fraction); classes absent
    from the test set (F1 undefined, ``None``) are left out.
    """
    plt = _pyplot()
    record = result if isinstance(result, Mapping) else json.loads(Path(result).read_text(encoding="utf-8"))
    if "per_class_f1" not in record:
        raise KeyError(f"no 'per_class_f1' in the evaluation result (keys: {sorted(record)})")
    scores = {k: v for k, v in record["per_class_f1"].items() if v is not None}
    unknown = sorted(set(scores) - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown class names in per_class_f1: {unknown}")
    names = [c for c in CLASSES if c in scores]
    values = [float(scores[c]) for c in names]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, values, color=[_COLOURS[c] for c in names], edgecolor="black", linewidth=0.5)
    ax.set_ylabel("F1 (%)" if max(values, default=0) > 1 else "F1")
    ax.set_title("Per-class F1")
    ax.tick_params(axis="x", labelrotation=35)
    fig.tight_layout()
    return fig
