"""The input layer's pieces on their own: band names, declared scalings, the unit thresholds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sen12ms_models.inputs import InputOptions, InputUnitsError, bands_from_descriptions, canonical_band
from sen12ms_models.inputs.declared import declared_scaling
from sen12ms_models.inputs.nodata import s1_valid, s2_valid
from sen12ms_models.inputs.units import S2_REFLECTANCE_MAX, check_s1_units, check_s2_units
from sen12ms_models.transforms import Sen12msTransform


@pytest.mark.parametrize(
    ("name", "sensor", "band"),
    [
        ("B02", "s2", "B2"),
        ("b8a", "s2", "B8A"),
        ("B8A (865 nm)", "s2", "B8A"),
        ("B12", "s2", "B12"),
        ("B1", "s2", "B1"),
        ("band 1", "s2", None),
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


def test_descriptions_must_name_every_band_once() -> None:
    assert bands_from_descriptions(("VH", "VV"), "s1") == ("VH", "VV")
    assert bands_from_descriptions(("VV", "VV"), "s1") is None
    assert bands_from_descriptions(("VV", None), "s1") is None
    assert bands_from_descriptions((), "s2") is None


def test_declared_scalings() -> None:
    assert declared_scaling([1.0] * 2, [0.0] * 2, "s2", "f") is None
    assert declared_scaling([None] * 2, [None] * 2, "s2", "f") is None
    dn = declared_scaling([1e-4] * 2, [-0.1] * 2, "s2", "f")
    raw = np.array([[[0, 1000, 3000]], [[0, 1500, 11000]]], dtype=np.uint16)
    out = dn.apply(raw, fill=(raw == 0).all(axis=0))
    np.testing.assert_allclose(out, [[[0, 0, 2000]], [[0, 500, 10000]]], atol=1e-3)  # fill stays 0
    with pytest.raises(ValueError, match="only scale 1 \\(DN\\) or 1e-4"):
        declared_scaling([0.01], [0.0], "s2", "f")
    assert declared_scaling([0.01], [0.0], "s1", "f") is not None  # S1: applied; the unit check decides


def test_the_s2_reflectance_threshold() -> None:
    reflectance = torch.full((1, 3, 4, 4), 0.3)
    reflectance[0, 0, 0, 0] = S2_REFLECTANCE_MAX  # a bright pixel at the limit: still reflectance
    with pytest.raises(InputUnitsError):
        check_s2_units(reflectance, s2_valid(reflectance), ["x"])
    dark_dn = torch.full((1, 3, 4, 4), 3.0)  # anything above 2 may be (very dark) DN
    check_s2_units(dark_dn, s2_valid(dark_dn), ["x"])
    fill = torch.zeros((1, 3, 4, 4))  # no valid pixel: nothing to judge (the no-data rule decides)
    check_s2_units(fill, s2_valid(fill), ["x"])


def test_the_s1_db_threshold() -> None:
    s1 = torch.full((1, 2, 4, 4), -12.0)
    s1[0, 0, :2] = 4.0  # half of VV bright (a quarter of all values): dB
    check_s1_units(s1, s1_valid(s1), ["x"])
    s1[0, :, :3] = 0.2  # three quarters >= 0: linear
    with pytest.raises(InputUnitsError, match="x: 75% of the values are >= 0"):
        check_s1_units(s1, s1_valid(s1), ["x"])
    zeros = torch.zeros((1, 2, 4, 4))  # 0 in both bands is fill, not linear
    assert not s1_valid(zeros).any()
    check_s1_units(zeros, s1_valid(zeros), ["x"])


def test_options_and_offsets_are_validated() -> None:
    with pytest.raises(ValueError, match="min_valid must be in"):
        InputOptions(min_valid=1.5)
    with pytest.raises(ValueError, match="s2_offset must be a finite number >= 0"):
        Sen12msTransform.for_modality("s2", s2_offset=-1000)
    assert Sen12msTransform.for_modality("s2", s2_offset=1000) == Sen12msTransform.for_modality("s2").with_s2_offset(
        1000
    )
