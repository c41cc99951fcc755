"""The same input kinds through the other entry points: the CLI, ``map_scene`` (and ``map``), the
training ``Dataset``; and the converter's DataParallel checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import save_file
from torch import nn

import sen12ms_models as sm
from sen12ms_models.bands import EUROSAT_BANDS, S2_BANDS
from sen12ms_models.cli.main import main
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.errors import InputUnitsError
from sen12ms_models.mapping import map_scene
from sen12ms_models.synthetic import write_triplet
from tests.support.geotiff import write_geotiff
from tests.support.scenes import BLOCK_CLASSES, centroid_model, class_scene, read
from tests.support.spectrum import SpectrumModel, class_patches

# -- the command line: --s1/--s2 pairs, --s2-offset, no-data and unit refusals -------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "mine.safetensors"
    save_file(sm.build_model("resnet50", 12).state_dict(), path)
    return path


def cli(weights: Path, *args: str) -> int:
    with pytest.warns(sm.UnverifiedWeightsWarning):
        return main(["predict", "--arch", "resnet50", "--modality", "s1s2", "--weights", str(weights), *args])


def test_cli_predicts_s1_s2_pairs_with_any_names(tmp_path: Path, weights: Path, capsys) -> None:
    s1, s2 = class_patches([0, 9, 6])
    pairs = []
    for i in range(3):
        pairs += ["--s1", str(write_geotiff(tmp_path / f"radar_{i}.tif", s1[i]))]
        pairs += ["--s2", str(write_geotiff(tmp_path / f"optical {i}.tif", s2[i]))]
    assert cli(weights, *pairs, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert [p["source"] for p in result["patches"]] == [str(tmp_path / f"optical {i}.tif") for i in range(3)]
    assert all(p["valid_fraction"] == 1.0 and p["corrections"] == [] for p in result["patches"])
    with pytest.warns(sm.UnverifiedWeightsWarning):
        model = sm.load_model("resnet50", "s1s2", weights=weights)
    same = sm.predict(model, s1=s1, s2=s2).probabilities  # the CLI reads the files into exactly these arrays
    got = np.array([[p["probabilities"][c] for c in sm.CLASSES] for p in result["patches"]])
    np.testing.assert_allclose(got, same, atol=1e-5)
    unpaired = [*pairs[:4], "--s2", pairs[3]]
    assert main(["predict", "--arch", "resnet50", "--modality", "s1s2", "--weights", str(weights), *unpaired]) == 2
    assert "give an --s1 file for each --s2 file: got 1 --s1 and 2 --s2" in capsys.readouterr().err


def test_cli_s2_offset_and_refusals(tmp_path: Path, weights: Path, capsys) -> None:
    s1, s2 = class_patches([3])
    s1_file = write_geotiff(tmp_path / "s1.tif", s1[0])
    shifted = write_geotiff(tmp_path / "s2_2023.tif", (s2[0].astype(np.int32) + 1000).astype(np.uint16))
    assert cli(weights, "--s1", str(s1_file), "--s2", str(shifted), "--s2-offset", "1000", "--json") == 0
    patch = json.loads(capsys.readouterr().out)["patches"][0]
    assert patch["corrections"] == ["subtracted s2_offset=1000 from every S2 value"]

    edge = s2[0].copy()
    edge[:, :, :22] = 0  # 69 % fill
    edge_file = write_geotiff(tmp_path / "edge.tif", edge, nodata=0)
    assert cli(weights, "--s1", str(s1_file), "--s2", str(edge_file)) == 2
    assert (
        f"edge.tif + {s1_file} (31% valid, 0% cloud): less than 50% of the pixels hold data" in capsys.readouterr().err
    )
    assert cli(weights, "--s1", str(s1_file), "--s2", str(edge_file), "--min-valid", "0") == 0
    assert "31% valid pixels" in capsys.readouterr().out

    linear = write_geotiff(tmp_path / "linear.tif", (10 ** (s1[0] / 10)).astype(np.float32))
    assert cli(weights, "--s1", str(linear), "--s2", str(write_geotiff(tmp_path / "s2.tif", s2[0]))) == 2
    assert "linear.tif: 100% of the values are >= 0" in capsys.readouterr().err
    assert cli(weights, "--s1", str(linear), "--s2", str(tmp_path / "s2.tif"), "--no-unit-check") == 0
    capsys.readouterr()


def test_cli_reads_eurosat_order_by_band_list(tmp_path: Path, weights: Path, capsys) -> None:
    s1, s2 = class_patches([5])
    s1_file = write_geotiff(tmp_path / "s1.tif", s1[0])
    eurosat = write_geotiff(tmp_path / "eurosat.tif", s2[0][[S2_BANDS.index(b) for b in EUROSAT_BANDS]])
    plain = write_geotiff(tmp_path / "plain.tif", s2[0])
    assert cli(weights, "--s1", str(s1_file), "--s2", str(eurosat), "--s2-bands", "EUROSAT_BANDS", "--json") == 0
    reordered = json.loads(capsys.readouterr().out)["patches"][0]["probabilities"]
    assert cli(weights, "--s1", str(s1_file), "--s2", str(plain), "--json") == 0
    assert json.loads(capsys.readouterr().out)["patches"][0]["probabilities"] == reordered


# -- map_scene and `map` -----------------------------------------------------------------------------


def test_map_scene_applies_a_declared_offset_and_s2_offset(tmp_path: Path) -> None:
    scene = class_scene()[:, :512, :768]
    model = centroid_model()
    map_scene(model, s2=write_geotiff(tmp_path / "dn.tif", scene), out=tmp_path / "dn_p.tif", progress=False)
    reference = read(tmp_path / "dn_p.tif")[0]
    np.testing.assert_array_equal(reference.argmax(axis=0), BLOCK_CLASSES[:2, :3])
    shifted = (scene.astype(np.int32) + 1000).astype(np.uint16)
    declared = write_geotiff(tmp_path / "declared.tif", shifted)
    with rasterio.open(declared, "r+") as dataset:
        dataset.offsets = (-1000.0,) * 13
    result = map_scene(model, s2=declared, out=tmp_path / "declared_p.tif", progress=False)
    assert "applied the declared scale 1, offset -1000" in result.corrections[0] and "corrected:" in str(result)
    np.testing.assert_allclose(read(tmp_path / "declared_p.tif")[0], reference, atol=1e-6)
    undeclared = write_geotiff(tmp_path / "undeclared.tif", shifted)
    offset = sm.InputOptions(s2_offset=1000)
    result = map_scene(model, s2=undeclared, out=tmp_path / "offset_p.tif", options=offset, progress=False)
    assert result.corrections == ("subtracted s2_offset=1000 from every S2 value",)
    np.testing.assert_allclose(read(tmp_path / "offset_p.tif")[0], reference, atol=1e-6)


def test_map_scene_refuses_reflectance_and_uint8(tmp_path: Path, capsys) -> None:
    scene = class_scene()[:, :256, :512]
    reflectance = write_geotiff(tmp_path / "refl.tif", (scene / 10000).astype(np.float32))
    with pytest.raises(InputUnitsError, match=r"map_scene\(s2=.*refl.tif\).*all values are <= 2.*Multiply by 10000"):
        map_scene(centroid_model(), s2=reflectance, out=tmp_path / "p.tif", progress=False)
    assert not (tmp_path / "p.tif").exists()
    unchecked = sm.InputOptions(check_units=False)
    map_scene(centroid_model(), s2=reflectance, out=tmp_path / "p.tif", options=unchecked, progress=False)
    eight_bit = write_geotiff(tmp_path / "rgb8.tif", (scene // 40).astype(np.uint8))
    with pytest.raises(InputUnitsError, match=r"is 8-bit"):
        map_scene(centroid_model(), s2=eight_bit, out=tmp_path / "q.tif", progress=False)
    torch.manual_seed(0)
    weights = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 3).state_dict(), weights)
    args = ["map", "--arch", "resnet50", "--modality", "rgb", "--weights", str(weights), "--s2", str(reflectance)]
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args, "-o", str(tmp_path / "cli.tif")]) == 2
    assert "all values are <= 2" in capsys.readouterr().err
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args, "-o", str(tmp_path / "cli.tif"), "--no-unit-check"]) == 0


def test_map_scene_reads_s1_band_descriptions_and_refuses_linear_s1(tmp_path: Path) -> None:
    vv = np.full((256, 512), -10.0, np.float32)
    vh = np.full((256, 512), -20.0, np.float32)
    s2 = write_geotiff(tmp_path / "s2.tif", class_scene()[:, :256, :512])
    straight = write_geotiff(tmp_path / "s1.tif", np.stack([vv, vh]))
    swapped = write_geotiff(tmp_path / "s1_swapped.tif", np.stack([vh, vv]))
    with rasterio.open(swapped, "r+") as dataset:
        dataset.descriptions = ("Sigma0_VH_db", "Sigma0_VV_db")
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s1", pretrained=False)
    map_scene(model, s2=s2, s1=straight, out=tmp_path / "a.tif", progress=False)
    result = map_scene(model, s2=s2, s1=swapped, out=tmp_path / "b.tif", progress=False)
    assert "bands taken by their descriptions (VH, VV) as VV, VH" in result.corrections[0]
    np.testing.assert_allclose(read(tmp_path / "b.tif")[0], read(tmp_path / "a.tif")[0], atol=1e-6)
    linear = write_geotiff(tmp_path / "s1_linear.tif", 10 ** (np.stack([vv, vh]) / 10))
    with pytest.raises(InputUnitsError, match=r"s1=.*s1_linear.tif.*linear backscatter"):
        map_scene(model, s2=s2, s1=linear, out=tmp_path / "c.tif", progress=False)


# -- the training Dataset ------------------------------------------------------------------------------


def test_training_dataset_applies_declared_offsets_and_refuses_linear_s1(tmp_path: Path) -> None:
    patch = PatchId("ROIs1158_spring", 63, 1)
    write_triplet(tmp_path, patch, (16, 0, 0, 0, 0, 0, 0, 0, 0, 16), rng=np.random.default_rng(0))
    index = Sen12msIndex.scan(tmp_path)
    data = Sen12msDataset(index, [patch], "s1s2", "multi")
    original = data[0]
    s2_path, s1_path = tmp_path / patch.relative_path("s2"), tmp_path / patch.relative_path("s1")
    with rasterio.open(s2_path) as dataset:
        dn = dataset.read()
    with rasterio.open(s2_path, "r+") as dataset:
        dataset.write(dn + 1000)
        dataset.offsets = (-1000.0,) * 13
    np.testing.assert_array_equal(data[0]["s2"], original["s2"])
    with rasterio.open(s1_path) as dataset:
        db = dataset.read()
    with rasterio.open(s1_path, "r+") as dataset:
        dataset.write(10 ** (db / 10))
    with pytest.raises(InputUnitsError, match=rf"{patch.file_name('s1')}: .*linear backscatter"):
        data[0]


# -- the converter: checkpoints saved from nn.DataParallel ----------------------------------------------


def test_dataparallel_checkpoint_converts_with_the_prefix_reported(tmp_path: Path, capsys) -> None:
    from tests.test_convert import assert_same_logits, toolbox_checkpoint, toolbox_network

    network = toolbox_network("resnet50", 3, seed=3)
    wrapped = nn.DataParallel(network)
    assert all(key.startswith("module.") for key in wrapped.state_dict())
    checkpoint = toolbox_checkpoint(network, "resnet50", model_state_dict=wrapped.state_dict())
    path = tmp_path / "resnet50_rgb_model_best.pth"
    torch.save(checkpoint, path)
    out = tmp_path / "out"
    assert main(["convert", str(path), "--arch", "resnet50", "--modality", "rgb", "-o", str(out)]) == 0
    assert "removed the 'module.' prefix of every key (a DataParallel save)" in capsys.readouterr().out
    model = sm.load_model("resnet50", "rgb", weights=out / sm.get_weights("resnet50", "rgb").filename)
    assert_same_logits(model, network, "resnet50")


# -- predict streams files batch by batch ------------------------------------------------------------


def test_predict_reads_each_batchs_files_when_that_batch_is_predicted(tmp_path: Path, monkeypatch) -> None:
    from sen12ms_models import prediction

    _, s2 = class_patches([0, 1, 2, 3, 4])
    paths = [write_geotiff(tmp_path / f"p{i}.tif", patch) for i, patch in enumerate(s2)]
    events: list[str] = []
    original_read = prediction.read_patch
    monkeypatch.setattr(
        prediction, "read_patch", lambda path, *a, **k: events.append("read") or original_read(path, *a, **k)
    )
    model = SpectrumModel("s2")
    original_forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x: events.append(f"model {len(x)}") or original_forward(x))
    result = sm.predict(model, s2=paths, batch_size=2, progress=True)
    assert events == ["read", "read", "model 2", "read", "read", "model 2", "read", "model 1"]
    assert [names[0] for names in result.labels] == list(sm.CLASSES[:5])
