"""Figures people would rather look at: patch previews, predictions, per-class F1 (``plot`` extra).

- ``plot_patch``: S1 VV backscatter and S2 true colour side by side with the patch's labels in
  their class colours, the main class in bold (like Figure 1 of Schmitt & Wu 2021).
- ``plot_predictions``: true colour per patch with predicted vs reference labels (like Figure 3).
- ``plot_per_class_f1``: bars of per-class F1 in the class colours, from an evaluation result.

Labels are drawn as coloured chips that wrap onto as many lines as the panel's width needs;
the figure is sized (in inches, before anything is drawn) so that every chip fits under its
image and inside the figure, whatever the number or length of the class names.

Each returns a ``matplotlib.figure.Figure``; save it with ``fig.savefig("out.png")``.
Needs ``pip install 'sen12ms-models[plot]'``; matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sen12ms_models.bands import S1_CLIP_DB, S2_BANDS
from sen12ms_models.classes import CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.labels import multi_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sen12ms_models.prediction import Prediction

_COLOURS = {c.name: c.colour for c in SIMPLIFIED_IGBP}
_OTHER_COLOUR = "#dddddd"  # a class name of a fine-tuned head, not one of the SEN12MS classes
_TRUE_COLOUR = tuple(S2_BANDS.index(b) for b in ("B4", "B3", "B2"))  # red, green, blue

# Layout, in points (1/72 inch): independent of the figure size and of the dpi it is saved at.
_FONT = 8.0
_PAD = 0.2 * _FONT  # the chip's box around its text
_GAP = 4.5  # between two chips of a line
_LINE = _FONT * 1.2 + 2 * _PAD + 2.5  # one line of chips, box and spacing
_IMAGE = 180.0  # the side of one image panel
_SPACE = 14.0  # between panels, and around the figure's edge
_TITLE = 16.0  # room above an image for its title


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'sen12ms-models[plot]'") from error
    return plt


def true_colour(s2: np.ndarray, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """True-colour RGB of a 13-band S2 patch, stretched per band between two percentiles.

    Args:
        s2: ``(13, H, W)`` S2 in DN, bands B1..B12.
        percentiles: the low and high percentile mapped to 0 and 1.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1]: B4, B3, B2.
    """
    rgb = np.asarray(s2, dtype=np.float32)[list(_TRUE_COLOUR)]
    low, high = np.percentile(rgb, percentiles, axis=(1, 2), keepdims=True)
    return np.clip((rgb - low) / np.maximum(high - low, 1e-6), 0, 1).transpose(1, 2, 0)


def sar_grey(s1: np.ndarray) -> np.ndarray:
    """VV backscatter as grey levels, clipped as the models' preprocessing clips it.

    Args:
        s1: ``(2, H, W)`` S1 in dB (VV, VH); NaN counts as 0 dB.

    Returns:
        ``(H, W)`` float32 in [0, 1]: -25 dB black, 0 dB white.
    """
    vv = np.clip(np.nan_to_num(np.asarray(s1, dtype=np.float32)[0], nan=0.0), *S1_CLIP_DB)
    return (vv - S1_CLIP_DB[0]) / (S1_CLIP_DB[1] - S1_CLIP_DB[0])


@dataclass(frozen=True)
class _Chip:
    """One piece of a caption: a class name in its colour (or a plain heading), at ``(x, line)``."""

    text: str
    x: float  # points from the caption's left edge
    line: int
    colour: str | None  # None: a heading without a box
    bold: bool = False


@cache
def _text_width(text: str, bold: bool) -> float:
    """Width of ``text`` at the caption's font size, in points (measured with Agg at 72 dpi)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(1, 1, 72)  # at 72 dpi a pixel is a point
    width, _, _ = renderer.get_text_width_height_descent(
        text, FontProperties(size=_FONT, weight="bold" if bold else "normal"), ismath=False
    )
    return float(width)


def _fit(text: str, bold: bool, width: float) -> str:
    """``text``, cut short with an ellipsis if it is wider than ``width`` points."""
    if _text_width(text, bold) <= width:
        return text
    while len(text) > 1 and _text_width(text + "…", bold) > width:
        text = text[:-1]
    return text + "…"


def _caption(groups: Sequence[tuple[str, Sequence[str], str | None]], width: float) -> list[_Chip]:
    """Lay out ``(heading, class names, main class)`` groups as chips wrapping within ``width`` points.

    Each group starts on a new line with its heading; a chip that would cross ``width`` goes to
    the next line, a name wider than ``width`` alone is cut short. A group without names says so
    in its heading.
    """
    chips, line = [], -1
    for heading, names, main in groups:
        line, x = line + 1, 0.0
        title = f"{heading}:" if names else f"{heading}: (no class)"
        chips.append(_Chip(title, x, line, None))
        x += _text_width(title, False) + _GAP
        for name in names:
            text = _fit(name, name == main, width - 2 * _PAD)
            size = _text_width(text, name == main) + 2 * _PAD
            if x > 0 and x + size > width:
                line, x = line + 1, 0.0
            chips.append(_Chip(text, x + _PAD, line, _COLOURS.get(name, _OTHER_COLOUR), name == main))
            x += size + _GAP
    return chips


def _lines(chips: Sequence[_Chip]) -> int:
    return max((chip.line for chip in chips), default=-1) + 1


def _draw_caption(fig: Figure, chips: Sequence[_Chip], left: float, top: float) -> None:
    """Draw ``chips`` with the caption's top-left corner at ``(left, top)`` points from the figure's bottom-left."""
    from matplotlib.colors import to_rgb

    width, height = (size * 72 for size in fig.get_size_inches())
    for chip in chips:
        box = None
        colour = "black"
        if chip.colour is not None:
            box = {"boxstyle": f"round,pad={_PAD / _FONT}", "fc": chip.colour, "ec": "none"}
            red, green, blue = to_rgb(chip.colour)
            colour = "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"
        fig.text(
            (left + chip.x) / width,
            (top - _PAD - chip.line * _LINE) / height,
            chip.text,
            fontsize=_FONT,
            fontweight="bold" if chip.bold else "normal",
            color=colour,
            va="top",
            ha="left",
            bbox=box,
        )


def plot_patch(s1: np.ndarray | None, s2: np.ndarray, probabilities: np.ndarray | None = None) -> Figure:
    """S1 VV and S2 true colour of one patch side by side, with its labels under them.

    Args:
        s1: ``(2, H, W)`` S1 in dB, or ``None`` for the S2 panel alone.
        s2: ``(13, H, W)`` S2 in DN.
        probabilities: ``(10,)`` class shares (e.g. ``labels.class_probabilities`` of its LC
            patch); adds its multi label (shares >= 10 %), the main (largest) class in bold.

    Returns:
        The figure.
    """
    plt = _pyplot()
    panels: list[tuple[str, np.ndarray, str | None]] = (
        [("Sentinel-1 VV", sar_grey(s1), "gray")] if s1 is not None else []
    )
    panels.append(("Sentinel-2 true colour", true_colour(s2), None))
    span = len(panels) * _IMAGE + (len(panels) - 1) * _SPACE
    chips: list[_Chip] = []
    if probabilities is not None:
        names = [CLASSES[i] for i in np.flatnonzero(multi_label(probabilities))]
        chips = _caption([("labels", names, CLASSES[int(np.argmax(probabilities))])], span)
    width = span + 2 * _SPACE
    height = _SPACE + _TITLE + _IMAGE + _lines(chips) * _LINE + _SPACE
    fig = plt.figure(figsize=(width / 72, height / 72))
    bottom = _SPACE + _lines(chips) * _LINE
    for i, (title, image, cmap) in enumerate(panels):
        left = _SPACE + i * (_IMAGE + _SPACE)
        ax = fig.add_axes((left / width, bottom / height, _IMAGE / width, _IMAGE / height))
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        ax.set_title(title, fontsize=_FONT + 1)
        ax.set_axis_off()
    _draw_caption(fig, chips, _SPACE, bottom - _GAP)
    return fig


def plot_predictions(
    prediction: Prediction, s2: np.ndarray, reference: np.ndarray | None = None, columns: int = 4
) -> Figure:
    """True colour of each patch with the model's labels (and the reference's) under it.

    Args:
        prediction: ``predict``'s result for the patches of ``s2``.
        s2: ``(N, 13, H, W)`` S2 in DN.
        reference: ``(N, 10)`` reference class shares (labelled where >= 10 %) or a boolean
            ``(N, 10)`` label mask; ``None`` shows the model's labels alone.
        columns: panels per row at most.

    Returns:
        The figure: one panel per patch, the main predicted class in bold, each row as tall as
        its longest caption.

    Raises:
        ValueError: ``s2`` or ``reference`` hold another number of patches than ``prediction``.
    """
    plt = _pyplot()
    count = len(prediction)
    if len(s2) != count or (reference is not None and len(reference) != count):
        lengths = f"s2 {len(s2)}" + ("" if reference is None else f", reference {len(reference)}")
        raise ValueError(f"the prediction holds {count} patches, but {lengths}")
    captions = []
    for i, labels in enumerate(prediction.labels):
        groups: list[tuple[str, Sequence[str], str | None]] = [("model", labels, labels[0] if labels else None)]
        if reference is not None:
            mask = reference[i] if reference.dtype == bool else multi_label(reference[i])
            groups.append(("reference", [CLASSES[j] for j in np.flatnonzero(mask)], None))
        captions.append(_caption(groups, _IMAGE))
    columns = max(1, min(columns, count))
    rows = [captions[start : start + columns] for start in range(0, count, columns)]
    heights = [_IMAGE + max(map(_lines, row)) * _LINE + _SPACE for row in rows]
    width = columns * _IMAGE + (columns + 1) * _SPACE
    height = _SPACE + sum(heights)
    fig = plt.figure(figsize=(width / 72, height / 72))
    top = height - _SPACE
    for r, row in enumerate(rows):
        bottom = top - _IMAGE
        for c, chips in enumerate(row):
            i = r * columns + c
            left = _SPACE + c * (_IMAGE + _SPACE)
            ax = fig.add_axes((left / width, bottom / height, _IMAGE / width, _IMAGE / height))
            ax.imshow(true_colour(s2[i]))
            ax.set_axis_off()
            _draw_caption(fig, chips, left, bottom - _GAP)
        top -= heights[r]
    return fig


def plot_per_class_f1(result: Mapping[str, Any] | str | os.PathLike[str]) -> Figure:
    """Bars of per-class F1 in the class colours, from an evaluation result.

    Args:
        result: a dict or the JSON file ``evaluate`` writes; its ``per_class_f1`` maps class
            names to F1 (in % or as a fraction). Classes absent from the test set (F1 undefined,
            ``None``) are left out.

    Returns:
        The figure.

    Raises:
        KeyError: no ``per_class_f1`` in ``result``.
        ValueError: a name that is not a SEN12MS class.
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
