"""Figures: patch previews, predictions, per-class F1 (``plot`` extra); matplotlib is imported when one is drawn.

Labels are coloured chips, one per line under their image; the figure is sized in points from the number of lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sen12ms_models._types import PathLike
from sen12ms_models.bands import S1_CLIP_DB, S2_BANDS
from sen12ms_models.classes import CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.labels import label_target

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sen12ms_models.prediction import Prediction

_COLOURS = {c.name: c.colour for c in SIMPLIFIED_IGBP}
_OTHER_COLOUR = "#dddddd"  # a class name of a fine-tuned head, not one of the SEN12MS classes

# Layout, in points (1/72 inch): independent of the figure size and of the dpi it is saved at.
_FONT = 8.0
_PAD = 0.2 * _FONT  # the chip's box around its text
_LINE = _FONT * 1.2 + 2 * _PAD + 2.5  # one chip, its box and the space to the next
_CHAR = 0.75 * _FONT  # at least the mean width of a bold character: cut names to the panel's width / _CHAR
_IMAGE = 180.0  # the side of one image panel
_SPACE = 14.0  # between panels, and around the figure's edge
_TITLE = 16.0  # room above an image for its title

_Panel = tuple[str, np.ndarray, str | None]  # title, image in [0, 1], colour map
_Group = tuple[str, Sequence[str], str | None]  # heading, class names, main class (bold)


def _new_figure(**kwargs: Any) -> Figure:
    """A figure outside pyplot: no backend chosen, no figure of the caller's closed or kept open."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'sen12ms-models[plot]'") from error
    return Figure(**kwargs)


def true_colour(s2: np.ndarray, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """True-colour RGB of a 13-band S2 patch, stretched per band between two percentiles.

    Args:
        s2: ``(13, H, W)`` S2 in DN, bands B1..B12.
        percentiles: the low and high percentile mapped to 0 and 1.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1]: B4, B3, B2.
    """
    rgb = np.asarray(s2, dtype=np.float32)[[S2_BANDS.index(b) for b in ("B4", "B3", "B2")]]
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


def _caption(groups: Sequence[_Group], width: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """The lines under panels ``width`` points wide: each heading, then one chip per class name."""
    from matplotlib.colors import to_rgb

    fits = int((width - 2 * _PAD) / _CHAR)
    for heading, names, main in groups:
        yield (f"{heading}:" if names else f"{heading}: (no class)", {})
        for name in names:
            colour = _COLOURS.get(name, _OTHER_COLOUR)
            dark = np.dot(to_rgb(colour), (0.299, 0.587, 0.114)) < 0.5
            box = {"boxstyle": f"round,pad={_PAD / _FONT}", "fc": colour, "ec": "none"}
            weight = "bold" if name == main else "normal"
            text = name if len(name) <= fits else name[: fits - 1] + "…"
            yield text, {"bbox": box, "color": "white" if dark else "black", "fontweight": weight}


def _figure(cells: Sequence[tuple[Sequence[_Panel], Sequence[_Group]]], columns: int) -> Figure:
    """Cells of equal image panels in rows of ``columns``, each row as tall as its longest caption."""
    images = len(cells[0][0])
    span = images * _IMAGE + (images - 1) * _SPACE
    title = _TITLE if any(name for name, _, _ in cells[0][0]) else 0.0
    captions = [list(_caption(groups, span)) for _, groups in cells]
    lines = [max(map(len, captions[i : i + columns])) for i in range(0, len(cells), columns)]
    heights = [title + _IMAGE + n * _LINE + _SPACE for n in lines]
    width, height = columns * (span + _SPACE) + _SPACE, _SPACE + sum(heights)
    fig = _new_figure(figsize=(width / 72, height / 72))
    for i, ((panels, _), caption) in enumerate(zip(cells, captions, strict=True)):
        left = _SPACE + i % columns * (span + _SPACE)
        bottom = height - _SPACE - sum(heights[: i // columns]) - title - _IMAGE
        for j, (name, image, cmap) in enumerate(panels):
            x = left + j * (_IMAGE + _SPACE)
            ax = fig.add_axes((x / width, bottom / height, _IMAGE / width, _IMAGE / height))
            ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
            ax.set_title(name, fontsize=_FONT + 1)
            ax.set_axis_off()
        for line, (text, style) in enumerate(caption):
            y = (bottom - (line + 0.5) * _LINE) / height
            fig.text((left + _PAD) / width, y, text, fontsize=_FONT, va="top", **style)
    return fig


def plot_patch(s1: np.ndarray | None, s2: np.ndarray, probabilities: np.ndarray | None = None) -> Figure:
    """S1 VV and S2 true colour of one patch side by side, with its labels under them.

    Args:
        s1: ``(2, H, W)`` S1 in dB, or ``None`` for the S2 panel alone.
        s2: ``(13, H, W)`` S2 in DN.
        probabilities: ``(10,)`` class shares (e.g. ``labels.class_probabilities`` of its LC
            patch); adds its multi label (shares >= 10 %) in the class colours, the main
            (largest) class in bold, like Figure 1 of Schmitt & Wu 2021.

    Returns:
        The figure.
    """
    panels: list[_Panel] = [("Sentinel-1 VV", sar_grey(s1), "gray")] if s1 is not None else []
    panels.append(("Sentinel-2 true colour", true_colour(s2), None))
    groups: list[_Group] = []
    if probabilities is not None:
        names = [CLASSES[i] for i in np.flatnonzero(label_target(probabilities, "multi"))]
        groups.append(("labels", names, CLASSES[int(np.argmax(probabilities))]))
    return _figure([(panels, groups)], columns=1)


def plot_predictions(
    prediction: Prediction, s2: np.ndarray, reference: np.ndarray | None = None, columns: int = 4
) -> Figure:
    """True colour of each patch with the model's labels (and the reference's) under it, like Figure 3
    of Schmitt & Wu 2021.

    Args:
        prediction: ``predict``'s result for the patches of ``s2``.
        s2: ``(N, 13, H, W)`` S2 in DN.
        reference: ``(N, 10)`` reference class shares (labelled where >= 10 %) or a boolean
            ``(N, 10)`` label mask; ``None`` shows the model's labels alone.
        columns: panels per row at most.

    Returns:
        The figure: one panel per patch, labels in the class colours, the main predicted class
        in bold, each row as tall as its longest caption.

    Raises:
        ValueError: ``s2`` or ``reference`` hold another number of patches than ``prediction``.
    """
    count = len(prediction)
    if len(s2) != count or (reference is not None and len(reference) != count):
        lengths = f"s2 {len(s2)}" + ("" if reference is None else f", reference {len(reference)}")
        raise ValueError(f"the prediction holds {count} patches, but {lengths}")
    cells = []
    for i, labels in enumerate(prediction.labels):
        groups: list[_Group] = [("model", labels, labels[0] if labels else None)]
        if reference is not None:
            mask = reference[i] if reference.dtype == bool else label_target(reference[i], "multi")
            groups.append(("reference", [CLASSES[j] for j in np.flatnonzero(mask)], None))
        cells.append(([("", true_colour(s2[i]), None)], groups))
    return _figure(cells, max(1, min(columns, count)))


def plot_per_class_f1(result: Mapping[str, Any] | PathLike) -> Figure:
    """Bars of per-class F1 in the class colours, from an evaluation result.

    Args:
        result: a dict or JSON file: what ``sen12ms-models evaluate`` writes, an export's ``metrics.json``
            (``Scores.to_json()``, F1 as fractions), or a ``per_class_f1`` mapping of class names to F1
            (a manifest entry's ``metrics``, ``paper.paper_metrics``; in %). Classes with an undefined F1
            (``None``: neither in the reference nor predicted) are left out.

    Returns:
        The figure.

    Raises:
        KeyError: ``result`` holds no per-class F1.
        ValueError: a name that is not a SEN12MS class.
    """
    record = result if isinstance(result, Mapping) else json.loads(Path(result).read_text(encoding="utf-8"))
    record = record.get("scores", record)  # evaluate's JSON: the scores beside the model and split
    if "f1_per_class" in record:  # Scores.to_json()
        record = {"per_class_f1": dict(zip(record["classes"], record["f1_per_class"], strict=True))}
    if "per_class_f1" not in record:
        raise KeyError(f"no 'per_class_f1' in the evaluation result (keys: {sorted(record)})")
    scores = {k: v for k, v in record["per_class_f1"].items() if v is not None}
    if unknown := sorted(set(scores) - set(CLASSES)):
        raise ValueError(f"unknown class names in per_class_f1: {unknown}")
    names = [c for c in CLASSES if c in scores]
    values = [float(scores[c]) for c in names]
    fig = _new_figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.bar(names, values, color=[_COLOURS[c] for c in names], edgecolor="black", linewidth=0.5)
    ax.set_ylabel("F1 (%)" if max(values, default=0) > 1 else "F1")
    ax.set_title("Per-class F1")
    ax.tick_params(axis="x", labelrotation=35)
    fig.tight_layout()
    return fig
