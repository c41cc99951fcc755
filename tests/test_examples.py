"""Every example in examples/ runs, as a user would run it, against the local Hub and generated data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from sen12ms_models.synthetic import CLASS_S2_DN
from tests.support.geotiff import write_geotiff
from tests.support.published import publish

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _write_folder(root: Path, bands: int, size: int, drop: int | None = None) -> Path:
    """A EuroSAT-style folder: one subfolder per class of S2 GeoTIFFs with that class's spectrum."""
    rng = np.random.default_rng(0)
    for name, cls in (("Forest", 0), ("River", 9)):
        spectrum = np.delete(CLASS_S2_DN[cls], drop) if drop is not None else CLASS_S2_DN[cls]
        (root / name).mkdir(parents=True)
        for i in range(6):
            pixels = (spectrum[:, None, None] * rng.normal(1, 0.05, (bands, size, size))).astype(np.uint16)
            write_geotiff(root / name / f"{name}_{i}.tif", pixels, from_origin(600000, 5000000, 10, 10), "EPSG:32632")
    return root


def test_make_example_data_is_reproducible(tmp_path: Path) -> None:
    shipped = {p.relative_to(EXAMPLES / "data"): p.read_bytes() for p in (EXAMPLES / "data").rglob("*.tif")}
    assert len(shipped) == 3
    _run("make_example_data.py", str(tmp_path))
    assert {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.tif")} == shipped


def test_quickstart(hub, tmp_path, monkeypatch) -> None:
    publish(hub, tmp_path, monkeypatch)
    out = _run("quickstart.py")
    assert "Prediction(1 patch, multi-label" in out and "Grassland:" in out


def test_feature_extraction(hub, tmp_path, monkeypatch, sen12ms_tree) -> None:
    publish(hub, tmp_path, monkeypatch)
    root, written = sen12ms_tree
    out_file = tmp_path / "embeddings.npy"
    _run("feature_extraction.py", str(root / "ROIs1158_spring"), str(out_file))
    assert np.load(out_file).shape == (sum(p.id.season == "ROIs1158_spring" for p in written), 2048)


@pytest.mark.parametrize(
    ("style", "bands", "size", "drop"),
    [("bigearthnet", 12, 120, 10)],  # L2A without B10 (index 10), a band order to say: the harder folder
)
def test_finetune_saves_a_model_that_reloads_in_a_fresh_process(
    hub, tmp_path, monkeypatch, style, bands, size, drop
) -> None:
    publish(hub, tmp_path, monkeypatch, "resnet50", "s2")
    folder = _write_folder(tmp_path / style, bands, size, drop)
    model, trained, reloaded = tmp_path / "model", tmp_path / "trained.json", tmp_path / "reloaded.json"
    order = ["--s2-bands", "B1,B2,B3,B4,B5,B6,B7,B8,B8A,B9,B11,B12"] if drop is not None else []
    out = _run(
        "finetune.py", "train", str(folder), "--out", str(model), "--epochs", "1", "--json", str(trained), *order
    )
    assert "training accuracy" in out and "of 2 classes" in out
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.safetensors"]
    out = _run("finetune.py", "predict", str(model), str(folder), "--json", str(reloaded), *order)  # a new process
    assert "reloaded model accuracy" in out and "single-label" in out
    before, after = json.loads(trained.read_text()), json.loads(reloaded.read_text())
    assert (after["label_type"], after["classes"]) == ("single", ["Forest", "River"])  # the head's rule and names
    assert [p["labels"] for p in after["patches"]] == [p["labels"] for p in before["patches"]]
    for one, two in zip(before["patches"], after["patches"], strict=True):
        assert one["probabilities"].keys() == two["probabilities"].keys()
        np.testing.assert_allclose(list(two["probabilities"].values()), list(one["probabilities"].values()), atol=1e-5)


def test_plot_predictions(hub, tmp_path, monkeypatch, sen12ms_tree) -> None:
    pytest.importorskip("matplotlib")
    publish(hub, tmp_path, monkeypatch)
    root, _ = sen12ms_tree
    out_file = tmp_path / "predictions.png"
    _run("plot_predictions.py", str(root), str(out_file))
    assert out_file.stat().st_size > 10000
