"""plots: each figure renders to a non-empty PNG of the expected size."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image

import sen12ms_models as sm
from sen12ms_models import plots
from sen12ms_models.datasets import read_triplet
from sen12ms_models.labels import class_probabilities


def _png(fig, path, dpi: int = 50) -> Image.Image:
    fig.savefig(path, dpi=dpi)
    image = Image.open(path)
    assert path.stat().st_size > 2000
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # not a blank canvas
    return image


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
    fig = plots.plot_patch(triplet.s1.array, triplet.s2.array, class_probabilities(triplet.lc.array[0]))
    assert _png(fig, tmp_path / "patch.png", dpi=100).size == (640, 390)


def test_predictions_panel(sen12ms_tree, tmp_path) -> None:
    root, written = sen12ms_tree
    triplets = [read_triplet(root / p.id.relative_path("s2")) for p in written[:3]]
    s2 = np.stack([t.s2.array for t in triplets])
    model = sm.load_model("resnet50", "rgb", pretrained=False)
    prediction = sm.predict(model, s2=s2)
    reference = class_probabilities(np.stack([t.lc.array[0] for t in triplets]))
    fig = plots.plot_predictions(prediction, s2, reference, columns=2)
    assert _png(fig, tmp_path / "predictions.png").size == (300, 360)


def test_per_class_f1_bars_from_json(tmp_path) -> None:
    result = {"per_class_f1": {"Forest": 70.6, "Savanna": 79.9, "Water": 93.7, "Snow/Ice": None}}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(result))
    assert _png(plots.plot_per_class_f1(path), tmp_path / "f1.png").size == (350, 175)
    with pytest.raises(ValueError, match="unknown class names"):
        plots.plot_per_class_f1({"per_class_f1": {"Forests": 1.0}})
    with pytest.raises(KeyError, match="no 'per_class_f1'"):
        plots.plot_per_class_f1({"f1": {}})
