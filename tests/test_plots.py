"""plots: each figure renders to a non-empty PNG, and no label overlaps another, an image or the figure's edge."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

import sen12ms_models as sm
from sen12ms_models import plots
from sen12ms_models.classes import CLASSES
from sen12ms_models.datasets.tree import read_triplet
from sen12ms_models.labels import class_probabilities
from sen12ms_models.prediction import Prediction
from sen12ms_models.training.metrics import MetricCounts


def _png(fig, path, dpi: int = 50) -> Image.Image:
    fig.savefig(path, dpi=dpi)
    image = Image.open(path)
    assert path.stat().st_size > 2000
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # not a blank canvas
    return image


def _label_boxes(fig: Figure) -> list[tuple[str, Bbox]]:
    """Every label drawn on ``fig`` (figure and axes texts, titles, tick labels of visible axes) and
    its extent in pixels with the Agg renderer, its coloured box included."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [*ax.texts, ax.title]
        if ax.axison:
            texts += [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.xaxis.label, ax.yaxis.label]
    boxes = []
    for text in texts:
        if not text.get_visible() or not text.get_text():
            continue
        extent = text.get_window_extent(renderer)
        if (patch := text.get_bbox_patch()) is not None:
            extent = Bbox.union([extent, patch.get_window_extent(renderer)])
        boxes.append((text.get_text().strip(), extent))
    return boxes


def _overlap(a: Bbox, b: Bbox) -> bool:
    """A shared area, not just a shared edge."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5


def _assert_labels_apart(fig: Figure, expected: set[str]) -> None:
    """Each label inside the figure, clear of every other label and of every image."""
    boxes = _label_boxes(fig)
    assert expected <= {text for text, _ in boxes}
    page = fig.bbox
    for text, box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, (
            f"{text!r} leaves the figure: {box} outside {page}"
        )
    for (one, a), (two, b) in itertools.combinations(boxes, 2):
        assert not _overlap(a, b), f"{one!r} {a} overlaps {two!r} {b}"
    images = [ax.get_window_extent() for ax in fig.axes if ax.images]
    for (text, box), image in itertools.product(boxes, images):
        if text not in {ax.title.get_text() for ax in fig.axes}:
            assert not _overlap(box, image), f"{text!r} {box} covers an image {image}"


def _images_keep_their_size(fig: Figure) -> None:
    """Every image panel square and at least 2 inches wide, however long the captions."""
    for ax in (ax for ax in fig.axes if ax.images):
        box = ax.get_window_extent()
        assert box.width >= 2 * fig.dpi and abs(box.width - box.height) < 1


def test_true_colour_and_sar_scaling() -> None:
    s2 = np.zeros((13, 4, 4), np.uint16)
    s2[3], s2[2], s2[1] = np.arange(16).reshape(4, 4), 7, 9  # B4 ramps, B3 and B2 constant
    rgb = plots.true_colour(s2)
    assert rgb.shape == (4, 4, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert rgb[0, 0, 0] == 0 and rgb[3, 3, 0] == 1  # red is B4, stretched 2-98 %
    s1 = np.array([[[np.nan, -30.0, -12.5, 3.0]], [[0, 0, 0, 0]]], np.float32)
    np.testing.assert_allclose(plots.sar_grey(s1)[0], [1.0, 0.0, 0.5, 1.0])


def test_patch_preview(sen12ms_tree, tmp_path) -> None:
    root, written = sen12ms_tree
    triplet = read_triplet(root / written[0].id.relative_path("s2"))
    shares = class_probabilities(triplet.lc.array[0])
    fig = plots.plot_patch(triplet.s1.array, triplet.s2.array, shares)
    image = _png(fig, tmp_path / "patch.png", dpi=100)
    assert image.size[0] > image.size[1]  # the two panels side by side
    names = {CLASSES[i] for i in np.flatnonzero(shares >= 0.1)}
    _assert_labels_apart(fig, {"Sentinel-1 VV", "Sentinel-2 true colour", *names})
    _images_keep_their_size(fig)


def test_patch_preview_with_every_class(sen12ms_tree) -> None:
    root, written = sen12ms_tree
    triplet = read_triplet(root / written[0].id.relative_path("s2"))
    fig = plots.plot_patch(None, triplet.s2.array, np.full(10, 0.1))  # one panel, ten labels: they wrap
    _assert_labels_apart(fig, set(CLASSES))
    _images_keep_their_size(fig)


def test_predictions_panel(sen12ms_tree, tmp_path) -> None:
    root, written = sen12ms_tree
    triplets = [read_triplet(root / p.id.relative_path("s2")) for p in written[:3]]
    s2 = np.stack([t.s2.array for t in triplets])
    model = sm.load_model("resnet50", "rgb", pretrained=False)
    prediction = sm.predict(model, s2=s2)
    reference = class_probabilities(np.stack([t.lc.array[0] for t in triplets]))
    fig = plots.plot_predictions(prediction, s2, reference, columns=2)
    image = _png(fig, tmp_path / "predictions.png")
    assert image.size[1] > image.size[0]  # 3 patches in 2 columns: two rows
    _assert_labels_apart(fig, {name for labels in prediction.labels for name in labels})
    _images_keep_their_size(fig)


@pytest.mark.parametrize(
    ("classes", "columns"),
    [
        (CLASSES, 4),  # every class predicted and in the reference: the longest captions
        (("Permanent crops with irrigation and terraces", "Herbaceous vegetation", "Sea/Lake"), 3),  # a new head
    ],
)
def test_predictions_labels_wrap_inside_their_panel(sen12ms_tree, classes, columns) -> None:
    root, written = sen12ms_tree
    s2 = np.stack([read_triplet(root / p.id.relative_path("s2")).s2.array for p in written[:5]])
    prediction = Prediction(np.ones((5, len(classes)), np.float32), tuple(classes), "multi", 0.5)
    reference = np.ones((5, 10), bool)
    fig = plots.plot_predictions(prediction, s2, reference, columns=columns)
    shown = {text for text, _ in _label_boxes(fig)}
    assert "Sea/Lake" in shown or set(CLASSES) <= shown
    assert any(text.startswith("Permanent crops") for text in shown) or classes == CLASSES  # cut short, kept
    _assert_labels_apart(fig, set())
    _images_keep_their_size(fig)
    with pytest.raises(ValueError, match="holds 5 patches"):
        plots.plot_predictions(prediction, s2[:4], reference)


def test_per_class_f1_bars_from_json(tmp_path) -> None:
    result = {"per_class_f1": {"Forest": 70.6, "Savanna": 79.9, "Water": 93.7, "Snow/Ice": None}}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(result))
    fig = plots.plot_per_class_f1(path)
    assert _png(fig, tmp_path / "f1.png").size == (350, 175)
    _assert_labels_apart(fig, {"Forest", "Savanna", "Water", "Per-class F1", "F1 (%)"})
    with pytest.raises(ValueError, match="unknown class names"):
        plots.plot_per_class_f1({"per_class_f1": {"Forests": 1.0}})
    with pytest.raises(KeyError, match="no 'per_class_f1'"):
        plots.plot_per_class_f1({"f1": {}})


def test_per_class_f1_bars_from_what_evaluate_and_export_write(tmp_path) -> None:
    scores = MetricCounts("multi")
    scores.update(torch.tensor([[True] + [False] * 9] * 2), torch.tensor([[True] + [False] * 8 + [True]] * 2))
    evaluated = {"model": "resnet50-s2-multi", "subset": "test", "scores": scores.compute().to_json()}
    path = tmp_path / "resnet50-s2-multi-test.json"
    path.write_text(json.dumps(evaluated))
    for result in (path, evaluated["scores"]):  # evaluate's file, an export's metrics.json
        fig = plots.plot_per_class_f1(result)
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Forest", "Water"]
        assert [p.get_height() for p in fig.axes[0].patches] == [1.0, 0.0]
