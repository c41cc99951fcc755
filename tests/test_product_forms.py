"""Forms real Sentinel products take, on small real GeoTIFFs and arrays: read right, or refused.

The spectrum stub labels every class patch right on correct input, so a form read wrongly shows
up as wrong labels; read right, it gives the labels of the clean patches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

import sen12ms_models as sm
from sen12ms_models.bands import EUROSAT_BANDS, S2_BANDS
from sen12ms_models.classes import CLASSES
from sen12ms_models.errors import InputUnitsError, NoDataError, PatchFileError
from sen12ms_models.inputs.files import read_patch
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.mapping import map_scene
from tests.support.geotiff import write_geotiff
from tests.support.spectrum import SIZE, class_patches, expected, labels

NO_CLOUD_TEST = InputOptions(clouds=False)


def _files(tmp_path: Path, s2: np.ndarray, name: str, **profile: object) -> list[Path]:
    """One GeoTIFF a patch; ``profile`` adds creation options."""
    return [write_geotiff(tmp_path / f"{name}_{i}.tif", patch, **profile) for i, patch in enumerate(s2)]


@pytest.mark.parametrize("where", ["file", "band"])
def test_an_offset_declared_in_product_tags_is_applied_and_reported(tmp_path: Path, s2_model, where: str) -> None:
    _, s2 = class_patches()
    paths = _files(tmp_path, s2 + 1000, "offset")
    for path in paths:
        with rasterio.open(path, "r+") as dataset:
            if where == "file":
                dataset.update_tags(RADIO_ADD_OFFSET="-1000")
            else:
                for band in range(1, 14):
                    dataset.update_tags(band, RADIO_ADD_OFFSET="-1000")
    result = sm.predict(s2_model, s2=paths)
    assert labels(result) == expected()
    assert "offset -1000 of its RADIO_ADD_OFFSET / BOA_ADD_OFFSET tag" in result.corrections[0][0]
    np.testing.assert_array_equal(read_patch(paths[0], "s2").array, s2[0].astype(np.float32))


def test_a_gdal_mask_band_is_no_data(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([3])
    scene = np.tile(s2[0], (1, 8, 16))  # 256 x 512: two windows
    mask = np.full(scene.shape[1:], 255, np.uint8)
    mask[:192, :256] = 0  # 3/4 of the left window
    mask[:, 256:] = 0  # all of the right one
    path = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_geotiff(path, scene)
        with rasterio.open(path, "r+") as dataset:
            dataset.write_mask(mask)
    result = sm.predict(s2_model, s2=path, options=InputOptions(skip_invalid=True, clouds=False))
    assert result.valid_fraction[0] == pytest.approx(0.125)
    mapped = map_scene(s2_model, s2=path, out=tmp_path / "map.tif", options=InputOptions(clouds=False, min_valid=0.2))
    assert mapped.skipped == 1


def test_saturation_is_found_before_a_declared_offset(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([5])
    raw = s2[0] + 1000
    raw[:, : SIZE // 4] = 65535
    path = write_geotiff(tmp_path / "saturated.tif", raw)
    with rasterio.open(path, "r+") as dataset:
        dataset.offsets = (-1000,) * 13
    result = sm.predict(s2_model, s2=path, options=NO_CLOUD_TEST)
    assert result.valid_fraction[0] == pytest.approx(0.75)
    assert labels(result) == expected([5])


def test_saturation_under_a_declared_offset_counts_only_in_the_bands_read(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([5])
    raw = s2[0] + 1000
    raw[S2_BANDS.index("B10"), : SIZE // 2] = 65535  # saturated in a band the s2 models do not read
    declared = write_geotiff(tmp_path / "declared.tif", raw)
    with rasterio.open(declared, "r+") as dataset:
        dataset.offsets = (-1000,) * 13
    plain = write_geotiff(tmp_path / "plain.tif", raw)
    one = sm.predict(s2_model, s2=declared, options=NO_CLOUD_TEST)
    other = sm.predict(s2_model, s2=plain, options=InputOptions(clouds=False, s2_offset=1000))
    assert one.valid_fraction[0] == other.valid_fraction[0] == 1.0  # as for the offset given, not declared
    np.testing.assert_array_equal(one.probabilities, other.probabilities)
    assert read_patch(declared, "s2").array[S2_BANDS.index("B10"), 0, 0] == 65535  # stays SATURATED


@pytest.mark.parametrize("where", ["file", "band"])
def test_a_level_2a_offset_tag_says_level_2a_wherever_it_declares_the_offset(tmp_path: Path, where: str) -> None:
    _, s2 = class_patches([5])
    path = write_geotiff(tmp_path / "l2a.tif", s2[0] + 1000)
    with rasterio.open(path, "r+") as dataset:
        for band in [0] if where == "file" else range(1, 14):  # 0: the file's tags
            dataset.update_tags(band, BOA_ADD_OFFSET="-1000")
    read = read_patch(path, "s2")
    assert read.level == "L2A" and "offset -1000 of its RADIO_ADD_OFFSET / BOA_ADD_OFFSET tag" in read.corrections[0]


def test_s1_bands_named_by_the_files_descriptions_are_not_checked_for_a_swap(tmp_path: Path, s1s2_model) -> None:
    s1, s2 = class_patches([4])
    vh_brighter = s1[0, ::-1].copy()  # what the descriptions call VH is the brighter band
    described = write_geotiff(tmp_path / "described.tif", vh_brighter)
    with rasterio.open(described, "r+") as dataset:
        dataset.descriptions = ("VV", "VH")
    s2_path = write_geotiff(tmp_path / "s2.tif", s2[0])
    sm.predict(s1s2_model, s1=described, s2=s2_path)  # the file says which band is which
    plain = write_geotiff(tmp_path / "plain.tif", vh_brighter)
    with pytest.raises(InputUnitsError, match=r"probably swapped.*s1_bands=\('VH', 'VV'\)"):
        sm.predict(s1s2_model, s1=plain, s2=s2_path)
    said = sm.predict(s1s2_model, s1=plain, s2=s2_path, options=InputOptions(s1_bands=("VH", "VV")))  # the remedy
    assert labels(said) == expected([4])
    scene = [
        write_geotiff(tmp_path / f"{n}_scene.tif", np.tile(a, (1, 8, 8))) for n, a in (("s1", s1[0]), ("s2", s2[0]))
    ]
    with rasterio.open(scene[0], "r+") as dataset:
        dataset.descriptions = ("VH", "VV")  # they call the brighter band VH: read so, and not checked
    mapped = map_scene(s1s2_model, s1=scene[0], s2=scene[1], out=tmp_path / "map.tif", options=NO_CLOUD_TEST)
    assert mapped.skipped == 0


def test_band_descriptions_spelled_band_8a_are_read_by_name(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches()
    order = [EUROSAT_BANDS.index(b) for b in S2_BANDS]
    eurosat = s2[:, [S2_BANDS.index(b) for b in EUROSAT_BANDS]]
    paths = _files(tmp_path, eurosat, "eurosat")
    for path in paths:
        with rasterio.open(path, "r+") as dataset:
            dataset.descriptions = tuple(f"Band_{b[1:]}" for b in EUROSAT_BANDS)
    assert labels(sm.predict(s2_model, s2=paths)) == expected()
    np.testing.assert_array_equal(read_patch(paths[0], "s2").array, eurosat[0][order])
    with rasterio.open(paths[0], "r+") as dataset:  # positions, not names: read in SEN12MS order
        dataset.descriptions = tuple(f"Band {i}" for i in range(1, 14))
    np.testing.assert_array_equal(read_patch(paths[0], "s2").array, eurosat[0])
    with rasterio.open(paths[0], "r+") as dataset:  # names for some bands only: which are the others?
        dataset.descriptions = (*EUROSAT_BANDS[:12], "cirrus?")
    with pytest.raises(PatchFileError, match=r"name only some bands.*s2_bands= \(CLI: --s2-bands\)"):
        sm.predict(s2_model, s2=paths[0])


def test_dark_surfaces_slightly_below_zero_are_data_and_fill_is_not(s2_model) -> None:
    _, s2 = class_patches()
    dark = s2.astype(np.int16)  # as after a declared offset (BOA_ADD_OFFSET) was applied
    dark[CLASSES.index("Water"), -2:] = -5  # SWIR over water: slightly negative reflectance
    result = sm.predict(s2_model, s2=dark)
    assert labels(result) == expected() and result.valid_fraction.min() == 1.0
    dark[:, :, : SIZE // 2] = -1  # signed fill, in every band
    dark[:, :4, SIZE // 2 :] = -9999  # signed fill, far below any DN
    assert (sm.predict(s2_model, s2=dark, options=InputOptions(skip_invalid=True)).valid_fraction == 0).all()


def test_a_zero_filled_band_is_refused_naming_it(s2_model) -> None:
    _, s2 = class_patches([2])
    s2[:, 4] = 0  # B5, missing from the product
    with pytest.raises(InputUnitsError, match=r"band B5 is 0 in every valid pixel"):
        sm.predict(s2_model, s2=s2)


def test_scaled_s1_is_refused_as_units_and_constant_fill_is_no_data(s1s2_model) -> None:
    s1, s2 = class_patches([1])
    with pytest.raises(InputUnitsError, match=r"below -100 dB and vary .* scaled dB"):
        sm.predict(s1s2_model, s1=(s1 * 100).astype(np.int16), s2=s2)
    with pytest.raises(NoDataError):
        sm.predict(s1s2_model, s1=np.full_like(s1, -9999), s2=s2)
