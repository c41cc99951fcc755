"""What real scenes carry (issue 21), through every entry point: never a confident label from it.

Clouds, saturation, Sentinel-1 swath edges, undeclared negative fill, S1/S2 files that do not
belong together, Level-2A input, an offset the data does not carry and swapped VV/VH: each kind
on arrays and on small real GeoTIFFs, through ``predict``, the command line, ``map_scene`` and the
training ``Sen12msDataset``, ends in the corrected prediction, the share reported, or a clear
error. Clean input of every class passes untouched. The model is the stub of
``tests/support/spectrum.py``: right on every class of clean input (accuracy 1.00).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.bands import L2A_BANDS, S2_BANDS, S2_BGR_BANDS, S2_SURFACE_BANDS
from sen12ms_models.cli.main import main
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.inputs import checks
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.synthetic import write_triplet
from tests.support.geotiff import ORIGIN, write_geotiff
from tests.support.patches import clear_patches
from tests.support.scenes import CLOUD_DN, centroid_model, class_scene, read
from tests.support.spectrum import SIZE, SpectrumModel, class_patches, expected, labels

REPO = Path(__file__).resolve().parents[1]
SKIP = InputOptions(skip_invalid=True)


@pytest.fixture(params=["s2cloudless", "fallback"])
def cloud_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each cloud test in turn: s2cloudless (the ``clouds`` extra), and the fallback without it."""
    checks._s2cloudless.cache_clear()
    if request.param == "fallback":
        monkeypatch.setitem(sys.modules, "s2cloudless", None)  # as if the extra were not installed
    yield request.param
    checks._s2cloudless.cache_clear()


def clouded(s2: np.ndarray, rows: int, seed: int = 1) -> np.ndarray:
    """``s2`` ``(N, 13, H, W)`` with its first ``rows`` pixel rows under thick cloud."""
    noise = np.random.default_rng(seed).normal(1.0, 0.03, (len(s2), 13, rows, s2.shape[-1]))
    out = s2.copy()
    out[:, :, :rows] = np.clip(CLOUD_DN[None, :, None, None] * noise, 1, 65534).astype(np.uint16)
    return out


# -- clean input passes untouched ------------------------------------------------------------------


def test_clean_input_of_every_class_passes_untouched(s2_model, s1s2_model, cloud_test) -> None:
    s1, s2 = class_patches()
    result = sm.predict(s1s2_model, s1=s1, s2=s2)
    assert labels(result) == expected()
    np.testing.assert_array_equal(result.valid_fraction, 1.0)
    np.testing.assert_array_equal(result.cloud_fraction, 0.0)  # snow (index 7) is not cloud either
    assert result.corrections == ((),) * 10


# -- 1. clouds -----------------------------------------------------------------------------------------


def test_a_patch_under_thick_cloud_never_gets_a_confident_label(s2_model, cloud_test, caplog) -> None:
    _, s2 = class_patches([0, 3, 9])
    covered = clouded(s2, SIZE)
    with caplog.at_level(logging.WARNING, logger="sen12ms_models"):
        with pytest.raises(sm.NoDataError, match=r"s2\[0\] \(0% valid, 100% cloud\).*cloudy dates"):
            sm.predict(s2_model, s2=covered)
        result = sm.predict(s2_model, s2=covered, options=SKIP)
    assert np.isnan(result.probabilities).all() and result.labels == [[], [], []]
    np.testing.assert_array_equal(result.cloud_fraction, 1.0)
    said = [r for r in caplog.records if "s2cloudless is not installed" in r.getMessage()]
    assert len(said) == (1 if cloud_test == "fallback" else 0)  # said once, not per call


def test_a_partly_cloudy_patch_is_labelled_from_its_clear_pixels_with_the_share_reported(s2_model, cloud_test):
    _, s2 = clear_patches(3, 256, "Forest")  # s2cloudless reads 32 x 32 cells of 80 m
    result = sm.predict(s2_model, s2=clouded(s2, 64))  # a quarter under cloud
    assert labels(result) == ["Forest"] * 3
    assert (result.cloud_fraction >= 0.25).all() and (result.valid_fraction <= 0.75).all()
    assert any("of the pixels are cloud, set to the band means" in note for note in result.corrections[0])
    assert json.loads(json.dumps(result.to_dict()))["patches"][0]["cloud_fraction"] == pytest.approx(
        float(result.cloud_fraction[0]), abs=1e-4
    )


@pytest.mark.parametrize(("size", "rows", "cols"), [(256, 128, 128), (256, 100, 256), (64, 24, 64), (64, 20, 20)])
def test_the_cloud_share_is_the_share_under_cloud(s2_model, size: int, rows: int, cols: int) -> None:
    _, s2 = clear_patches(1, size, "Forest")
    covered = clouded(s2, rows)
    covered[:, :, :, cols:] = s2[:, :, :, cols:]  # a corner of rows x cols, or whole rows
    result = sm.predict(s2_model, s2=covered, options=SKIP)  # no buffer doubles it, no small cloud is missed
    assert result.cloud_fraction[0] == pytest.approx(rows * cols / size**2, abs=0.03)
    assert result.labels == [["Forest"]]


@pytest.mark.parametrize("missing", [np.nan, 0])
def test_thick_cloud_is_found_when_the_bands_only_s2cloudless_reads_are_missing(
    tmp_path: Path, s2_model, cloud_test, missing: float
) -> None:
    _, s2 = class_patches([0, 3])
    covered = clouded(s2, SIZE).astype(np.float32)
    covered[:, [0, 9, 10]] = missing  # B1, B9, B10: 60 m bands the model does not read
    result = sm.predict(s2_model, s2=covered, options=SKIP)
    np.testing.assert_array_equal(result.cloud_fraction, 1.0)
    assert result.labels == [[], []]
    path = write_geotiff(tmp_path / "no_60m.tif", np.nan_to_num(covered[0]).astype(np.uint16))
    with pytest.raises(sm.NoDataError, match=r"no_60m.tif \(0% valid, 100% cloud\)"):
        sm.predict(s2_model, s2=path)


def test_clouds_in_files_the_cli_and_map_scene(tmp_path: Path, s2_model, cloud_test, capsys) -> None:
    _, s2 = class_patches([5])
    cloudy = write_geotiff(tmp_path / "cloudy.tif", clouded(s2, SIZE)[0])
    with pytest.raises(sm.NoDataError, match=r"cloudy.tif \(0% valid, 100% cloud\)"):
        sm.predict(s2_model, s2=cloudy)
    scene = class_scene()[:, :512, :512].copy()
    scene[:, :256, :256] = clouded(scene[None, :, :256, :256], 256)[0]  # one window of four under cloud
    path = write_geotiff(tmp_path / "scene.tif", scene)
    result = sm.map_scene(
        centroid_model(), s2=path, out=tmp_path / "p.tif", cloud_map=tmp_path / "clouds.tif", progress=False
    )
    assert result.skipped == 1
    probabilities, _, _ = read(tmp_path / "p.tif")
    with rasterio.open(tmp_path / "clouds.tif") as written:
        clouds = written.read()
    assert np.isnan(probabilities[:, 0, 0]).all() and not np.isnan(probabilities[:, 1, 1]).any()
    assert clouds[0, 0, 0] == 1 and clouds[0, 1, 1] == 0  # the cloudy window: 100 % cloud; clear: 0 % cloud
    weights = tmp_path / "w.safetensors"
    torch.manual_seed(0)
    save_file(sm.build_model("resnet50", 10).state_dict(), weights)
    args = ["predict", "--s2", str(cloudy), "--model", "resnet50-s2", "--weights", str(weights)]
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main(args) == 2
    assert "cloudy.tif (0% valid, 100% cloud)" in capsys.readouterr().err
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args, "--skip-invalid"]) == 0
    assert "(no label: too little valid data)" in capsys.readouterr().out


# -- 2. saturation, 3. Sentinel-1 swath edges, 4. undeclared negative fill ----------------------------


@pytest.mark.parametrize("fill", [65535, -9999, -32768])
def test_saturated_and_negative_s2_values_are_no_data(tmp_path: Path, s2_model, fill: int) -> None:
    _, s2 = class_patches()
    signed = s2.astype(np.int32)
    signed[:, :, :, : SIZE // 4] = fill  # a quarter: labelled from the rest
    result = sm.predict(s2_model, s2=signed)
    assert labels(result) == expected()
    np.testing.assert_allclose(result.valid_fraction, 0.75)
    signed[:, :, :, : SIZE * 3 // 4] = fill  # three quarters: no label
    with pytest.raises(sm.NoDataError, match=r"s2\[0\] \(25% valid"):
        sm.predict(s2_model, s2=signed)
    path = write_geotiff(tmp_path / "fill.tif", signed[0].astype(np.int16 if fill < 0 else np.uint16))  # undeclared
    with pytest.raises(sm.NoDataError, match=r"fill.tif \(25% valid"):
        sm.predict(s2_model, s2=path)


@pytest.mark.parametrize("edge", [-np.inf, np.nan, np.inf, 0.0, -9999.0, -32768.0])
def test_s1_swath_edges_are_filled_with_the_band_mean_never_0_db(s1s2_model, edge: float) -> None:
    s1, s2 = class_patches([9, 4])  # water and wetlands: 0 dB would read as Urban
    s1[:, :, :, : SIZE * 3 // 8] = edge  # 10 * log10(0) = -inf at a zero-filled swath border
    result = sm.predict(s1s2_model, s1=s1, s2=s2)
    assert labels(result) == expected([9, 4])
    np.testing.assert_allclose(result.valid_fraction, 1 - 3 / 8)
    x = s1s2_model.spec.transforms(s1=s1, s2=s2)
    assert (x[:, -2:, :, : SIZE * 3 // 8] == 0).all()  # the training mean, standardized
    s1[:] = edge
    with pytest.raises(sm.NoDataError, match=r"\(0% valid"):
        sm.predict(s1s2_model, s1=s1, s2=s2)


def test_undeclared_s1_fill_in_int16_and_float64_files_is_no_data(tmp_path: Path, s1s2_model) -> None:
    s1, s2 = class_patches([9])
    for dtype, fill in ((np.int16, -32768), (np.float64, -9999)):  # read as numbers, as such arrays are
        values = np.round(s1[0]).astype(dtype)
        values[:, :, : SIZE * 3 // 4] = fill
        path = write_geotiff(tmp_path / f"s1_{np.dtype(dtype).name}.tif", values)  # no nodata declared
        with pytest.raises(sm.NoDataError, match=rf"s1_{np.dtype(dtype).name}.tif \(25% valid"):
            sm.predict(s1s2_model, s1=path, s2=s2[0])
        values[:, :, : SIZE * 3 // 4] = np.round(s1[0, :, :, : SIZE * 3 // 4])
        assert labels(sm.predict(s1s2_model, s1=write_geotiff(path, values), s2=s2[0])) == expected([9])


def test_a_declared_nodata_is_fill_only_where_every_band_holds_it(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([3])
    l1c = s2[0].copy()
    l1c[S2_BANDS.index("B10")] = np.arange(SIZE * SIZE).reshape(SIZE, SIZE) % 3  # clear land: B10 of 0..2 DN
    l1c[:, :, : SIZE // 4] = 0  # a tile edge: L1C NODATA in every band
    result = sm.predict(s2_model, s2=write_geotiff(tmp_path / "l1c.tif", l1c, nodata=0))
    np.testing.assert_allclose(result.valid_fraction, 0.75)
    assert labels(result) == expected([3])


def test_fill_kinds_through_the_cli_map_scene_and_the_training_dataset(tmp_path: Path, capsys) -> None:
    patch = PatchId("ROIs1158_spring", 63, 1)
    write_triplet(tmp_path, patch, (0,) * 9 + (32,), rng=np.random.default_rng(0))  # water
    s1_path, s2_path = tmp_path / patch.relative_path("s1"), tmp_path / patch.relative_path("s2")
    with rasterio.open(s1_path, "r+") as dataset:
        s1 = dataset.read()
        s1[:, :, :8] = -np.inf  # a swath edge
        dataset.write(s1)
    with rasterio.open(s2_path, "r+") as dataset:
        s2 = dataset.read()
        s2[:, :8, :] = 65535  # saturated
        dataset.write(s2)
    data = Sen12msDataset(Sen12msIndex.scan(tmp_path), [patch], "s1s2")
    item = data[0]
    x = data.to_input(
        {k: torch.from_numpy(np.asarray(v))[None] for k, v in item.items() if k in ("s1", "s2")}, torch.device("cpu")
    )
    assert torch.isfinite(x).all() and (x[0, -2:, :, :8] == 0).all() and (x[0, :10, :8] == 0).all()
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_file(sm.build_model("resnet50", 12).state_dict(), weights)
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main(["predict", str(s2_path), "--model", "resnet50-s1s2", "--weights", str(weights), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["patches"][0]
    assert record["valid_fraction"] == pytest.approx(1 - (8 * 32 + 8 * 32 - 64) / 32**2, abs=1e-4)


# -- 5. S1 and S2 that do not belong together ------------------------------------------------------------


def test_s1_and_s2_of_different_ground_are_refused_naming_both(tmp_path: Path, s1s2_model, capsys) -> None:
    s1, s2 = class_patches([0])
    s2_file = write_geotiff(tmp_path / "here_s2.tif", s2[0])
    elsewhere = write_geotiff(tmp_path / "there_s1.tif", s1[0], transform=ORIGIN @ rasterio.Affine.translation(64, 0))
    with pytest.raises(sm.PatchFileError, match=r"s1=.*there_s1.tif and s2=.*here_s2.tif do not cover the same ground"):
        sm.predict(s1s2_model, s1=elsewhere, s2=s2_file)
    assert len(sm.predict(s1s2_model, s1=write_geotiff(tmp_path / "here_s1.tif", s1[0]), s2=s2_file)) == 1
    coarse = write_geotiff(tmp_path / "coarse_s1.tif", s1[0], transform=ORIGIN @ rasterio.Affine.scale(2))
    with pytest.raises(sm.PatchFileError, match=r"S1: .*pixel size 20 x 20.*S2: .*pixel size 10 x 10"):
        sm.predict(s1s2_model, s1=coarse, s2=s2_file)


def test_sen12ms_names_pair_lists_by_name_and_refuse_other_patches(tmp_path: Path, s1s2_model) -> None:
    s1, s2 = class_patches([0, 9, 6])
    ids = [PatchId("ROIs1158_spring", 63, p) for p in (1, 2, 3)]
    s1_files = [write_geotiff(tmp_path / i.file_name("s1"), s1[k]) for k, i in enumerate(ids)]
    s2_files = [write_geotiff(tmp_path / i.file_name("s2"), s2[k]) for k, i in enumerate(ids)]
    shuffled = sm.predict(s1s2_model, s1=s1_files[::-1], s2=s2_files)  # paired by name, not by position
    assert labels(shuffled) == expected([0, 9, 6])
    with pytest.raises(
        sm.PatchFileError, match=r"ROIs1158_spring_s1_63_p2.tif and s2=.*_s2_63_p1.tif .*different patches"
    ):
        sm.predict(s1s2_model, s1=s1_files[1], s2=s2_files[0])
    with pytest.raises(sm.PatchFileError, match=r"_s1_63_p1.tif and s2=.*_s2_63_p3.tif .*different patches"):
        sm.predict(s1s2_model, s1=[*s1_files[:2], s1_files[0]], s2=s2_files)


def test_the_training_dataset_refuses_a_triplet_on_two_grids(tmp_path: Path) -> None:
    patch = PatchId("ROIs1158_spring", 63, 1)
    write_triplet(tmp_path, patch, (32,) + (0,) * 9, rng=np.random.default_rng(0))
    s1_path = tmp_path / patch.relative_path("s1")
    with rasterio.open(s1_path, "r+") as dataset:
        dataset.transform = dataset.transform @ rasterio.Affine.translation(100, 0)
    with pytest.raises(sm.PatchFileError, match="do not cover the same ground"):
        Sen12msDataset(Sen12msIndex.scan(tmp_path), [patch], "s1s2")[0]


# -- 6. Level-2A ---------------------------------------------------------------------------------------


def test_level_2a_input_gets_one_clear_warning(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([0, 3])
    l2a = s2[:, [S2_BANDS.index(b) for b in L2A_BANDS]]
    with pytest.warns(sm.InputLevelWarning, match=r"Level-2A .*its bands lack B10.*trained on Level-1C") as said:
        assert labels(sm.predict(s2_model, s2=l2a, options=InputOptions(s2_bands=L2A_BANDS), batch_size=1)) == expected(
            [0, 3]
        )
    assert len([w for w in said if issubclass(w.category, sm.InputLevelWarning)]) == 1  # once, not per batch
    tagged = write_geotiff(tmp_path / "S2A_MSIL2A_20230601_b.tif", s2[0])  # 13 bands, but an L2A product
    with rasterio.open(tagged, "r+") as dataset:
        dataset.update_tags(PROCESSING_LEVEL="Level-2A", BOA_ADD_OFFSET="-1000")
    with pytest.warns(sm.InputLevelWarning, match="its metadata says Level-2A"):
        sm.predict(s2_model, s2=tagged)
    with pytest.warns(sm.InputLevelWarning):
        sm.predict(s2_model, s2=s2, options=InputOptions(level="L2A"))  # declared by the user
    models_doc = (REPO / "docs" / "models.md").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # L1C with fewer bands, e.g. those the model reads, is not Level-2A
        surface = s2[:, [S2_BANDS.index(b) for b in S2_SURFACE_BANDS]]
        sm.predict(s2_model, s2=surface, options=InputOptions(s2_bands=S2_SURFACE_BANDS))
    assert "Level-2A" in models_doc and "Level-1C" in models_doc


# -- 7. the 2022 offset where there is none ---------------------------------------------------------------


def test_an_offset_pushing_a_few_percent_of_l1c_values_below_zero_is_refused(s2_model) -> None:
    _, s2 = class_patches([8])  # barren: bright, only B1 and B9-B12 partly below 1000
    s2 = s2.astype(np.int32)
    s2[:, :, : SIZE // 10] = 800  # ~10 % of the pixels dark in every band: 1000 would make them negative
    with pytest.raises(
        sm.InputUnitsError, match=r"s2_offset=1000, but \d+% of the valid values .*negative reflectance"
    ):
        sm.predict(s2_model, s2=s2, options=InputOptions(s2_offset=1000))
    carried = s2 + 1000  # data that carries the offset: every value >= 1000
    assert labels(sm.predict(s2_model, s2=carried, options=InputOptions(s2_offset=1000))) == ["Barren"]


# -- 8. VH and VV swapped ----------------------------------------------------------------------------------


def test_swapped_vv_vh_arrays_are_refused_unless_the_order_is_said(s1s2_model) -> None:
    s1, s2 = class_patches()
    swapped = s1[:, ::-1].copy()
    with pytest.raises(sm.InputUnitsError, match=r"VH\) is brighter than the first \(VV\).*s1_bands=\('VH', 'VV'\)"):
        sm.predict(s1s2_model, s1=swapped, s2=s2)
    said = sm.predict(s1s2_model, s1=swapped, s2=s2, options=InputOptions(s1_bands=("VH", "VV")))
    assert labels(said) == expected()


def test_an_s1_order_said_for_files_is_applied_once(tmp_path: Path, s1s2_model) -> None:
    s1, s2 = class_patches([9, 4])
    said, published = InputOptions(s1_bands=("VH", "VV")), sm.predict(s1s2_model, s1=s1, s2=s2).probabilities
    s2_files = [write_geotiff(tmp_path / f"s2_{i}.tif", s2[i]) for i in range(2)]
    s1_files = [write_geotiff(tmp_path / f"s1_{i}.tif", s1[i, ::-1].copy()) for i in range(2)]  # VH, VV, undescribed
    np.testing.assert_allclose(sm.predict(s1s2_model, s1=s1_files, s2=s2_files, options=said).probabilities, published)
    scene = {sensor: np.tile(array[0], (1, 8, 8)) for sensor, array in (("s1", s1), ("s2", s2))}  # 256 x 256
    s2_scene = write_geotiff(tmp_path / "scene_s2.tif", scene["s2"])
    for name, s1_scene, options in (("right", scene["s1"], None), ("said", scene["s1"][::-1].copy(), said)):
        s1_path = write_geotiff(tmp_path / f"scene_s1_{name}.tif", s1_scene)
        sm.map_scene(s1s2_model, s2=s2_scene, s1=s1_path, out=tmp_path / f"{name}.tif", options=options, progress=False)
    np.testing.assert_allclose(read(tmp_path / "said.tif")[0], read(tmp_path / "right.tif")[0])


def test_swapped_vv_vh_through_the_cli_and_the_training_dataset(tmp_path: Path, capsys) -> None:
    patch = PatchId("ROIs1158_spring", 63, 1)
    write_triplet(tmp_path, patch, (0, 0, 0, 32) + (0,) * 6, rng=np.random.default_rng(0))
    s1_path = tmp_path / patch.relative_path("s1")
    with rasterio.open(s1_path, "r+") as dataset:
        dataset.write(dataset.read()[::-1].copy())
    with pytest.raises(sm.InputUnitsError, match="probably swapped"):
        Sen12msDataset(Sen12msIndex.scan(tmp_path), [patch], "s1s2")[0]
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_file(sm.build_model("resnet50", 12).state_dict(), weights)
    args = ["predict", str(s1_path), "--model", "resnet50-s1s2", "--weights", str(weights)]
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main(args) == 2
    assert "probably swapped" in capsys.readouterr().err
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args, "--s1-bands", "VH,VV"]) == 0


def test_the_fallback_is_said_once_in_a_fresh_process() -> None:
    code = (
        "import sys, logging; sys.modules['s2cloudless'] = None; logging.basicConfig(level=logging.WARNING)\n"
        "import numpy as np, sen12ms_models as sm\n"
        "from tests.support.spectrum import SpectrumModel, class_patches\n"
        "m = SpectrumModel('s2'); s2 = class_patches([0])[1]\n"
        "sm.predict(m, s2=s2); sm.predict(m, s2=s2)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stderr.count("s2cloudless is not installed") == 1


def test_rgb_only_input_cannot_tell_snow_from_cloud_and_says_so(s2_model) -> None:
    _, s2 = class_patches([0, 7])  # forest, snow
    rgb, bands = SpectrumModel("rgb"), InputOptions(s2_bands=S2_BGR_BANDS)
    visible = s2[:, [S2_BANDS.index(b) for b in S2_BGR_BANDS]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean L1C B2, B3, B4: not Level-2A
        assert labels(sm.predict(rgb, s2=visible[:1], options=bands)) == ["Forest"]
    with pytest.raises(sm.NoDataError, match=r"s2\[1\] \(0% valid, 100% cloud\).*lack B10 and B11.*clouds=False"):
        sm.predict(rgb, s2=visible, options=bands)
    assert labels(sm.predict(rgb, s2=visible, options=InputOptions(s2_bands=S2_BGR_BANDS, clouds=False))) == expected(
        [0, 7]
    )
    assert sm.predict(s2_model, s2=s2).cloud_fraction.tolist() == [0, 0]  # with B11 snow is not cloud
