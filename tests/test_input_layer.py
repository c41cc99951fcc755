"""The input layer's pieces on their own: band names, declared scalings, the unit thresholds, the options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from sen12ms_models.bands import S2_BANDS, canonical_band
from sen12ms_models.errors import InputUnitsError, PatchFileError
from sen12ms_models.inputs.checks import inspect
from sen12ms_models.inputs.files import read_patch
from sen12ms_models.inputs.options import S2_REFLECTANCE_MAX, InputOptions
from sen12ms_models.transforms import Sen12msTransform
from tests.support.geotiff import write_geotiff


@pytest.mark.parametrize(
    ("name", "sensor", "band"),
    [
        ("B02", "s2", "B2"),
        ("b8a", "s2", "B8A"),
        ("B8A (865 nm)", "s2", "B8A"),
        ("B12", "s2", "B12"),
        ("B1", "s2", "B1"),
        ("band 1", "s2", "B1"),  # a file numbering its bands "Band 1".."Band 13" is read by position
        ("", "s2", None),
        (None, "s2", None),
        ("VV", "s1", "VV"),
        ("Sigma0_VH_db", "s1", "VH"),
        ("vv", "s1", "VV"),
        ("VV/VH", "s1", None),
        ("HH", "s1", "HH"),
    ],
)
def test_band_descriptions_are_normalized(name, sensor, band) -> None:
    assert canonical_band(name, sensor) == band


def _described(path: Path, array: np.ndarray, descriptions: tuple[str, ...]) -> Path:
    write_geotiff(path, array)
    with rasterio.open(path, "r+") as dataset:
        dataset.descriptions = descriptions
    return path


def test_descriptions_decide_when_they_name_every_band_once_and_are_refused_otherwise(tmp_path: Path) -> None:
    s1 = np.stack([np.full((4, 4), -10, np.float32), np.full((4, 4), -16, np.float32)])
    swapped = read_patch(_described(tmp_path / "a.tif", s1[::-1].copy(), ("VH", "VV")), "s1")
    np.testing.assert_array_equal(swapped.array, s1)  # named: taken by name
    for descriptions in (("VV", "VV"), ("VV", "")):  # not naming each band once: refused, not guessed
        path = _described(tmp_path / "b.tif", s1, descriptions)
        with pytest.raises(PatchFileError, match=r"name only some bands, or one twice; say the order .* s1_bands="):
            read_patch(path, "s1")
        as_said = read_patch(path, "s1", bands=("VV", "VH"))  # the order said wins
        np.testing.assert_array_equal(as_said.array, s1)
        assert as_said.corrections == ()


def test_declared_scalings_reach_dn_and_keep_fill(tmp_path: Path) -> None:
    raw = np.full((13, 1, 3), 3000, np.uint16)
    raw[:, 0, 0] = 0  # fill
    raw[:, 0, 1] = 1500
    path = write_geotiff(tmp_path / "refl.tif", raw)
    with rasterio.open(path, "r+") as dataset:
        dataset.scales, dataset.offsets = (1e-4,) * 13, (-0.1,) * 13
    read = read_patch(path, "s2")
    np.testing.assert_allclose(read.array[:, 0], [[0, 500, 2000]] * 13, atol=1e-3)  # fill stays 0
    with rasterio.open(path, "r+") as dataset:
        dataset.scales = (0.01,) * 13
    with pytest.raises(PatchFileError, match=r"only scale 1 \(DN\) or 1e-4"):
        read_patch(path, "s2")


def _prepare(s2: np.ndarray | None = None, s1: np.ndarray | None = None, **options: object) -> object:
    transform = Sen12msTransform.for_modality("s1s2" if s1 is not None else "s2")
    names = [f"x[{i}]" for i in range(len(s2 if s2 is not None else s1))]  # type: ignore[arg-type]
    return inspect(
        transform,
        InputOptions(clouds=False, skip_invalid=True, **options),  # the unit checks alone
        s1=s1,
        s2=s2,
        s2_bands=S2_BANDS,
        s1_names=names,
        s2_names=names,
    )


def test_the_s2_reflectance_threshold() -> None:
    reflectance = np.full((1, 13, 4, 4), 0.3, np.float32)
    reflectance[0, 1, 0, 0] = S2_REFLECTANCE_MAX  # a bright pixel at the limit: still reflectance
    with pytest.raises(InputUnitsError, match=r"x\[0\]: all values are <= 2"):
        _prepare(reflectance)
    _prepare(np.full((1, 13, 4, 4), 3.0, np.float32))  # anything above 2 may be (very dark) DN
    _prepare(np.zeros((1, 13, 4, 4), np.float32))  # no valid pixel: nothing to judge (the no-data rule decides)


def test_the_s1_db_threshold() -> None:
    s2 = np.full((1, 13, 4, 4), 1500, np.uint16)
    s1 = np.full((1, 2, 4, 4), -12.0, np.float32)
    s1[0, 1] = -18.0
    s1[0, 0, :2] = 4.0  # half of VV bright (a quarter of all values): dB
    _prepare(s2, s1)
    s1[0, :, :3] = 0.2  # three quarters >= 0: linear
    with pytest.raises(InputUnitsError, match=r"x\[0\]: 75% of the values are >= 0"):
        _prepare(s2, s1)
    _prepare(s2, np.zeros((1, 2, 4, 4), np.float32))  # 0 in both bands is fill, not linear
    with pytest.raises(ValueError, match=r"s1 and s2 .*s2 has shape \(1, 13, 4, 4\), s1 \(1, 2, 3, 4\)"):
        _prepare(s2, np.full((1, 2, 3, 4), -12.0, np.float32))  # named, not a torch error


def test_an_s1_order_is_the_arrays_own() -> None:
    s2 = np.full((1, 13, 4, 4), 1500, np.uint16)
    s1 = np.stack([np.full((4, 4), -12.0), np.full((4, 4), -18.0)])[None].astype(np.float32)
    swapped = s1[:, ::-1].copy()
    said = _prepare(s2, swapped, s1_bands=("VH", "VV"))  # the arrays' order: reordered once
    read = inspect(  # files are read in VV, VH order whatever options.s1_bands said: their bands decide
        Sen12msTransform.for_modality("s1s2"),
        InputOptions(clouds=False, s1_bands=("VH", "VV")),
        s1=s1,
        s2=s2,
        s2_bands=S2_BANDS,
        s1_bands=("VV", "VH"),
        s1_names=["f"],
        s2_names=["f"],
    )
    np.testing.assert_array_equal(said.x.numpy(), read.x.numpy())  # type: ignore[attr-defined]
    np.testing.assert_array_equal(read.x.numpy(), _prepare(s2, s1).x.numpy())  # type: ignore[attr-defined]


def test_options_and_offsets_are_validated() -> None:
    with pytest.raises(ValueError, match="min_valid must be in"):
        InputOptions(min_valid=1.5)
    with pytest.raises(ValueError, match="s2_offset must be a finite number >= 0"):
        Sen12msTransform.for_modality("s2", s2_offset=-1000)
    assert Sen12msTransform.for_modality("s2", s2_offset=1000) == Sen12msTransform.for_modality("s2").replace(
        s2_offset=1000
    )
    assert InputOptions(s2_bands=["B2", "B3"]).s2_bands == ("B2", "B3")  # a list becomes a hashable tuple
