"""Each kind of wrong input of issue 15, through arrays and small real GeoTIFFs: corrected or refused.

The model is a stub "trained" on the class spectra (``CLASS_S2_DN``, ``CLASS_S1_DB``): it labels
a patch with the class whose standardized spectrum is nearest to the patch's per-channel median,
so it is right on every class (accuracy 1.00) on correct input, and answers what the issue saw on
wrong input (an all-zero or mostly-fill S2 patch is nearest to Water, 0 dB S1 to Urban).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import sen12ms_models as sm
from sen12ms_models.bands import (
    EUROSAT_BANDS,
    L2A_BANDS,
    S1_BANDS,
    S2_BANDS,
    TORCHGEO_BIGEARTHNET_BANDS,
    TORCHGEO_SEN12MS_BANDS,
    parse_bands,
)
from sen12ms_models.classes import CLASSES
from sen12ms_models.errors import InputUnitsError, NoDataError
from sen12ms_models.inputs.files import read_patch
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.interop.torchgeo import FromTorchGeoSen12ms
from tests.support.geotiff import write_geotiff
from tests.support.spectrum import ALL, SIZE, class_patches, expected, labels, labels_of


def test_the_stub_is_right_on_correct_input(s2_model, s1s2_model) -> None:
    s1, s2 = class_patches()
    assert labels(sm.predict(s2_model, s2=s2)) == expected()
    result = sm.predict(s1s2_model, s1=s1, s2=s2)
    assert labels(result) == expected()
    np.testing.assert_array_equal(result.valid_fraction, np.ones(10, np.float32))
    assert result.corrections == ((),) * 10


# -- 1. processing baseline 04.00: +1000 on every DN -------------------------------------------------


def test_baseline_04_offset_in_arrays_is_declared_with_s2_offset(s2_model) -> None:
    _, s2 = class_patches()
    shifted = (s2.astype(np.int32) + 1000).astype(np.uint16)
    snowless = [c for c in ALL if CLASSES[c] != "Snow/Ice"]  # shifted snow passes for cloud: refused, not wrong
    no_clouds = InputOptions(clouds=False)
    assert labels(sm.predict(s2_model, s2=shifted[snowless], options=no_clouds)) != expected(snowless)  # wrong
    if importlib.util.find_spec("s2cloudless") is not None:  # s2cloudless sees the brighter patches as cloud
        with pytest.raises(NoDataError, match=r"100% cloud.*InputOptions\(s2_offset=1000\)"):
            sm.predict(s2_model, s2=shifted)
    result = sm.predict(s2_model, s2=shifted, options=InputOptions(s2_offset=1000))
    assert labels(result) == expected()
    assert result.corrections[0] == ("subtracted s2_offset=1000 from every S2 value",)
    transform = s2_model.spec.transforms.replace(s2_offset=1000)  # the same through the transform
    torch.testing.assert_close(transform(s2=shifted), s2_model.spec.transforms(s2=s2))


def test_an_offset_the_data_does_not_carry_is_refused(s2_model) -> None:
    _, s2 = class_patches([9])  # water: nearly every DN below 1000
    with pytest.raises(InputUnitsError, match=r"s2\[0\]: s2_offset=1000, but \d+% of the valid values are below 1000"):
        sm.predict(s2_model, s2=s2, options=InputOptions(s2_offset=1000))


# -- 2. scale/offset declared in the GeoTIFF ---------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "scale", "offset", "raw"),
    [
        ("uint16", 1.0, -1000.0, lambda dn: dn + 1000),  # baseline 04.00 DN, offset declared
        ("uint16", 1e-4, -0.1, lambda dn: dn + 1000),  # reflectance form of baseline 04.00
        ("uint16", 1e-4, 0.0, lambda dn: dn),  # reflectance form, older baselines
    ],
)
def test_declared_scale_and_offset_are_applied(tmp_path: Path, s2_model, dtype, scale, offset, raw) -> None:
    _, s2 = class_patches()
    paths = []
    for i, patch in enumerate(s2):
        path = write_geotiff(tmp_path / f"patch_{i}.tif", raw(patch.astype(np.int64)).astype(dtype))
        with rasterio_update(path) as dataset:
            dataset.scales, dataset.offsets = (scale,) * 13, (offset,) * 13
        paths.append(path)
    read = read_patch(paths[0], "s2")
    np.testing.assert_allclose(read.array, s2[0], atol=0.01)
    assert "applied the declared scale" in read.corrections[0]
    result = sm.predict(s2_model, s2=paths)
    assert labels(result) == expected()
    assert "applied the declared scale" in result.corrections[0][0]
    assert f"{scale:g}" in result.to_dict()["patches"][0]["corrections"][0]


def test_an_unknown_declared_scale_is_refused(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "odd.tif", class_patches([0])[1][0])
    with rasterio_update(path) as dataset:
        dataset.scales = (0.5,) * 13
    with pytest.raises(sm.PatchFileError, match=r"odd.tif: declares scale 0.5, offset 0; only scale 1"):
        read_patch(path, "s2")


# -- 3. Sentinel-1 in linear power ---------------------------------------------------------------------


def test_linear_s1_is_refused_in_arrays_and_files(tmp_path: Path, s1s2_model) -> None:
    s1, s2 = class_patches()
    linear = (10 ** (s1 / 10)).astype(np.float32)
    with pytest.raises(InputUnitsError, match=r"s1\[0\].*linear backscatter.*10 \* log10.*check_units=False"):
        sm.predict(s1s2_model, s1=linear, s2=s2)
    path = write_geotiff(tmp_path / "linear_s1.tif", linear[0])
    with pytest.raises(InputUnitsError, match=r"linear_s1.tif: 100% of the values are >= 0"):
        sm.predict(s1s2_model, s1=path, s2=write_geotiff(tmp_path / "s2.tif", s2[0]))
    assert read_patch(path, "s1").array.max() < 1  # reading takes it as it is: the check is predict's
    unchecked = sm.predict(s1s2_model, s1=path, s2=tmp_path / "s2.tif", options=InputOptions(check_units=False))
    assert len(unchecked) == 1  # the opt-out
    back = (10 * np.log10(linear)).astype(np.float32)  # the remedy
    assert labels(sm.predict(s1s2_model, s1=back, s2=s2)) == expected()


def test_db_with_bright_urban_pixels_is_still_db(s1s2_model) -> None:
    s1, s2 = class_patches([6])
    s1[:, 0, : SIZE // 3] = 3.0  # a third of VV above 0 dB: strong reflectors
    assert labels(sm.predict(s1s2_model, s1=s1, s2=s2)) == ["Urban/Built-up"]


# -- 4. edge-of-swath patches ---------------------------------------------------------------------------


def test_mostly_fill_s2_file_is_refused_naming_it(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([0])
    edge = s2[0].copy()
    edge[:, :, : int(SIZE * 0.69)] = 0
    path = write_geotiff(tmp_path / "edge.tif", edge, nodata=0)
    with pytest.raises(NoDataError, match=r"edge.tif \(31% valid, 0% cloud\): less than 50% of the pixels hold data"):
        sm.predict(s2_model, s2=path)
    with pytest.raises(NoDataError, match=r"s2 \(0% valid"):
        sm.predict(s2_model, s2=np.zeros((13, SIZE, SIZE), np.uint16))
    assert len(sm.predict(s2_model, s2=path, options=InputOptions(min_valid=0))) == 1  # the opt-out


def test_declared_nodata_other_than_zero_is_fill(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([3])
    patch = s2[0].copy()
    patch[:, : SIZE // 4] = 65535  # a quarter is the declared fill
    path = write_geotiff(tmp_path / "quarter.tif", patch, nodata=65535)
    read = read_patch(path, "s2")
    assert (read.array[:, : SIZE // 4] == 0).all()  # the declared fill becomes S2's fill, 0 in every band
    result = sm.predict(s2_model, s2=path)
    assert labels(result) == ["Grassland"]
    assert result.valid_fraction[0] == pytest.approx(0.75)
    assert (
        "25.0% of the pixels hold no data (fill, NaN, +-inf, saturated), set to the band means" in result.corrections[0]
    )
    assert "75% valid pixels" in repr(result)


def test_mostly_nan_s1_is_refused(s1s2_model) -> None:
    s1, s2 = class_patches([2])
    s1[:, :, :, : int(SIZE * 0.69)] = np.nan
    with pytest.raises(NoDataError, match=r"s2 \+ s1 \(31% valid"):
        sm.predict(s1s2_model, s1=s1[0], s2=s2[0])


def test_partly_fill_patches_are_labelled_with_their_valid_fraction(s2_model) -> None:
    _, s2 = class_patches()
    s2[:, :, : SIZE // 4] = 0
    result = sm.predict(s2_model, s2=s2)
    assert labels(result) == expected()
    np.testing.assert_allclose(result.valid_fraction, 0.75)
    assert result.to_dict()["patches"][0]["valid_fraction"] == 0.75


# -- 5. band order of other datasets ---------------------------------------------------------------------


def test_eurosat_order_is_read_by_name(s2_model) -> None:
    _, s2 = class_patches()
    eurosat = s2[:, [S2_BANDS.index(b) for b in EUROSAT_BANDS]]
    assert labels(sm.predict(s2_model, s2=eurosat, options=InputOptions(s2_bands=EUROSAT_BANDS))) == expected()
    transform = s2_model.spec.transforms.replace(s2_bands=EUROSAT_BANDS)
    torch.testing.assert_close(transform(s2=eurosat), s2_model.spec.transforms(s2=s2))


def test_bigearthnet_and_l2a_orders(s2_model) -> None:
    _, s2 = class_patches()
    for bands in (L2A_BANDS, TORCHGEO_BIGEARTHNET_BANDS):
        stacked = s2[:, [S2_BANDS.index(b) for b in bands]]
        with pytest.warns(sm.InputLevelWarning, match="its bands lack B10"):  # Level-2A: said once
            assert labels(sm.predict(s2_model, s2=stacked, options=InputOptions(s2_bands=bands))) == expected()


def test_torchgeo_sen12ms_image_is_split_s1_first(s1s2_model) -> None:
    s1, s2 = class_patches()
    image = np.concatenate([s1, s2.astype(np.float32)], axis=1)  # torchgeo: VV, VH, B1..B12
    assert image.shape[1] == len(TORCHGEO_SEN12MS_BANDS) == 15
    zero_padded = ["VV", "VH", *(f"B{b[1:].zfill(2)}" if b != "B8A" else b for b in S2_BANDS)]  # "B02": torchgeo's
    for names in (TORCHGEO_SEN12MS_BANDS, zero_padded):
        x = FromTorchGeoSen12ms("resnet50-s1s2-single", names)({"image": torch.from_numpy(image)})["image"]
        torch.testing.assert_close(x, s1s2_model.spec.transforms(s1=s1, s2=s2))
        assert labels_of(s1s2_model(x)) == expected()


# -- 6. band identity in the file -------------------------------------------------------------------------


def test_s1_band_descriptions_decide_the_order(tmp_path: Path, s1s2_model) -> None:
    s1, s2 = class_patches([9])
    path = write_geotiff(tmp_path / "vh_vv.tif", s1[0][::-1].copy())
    with rasterio_update(path) as dataset:
        dataset.descriptions = ("VH", "VV")
    read = read_patch(path, "s1")
    np.testing.assert_array_equal(read.array, s1[0])
    assert read.corrections == ("bands taken by their descriptions (VH, VV) as VV, VH",)
    result = sm.predict(s1s2_model, s1=path, s2=write_geotiff(tmp_path / "s2.tif", s2[0]))
    assert labels(result) == ["Water"] and "descriptions (VH, VV)" in result.corrections[0][-1]


def test_s2_band_descriptions_decide_the_order(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([5])
    path = write_geotiff(tmp_path / "eurosat.tif", s2[0][[S2_BANDS.index(b) for b in EUROSAT_BANDS]])
    with rasterio_update(path) as dataset:
        dataset.descriptions = tuple(f"B{b[1:].zfill(2)}" if b != "B8A" else "B8A" for b in EUROSAT_BANDS)
    np.testing.assert_array_equal(read_patch(path, "s2").array, s2[0])
    assert labels(sm.predict(s2_model, s2=path)) == ["Croplands"]


def test_hh_hv_is_refused(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "polar.tif", class_patches([7])[0][0])
    with rasterio_update(path) as dataset:
        dataset.descriptions = ("HH", "HV")
    with pytest.raises(sm.PatchFileError, match=r"polar.tif: holds bands \['HH', 'HV'\].*trained on VV, VH"):
        read_patch(path, "s1")


# -- 7. wrong units for S2 ---------------------------------------------------------------------------------


def test_uint8_images_are_refused(tmp_path: Path, s2_model) -> None:
    rgb8 = np.random.default_rng(0).integers(0, 256, (13, SIZE, SIZE)).astype(np.uint8)
    with pytest.raises(InputUnitsError, match=r"s2 is 8-bit \(uint8, 0..255\).*EuroSAT-RGB"):
        sm.predict(s2_model, s2=rgb8)
    with pytest.raises(InputUnitsError, match=r"s2 is 8-bit"):
        sm.predict(s2_model, s2=torch.from_numpy(rgb8))
    with pytest.raises(InputUnitsError, match=r"s2 is 8-bit \(int8, -128..127\).*EuroSAT-RGB"):
        sm.predict(s2_model, s2=(rgb8 // 2).astype(np.int8))  # signed 8-bit is no DN either
    with pytest.raises(InputUnitsError, match=r"png_like.tif is 8-bit"):
        sm.predict(s2_model, s2=write_geotiff(tmp_path / "png_like.tif", rgb8))


def test_reflectance_is_refused_and_the_remedy_works(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches()
    reflectance = (s2 / 10000).astype(np.float32)
    with pytest.raises(InputUnitsError, match=r"s2\[0\].*: all values are <= 2 .*Multiply by 10000"):
        sm.predict(s2_model, s2=reflectance)
    with pytest.raises(InputUnitsError, match=r"reflectance.tif: all values are <= 2"):
        sm.predict(s2_model, s2=write_geotiff(tmp_path / "reflectance.tif", reflectance[0]))
    assert labels(sm.predict(s2_model, s2=reflectance * 10000)) == expected()
    assert len(sm.predict(s2_model, s2=reflectance, options=InputOptions(check_units=False))) == 10  # the opt-out


# -- the rest of the issue: L2A files, adapted stems, the shape a user passed --------------------------------


def test_a_12_band_l2a_file_is_read_with_its_band_list(tmp_path: Path, s2_model) -> None:
    _, s2 = class_patches([4])
    path = write_geotiff(tmp_path / "l2a.tif", s2[0][[S2_BANDS.index(b) for b in L2A_BANDS]])
    with pytest.raises(sm.PatchFileError, match=r"l2a.tif: has 12 bands.*s2_bands=bands.L2A_BANDS"):
        sm.predict(s2_model, s2=path)
    with pytest.warns(sm.InputLevelWarning, match="Level-2A"):
        assert labels(sm.predict(s2_model, s2=path, options=InputOptions(s2_bands=L2A_BANDS))) == ["Wetlands"]


def test_an_adapted_stem_says_why_the_transform_does_not_fit(s2_model) -> None:
    model = sm.load_model("resnet50", "s2", pretrained=False, in_chans=13, adapt_first_conv=True)
    _, s2 = class_patches([0])
    with pytest.raises(ValueError, match=r"reads 13 channels without band names.*adapt_in_chans\(in_chans, bands="):
        sm.predict(model, s2=s2)
    model.adapt_in_chans(4, bands=("B2", "B3", "B4", "B8"))  # channels with statistics: predict preprocesses them
    assert len(sm.predict(model, s2=s2)) == 1


def test_errors_show_the_shape_the_user_passed(s2_model) -> None:
    hwc = np.zeros((SIZE, SIZE, 13), np.uint16)
    with pytest.raises(ValueError, match=r"shape \(32, 32, 13\)\).*channels-last"):
        sm.predict(s2_model, s2=hwc)


def rasterio_update(path: Path):
    import rasterio

    return rasterio.open(path, "r+")


def test_band_lists_are_complete_permutations() -> None:
    assert sorted(EUROSAT_BANDS) == sorted(S2_BANDS) and EUROSAT_BANDS[-1] == "B8A"
    assert "B10" not in L2A_BANDS and len(L2A_BANDS) == 12 and sorted(TORCHGEO_BIGEARTHNET_BANDS) == sorted(L2A_BANDS)
    assert TORCHGEO_SEN12MS_BANDS[:2] == S1_BANDS


def test_band_lists_are_parsed_by_name_or_as_written() -> None:
    assert parse_bands("l2a_bands") == parse_bands(" L2A_BANDS ") == L2A_BANDS
    assert parse_bands("B2, B3 ,B4,") == ("B2", "B3", "B4")
    assert parse_bands("VH,VV") == ("VH", "VV")
