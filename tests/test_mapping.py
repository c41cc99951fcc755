"""Scene mapping on real GeoTIFFs: window placement, georeferencing, no-data, S1 reprojection, CLI.

The stub networks of ``tests.support.scenes`` make the output predictable.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.bands import BAND_MEAN, S2_BANDS
from sen12ms_models.classes import CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.cli.main import main
from sen12ms_models.mapping import WindowGrid, map_scene
from tests.support.geotiff import ORIGIN, UTM31
from tests.support.geotiff import write_geotiff as write
from tests.support.scenes import (
    BLOCK_CLASSES,
    POSITION_PROBE,
    WindowMeanModel,
    centroid_model,
    class_scene,
    clouded,
    decode,
    position_scene,
    probe_model,
    read,
)


def test_window_grid_places_windows_inside_the_scene_centred_on_their_block() -> None:
    grid = WindowGrid(height=10980, width=10980, stride=256)
    assert (grid.rows, grid.cols) == (43, 43)
    assert grid.window(42, 42).col_off == grid.window(42, 42).row_off == 10980 - 256
    grid = WindowGrid(height=700, width=1000, stride=100)
    for row, col in grid.cells():
        window = grid.window(row, col)
        assert 0 <= window.col_off <= 1000 - 256 and 0 <= window.row_off <= 700 - 256
        block_left, block_right = col * 100, min(col * 100 + 100, 1000)
        assert window.col_off <= block_left and block_right <= window.col_off + 256  # block inside window
    assert grid.window(0, 3).col_off == 300 - 78  # centred: (256 - 100) / 2 = 78 pixels each side
    with pytest.raises(ValueError, match="stride must be between 1 and 256"):
        WindowGrid(700, 1000, 0)


@pytest.mark.parametrize("label_type", ["multi", "single"])
def test_probabilities_land_in_their_windows_on_the_right_ground(tmp_path: Path, label_type: str) -> None:
    scene = class_scene()
    s2 = write(tmp_path / "s2.tif", scene)
    model = centroid_model(label_type)
    result = map_scene(
        model, s2=s2, out=tmp_path / "probs.tif", class_map=tmp_path / "classes.tif", batch_size=5, progress=False
    )
    assert (result.windows, result.skipped, result.height, result.width) == (12, 0, 3, 4)

    probs, profile, info = read(tmp_path / "probs.tif")
    assert profile["crs"] == UTM31 and profile["dtype"] == "float32" and probs.shape == (10, 3, 4)
    assert profile["transform"] == ORIGIN @ Affine.scale(256)
    assert info["descriptions"] == CLASSES
    with rasterio.open(s2) as source, rasterio.open(tmp_path / "probs.tif") as output:
        for row, col in [(0, 0), (2, 3), (1, 2)]:  # output pixel centre = centre of its 256x256 block
            assert output.transform @ (col + 0.5, row + 0.5) == source.transform @ (col * 256 + 128, row * 256 + 128)
    expected = sm.predict(
        model, s2=np.stack([scene[:, r : r + 256, c : c + 256] for r in (0, 256, 512) for c in (0, 256, 512, 768)])
    )
    np.testing.assert_allclose(probs.reshape(10, 12).T, expected.probabilities, rtol=1e-5, atol=1e-6)
    if label_type == "single":
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-5)

    classes, class_profile, class_info = read(tmp_path / "classes.tif")
    np.testing.assert_array_equal(classes[0], BLOCK_CLASSES)
    np.testing.assert_array_equal(probs.argmax(axis=0), BLOCK_CLASSES)
    assert class_profile["nodata"] == 255 and class_profile["transform"] == profile["transform"]
    assert all(class_info["colormap"][c.index] == (*c.rgb, 255) for c in SIMPLIFIED_IGBP)


def test_stride_border_windows_and_source_resolution(tmp_path: Path) -> None:
    s2 = write(tmp_path / "s2.tif", position_scene(700, 1000))
    model = probe_model("rgb", **POSITION_PROBE)
    map_scene(model, s2=s2, out=tmp_path / "window.tif", stride=128, progress=False)
    window_res, profile, _ = read(tmp_path / "window.tif")
    assert window_res.shape == (10, 6, 8) and profile["transform"] == ORIGIN @ Affine.scale(128)
    # Window start = 128 k - 64 (centred on block k), shifted inward at the border: never padded.
    col_start = decode(window_res[0], 512, 256) - 127.5
    row_start = decode(window_res[1], 512, 256) - 127.5
    np.testing.assert_allclose(col_start, np.broadcast_to([0, 64, 192, 320, 448, 576, 704, 744], (6, 8)), atol=0.02)
    np.testing.assert_allclose(row_start, np.broadcast_to([[0], [64], [192], [320], [444], [444]], (6, 8)), atol=0.02)

    map_scene(model, s2=s2, out=tmp_path / "source.tif", stride=128, resolution="source", progress=False)
    source_res, source_profile, _ = read(tmp_path / "source.tif")
    assert source_res.shape == (10, 700, 1000) and source_profile["transform"] == ORIGIN
    blocks = np.repeat(np.repeat(window_res, 128, axis=1), 128, axis=2)[:, :700, :1000]
    np.testing.assert_array_equal(source_res, blocks)


def test_nodata_windows_are_skipped_and_uint8_scaling(tmp_path: Path) -> None:
    scene = position_scene(768, 1024)
    scene[:, :154, :256] = 0  # window (0, 0): 60 % all-zero pixels -> skipped
    scene[:, :64, 256:512] = 0  # window (0, 1): 25 % -> kept, zeros set to the band means
    scene[1, 256:387, 512:768] = 65535  # window (1, 2): 51 % nodata in B2 only -> skipped
    scene[:, 512:640, 768:] = 0  # window (2, 3): exactly 50 % -> kept
    s2 = write(tmp_path / "s2.tif", scene, nodata=65535)
    model = probe_model("rgb", **POSITION_PROBE)
    result = map_scene(model, s2=s2, out=tmp_path / "f.tif", class_map=tmp_path / "c.tif", progress=False)
    assert result.skipped == 2

    probs, profile, _ = read(tmp_path / "f.tif")
    skipped = np.zeros((3, 4), dtype=bool)
    skipped[0, 0] = skipped[1, 2] = True
    assert np.isnan(profile["nodata"])
    np.testing.assert_array_equal(np.isnan(probs).all(axis=0), skipped)
    kept = scene[1, :256, 256:512].astype(np.float64)
    kept[:64] = BAND_MEAN["B2"]
    assert decode(probs[0, 0, 1], 512, 256) == pytest.approx(kept.mean(), abs=0.05)
    classes, _, _ = read(tmp_path / "c.tif")
    np.testing.assert_array_equal(classes[0] == 255, skipped)

    map_scene(model, s2=s2, out=tmp_path / "u8.tif", dtype="uint8", progress=False)
    scaled, u8_profile, info = read(tmp_path / "u8.tif")
    assert u8_profile["dtype"] == "uint8" and info["scales"] == (1 / 255,) * 10
    np.testing.assert_array_equal(info["mask"] == 0, skipped)
    np.testing.assert_array_equal(scaled[:, ~skipped], np.round(probs[:, ~skipped] * 255))
    map_scene(model, s2=s2, out=tmp_path / "s8.tif", dtype="uint8", resolution="source", progress=False)
    _, _, info = read(tmp_path / "s8.tif")  # the mask of each row of pixels, not one row repeated
    np.testing.assert_array_equal(info["mask"] == 0, np.kron(skipped, np.ones((256, 256), bool)))


def test_the_cloud_map_holds_every_windows_cloud_share_nan_only_without_data(tmp_path: Path) -> None:
    scene = clouded(class_scene()[:, :512, :768], slice(None), slice(0, 256))  # a cloud bank: windows (0|1, 0)
    scene = clouded(scene, slice(0, 64), slice(512, 768))  # window (0, 2): a quarter under cloud
    scene[:, 256:, 512:] = 0  # window (1, 2): no data at all
    out, cloud_map = tmp_path / "p.tif", tmp_path / "clouds.tif"
    result = map_scene(centroid_model(), s2=write(tmp_path / "s2.tif", scene), out=out, cloud_map=cloud_map)
    assert result.skipped == 3
    np.testing.assert_array_equal(np.isnan(read(out)[0][0]), [[True, False, False], [True, False, True]])
    clouds = read(cloud_map)[0][0]
    np.testing.assert_allclose(clouds, [[1, 0, 0.25], [1, 0, np.nan]], atol=0.02)  # NaN only where no data


def test_level_2a_is_said_once_and_refused_windows_are_named_by_their_position(tmp_path: Path) -> None:
    tagged = write(tmp_path / "s2.tif", class_scene()[:, :512, :768])
    with rasterio.open(tagged, "r+") as dataset:
        dataset.update_tags(PROCESSING_LEVEL="Level-2A")
    model = centroid_model()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        map_scene(model, s2=tagged, out=tmp_path / "p.tif", batch_size=2)  # 3 batches
    assert [w.category for w in said].count(sm.InputLevelWarning) == 1
    with pytest.raises(sm.InputUnitsError, match=r"s2.tif\), windows by their top-left \(row, col\): s2 window "
                       r"\(0, 0\), s2 window \(0, 256\), s2 window \(0, 512\) and 3 more: s2_offset=5000"):  # fmt: skip
        map_scene(model, s2=tagged, out=tmp_path / "x.tif", options=sm.InputOptions(s2_offset=5000), batch_size=6)


def test_corrections_are_those_of_the_files_the_model_reads(tmp_path: Path) -> None:
    s2 = write(tmp_path / "s2.tif", class_scene()[:, :256, :256] + np.uint16(1000))
    with rasterio.open(s2, "r+") as dataset:
        dataset.offsets = (-1000,) * 13
    s1 = write(tmp_path / "s1.tif", np.stack([np.full((256, 256), -12.0), np.full((256, 256), -18.0)]).astype("f4"))
    s1_model = probe_model("s1", centre=[-12.0, -18.0], scale=[5.0, 5.0])
    assert map_scene(s1_model, s2=s2, s1=s1, out=tmp_path / "s1.map.tif").corrections == ()  # S2 sets the grid only
    (note,) = map_scene(centroid_model(), s2=s2, out=tmp_path / "s2.map.tif").corrections
    assert note.startswith(f"{s2}: applied the declared scale 1, offset -1000")


def test_a_model_of_its_own_classes_maps_them_by_name(tmp_path: Path) -> None:
    model = probe_model("rgb", **POSITION_PROBE)
    model.head = torch.nn.Linear(3, 5).requires_grad_(False)
    model.head.weight.copy_(probe_model("rgb", **POSITION_PROBE).head.weight[:5])
    model.num_classes = 5
    model.set_labels("single", ["a", "b", "c", "d", "e"])
    s2 = write(tmp_path / "s2.tif", position_scene(512, 512))
    map_scene(model, s2=s2, out=tmp_path / "p.tif", class_map=tmp_path / "c.tif", dtype="uint8")
    probs, _, info = read(tmp_path / "p.tif")
    assert probs.shape == (5, 2, 2) and info["descriptions"] == ("a", "b", "c", "d", "e")
    classes, _, class_info = read(tmp_path / "c.tif")
    assert class_info["colormap"] is None and class_info["descriptions"] == ("class: a, b, c, d, e",)
    np.testing.assert_array_equal(classes[0], probs.argmax(axis=0))


def s1_on_s2_grid(height: int, width: int) -> np.ndarray:
    """VV -5 dB left of column 512, -20 dB right of it; VH 7 dB lower."""
    vv = np.where(np.arange(width)[None, :] < 512, -5.0, -20.0) * np.ones((height, 1))
    return np.stack([vv, vv - 7]).astype(np.float32)


@pytest.mark.parametrize("grid", ["same", "utm32-20m"])
def test_s1_is_read_on_the_s2_grid(tmp_path: Path, grid: str) -> None:
    s2 = write(tmp_path / "s2.tif", class_scene())
    s1_array = s1_on_s2_grid(768, 1024)
    if grid == "same":
        s1 = write(tmp_path / "s1.tif", s1_array)
        expected_skip = np.zeros((3, 4), dtype=bool)
    else:  # the top 512 rows only, reprojected to the next UTM zone at 20 m
        top = s1_array[:, :512]
        crs = CRS.from_epsg(32632)
        bounds = rasterio.transform.array_bounds(512, 1024, ORIGIN)
        transform, width, height = calculate_default_transform(UTM31, crs, 1024, 512, *bounds, resolution=20)
        warped = np.full((2, height, width), np.nan, dtype=np.float32)
        reproject(top, warped, src_transform=ORIGIN, src_crs=UTM31, dst_transform=transform, dst_crs=crs,
                  resampling=Resampling.nearest, dst_nodata=np.nan)  # fmt: skip
        s1 = write(tmp_path / "s1.tif", warped, transform=transform, crs=crs)
        expected_skip = np.zeros((3, 4), dtype=bool)
        expected_skip[2] = True  # outside the S1 footprint
    model = probe_model("s1rgb", centre=[0, 0, 0, -12.5, -19.5], scale=[1000, 1000, 1000, 5, 5])
    result = map_scene(model, s2=s2, s1=s1, out=tmp_path / "probs.tif", progress=False)
    probs, profile, _ = read(tmp_path / "probs.tif")
    assert profile["crs"] == UTM31 and profile["transform"] == ORIGIN @ Affine.scale(256)
    np.testing.assert_array_equal(np.isnan(probs[0]), expected_skip)
    assert result.skipped == expected_skip.sum()
    vv = decode(probs[3][~expected_skip], -12.5, 5).reshape(-1, 4)
    tolerance = 1e-3 if grid == "same" else 0.5  # resampling blurs the -5/-20 edge by a pixel or two
    np.testing.assert_allclose(vv, np.broadcast_to([-5, -5, -20, -20], vv.shape), atol=tolerance)


def test_s1_that_misses_the_scene_is_an_error_naming_both_files(tmp_path: Path) -> None:
    s2 = write(tmp_path / "s2.tif", class_scene())
    s1 = write(tmp_path / "far_s1.tif", s1_on_s2_grid(300, 300), transform=from_origin(700000, 5300000, 10, 10))
    model = probe_model("s1rgb", centre=[0] * 5, scale=[1] * 5)
    with pytest.raises(sm.PatchFileError, match=r"far_s1.tif does not overlap .*s2.tif"):
        map_scene(model, s2=s2, s1=s1, out=tmp_path / "probs.tif", progress=False)
    assert not list(tmp_path.glob("*probs*"))


def test_other_s2_band_lists_are_read_by_name(tmp_path: Path) -> None:
    scene = position_scene(512, 512)
    model = probe_model("rgb", **POSITION_PROBE)
    map_scene(model, s2=write(tmp_path / "s2.tif", scene), out=tmp_path / "13.tif", progress=False)
    l2a_bands = [b for b in S2_BANDS if b != "B10"]
    l2a = write(tmp_path / "l2a.tif", np.delete(scene, S2_BANDS.index("B10"), axis=0))
    with pytest.raises(sm.PatchFileError, match=r"l2a.tif: has 12 bands, a SEN12MS s2 file has 13"):
        map_scene(model, s2=l2a, out=tmp_path / "12.tif", progress=False)
    with pytest.warns(sm.InputLevelWarning, match="Level-2A"):
        map_scene(model, s2=l2a, out=tmp_path / "12.tif", options=sm.InputOptions(s2_bands=l2a_bands), progress=False)
    np.testing.assert_array_equal(read(tmp_path / "12.tif")[0], read(tmp_path / "13.tif")[0])
    three = write(tmp_path / "three.tif", scene[[0, 1, 2]])
    with pytest.raises(ValueError, match=r"the model needs band\(s\) \['B4'\], which s2_bands=.* does not contain"):
        map_scene(model, s2=three, out=tmp_path / "x.tif", options=sm.InputOptions(s2_bands=["B1", "B2", "B3"]))


def test_bad_input_is_named(tmp_path: Path) -> None:
    s2 = write(tmp_path / "s2.tif", position_scene(512, 512))
    small = write(tmp_path / "small.tif", position_scene(200, 512))
    rgb, s1rgb = probe_model("rgb", **POSITION_PROBE), probe_model("s1rgb", centre=[0] * 5, scale=[1] * 5)
    out = tmp_path / "out.tif"
    with pytest.raises(ValueError, match=r"s1 is required: this model reads its bands \['VV', 'VH'\]"):
        map_scene(s1rgb, s2=s2, out=out, progress=False)
    with pytest.raises(sm.PatchFileError, match=r"small.tif: 200x512 pixels, smaller than one 256x256 window"):
        map_scene(rgb, s2=small, out=out, progress=False)
    with pytest.raises(sm.PatchFileError, match=r"missing.tif: no such file"):
        map_scene(rgb, s2=tmp_path / "missing.tif", out=out, progress=False)
    with pytest.raises(ValueError, match="stride must be between 1 and 256"):
        map_scene(rgb, s2=s2, out=out, stride=300, progress=False)
    with pytest.raises(ValueError, match="would overwrite an input"):
        map_scene(rgb, s2=s2, out=s2, progress=False)
    with pytest.raises(FileNotFoundError, match=r"output folder .*nowhere does not exist"):
        map_scene(rgb, s2=s2, out=tmp_path / "nowhere" / "out.tif", progress=False)
    with pytest.raises(ValueError, match="reads 3 channels without band names"):
        map_scene(sm.build_model("resnet50", 3), s2=s2, out=out, progress=False)
    assert not out.exists()


class FailingModel(WindowMeanModel):
    """Fails on its second batch, as a model running out of memory would."""

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            raise RuntimeError("out of memory (simulated)")
        return super().forward_head(feature_map)


def test_a_failed_run_stops_its_reader_and_leaves_no_file(tmp_path: Path) -> None:
    s2 = write(tmp_path / "s2.tif", class_scene())
    base = centroid_model()
    model = FailingModel(sm.get_weights("resnet50", "rgb"), base.head)
    with pytest.raises(RuntimeError, match="simulated"):
        map_scene(model, s2=s2, out=tmp_path / "probs.tif", class_map=tmp_path / "c.tif", batch_size=2, progress=False)
    assert not any(t.name == "sen12ms-map-reader" for t in threading.enumerate())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2.tif"]


def test_a_corrupt_tile_is_reported_with_file_and_window(tmp_path: Path) -> None:
    s2 = write(tmp_path / "s2.tif", class_scene(), tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with s2.open("r+b") as file:  # cut off the last third of the tiles: a read error in the reader thread
        file.truncate(s2.stat().st_size * 2 // 3)
    with pytest.raises(
        sm.PatchFileError,
        match=r"s2.tif: not a readable GeoTIFF \(reading Window\(col_off=\d+, row_off=\d+, "
        r"width=256, height=256\) failed",
    ):
        map_scene(centroid_model(), s2=s2, out=tmp_path / "probs.tif", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2.tif"]


def test_map_command_with_local_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s2 = write(tmp_path / "s2.tif", class_scene()[:, :512, :512])
    torch.manual_seed(0)
    weights = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 10).state_dict(), weights)
    args = ["map", "--arch", "resnet50", "--modality", "s2", "--weights", str(weights), "--s2", str(s2)]
    args += ["-o", str(tmp_path / "p.tif"), "--class-map", str(tmp_path / "c.tif"), "--dtype", "uint8"]
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args, "--resolution", "source", "--batch-size", "4"]) == 0
    assert "4 windows (0 no-data)" in capsys.readouterr().out
    probs, profile, info = read(tmp_path / "p.tif")
    assert probs.shape == (10, 512, 512) and profile["crs"] == UTM31 and info["descriptions"] == CLASSES
    classes, _, _ = read(tmp_path / "c.tif")
    top = np.take_along_axis(probs, classes.astype(np.int64), axis=0)[0]
    np.testing.assert_array_equal(top, probs.max(axis=0))  # the class is a most probable one (uint8 may tie)
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args[:-6], "-o", str(tmp_path / "x.tif"), "--stride", "0"]) == 2
    assert "stride must be between 1 and 256" in capsys.readouterr().err


def test_windows_are_read_window_by_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No read is larger than one window (the scene is never loaded whole)."""
    s2 = write(tmp_path / "s2.tif", class_scene())
    sizes: list[tuple[int, int]] = []
    original = rasterio.io.DatasetReader.read

    def spy(self, *args, window: Window | None = None, **kwargs):
        sizes.append((-1, -1) if window is None else (window.height, window.width))
        return original(self, *args, window=window, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    map_scene(centroid_model(), s2=s2, out=tmp_path / "probs.tif", progress=False)
    assert sizes == [(256, 256)] * 12
