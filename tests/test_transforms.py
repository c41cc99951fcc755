"""transforms: checked against an independent plain-numpy computation from DOMAIN.md's numbers.

The statistics and band indexes below are typed in from DOMAIN.md, not imported from the
package, so changing a fact in the code (swapping two statistics, the rgb order) fails here. The
fill rule is typed in from issue 21: a pixel without data (S1: NaN or +-inf in a band, or 0 in
both; S2: NaN, +-inf, 65535 or negative in a band, or 0 in all) gets the band's training mean,
0 after standardization.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sen12ms_models.bands import MODALITY_BANDS, S2_BANDS
from sen12ms_models.transforms import Sen12msTransform

# DOMAIN.md: "S2 mean (B2..B12, the 10 bands above)", "S2 std", "S1 mean (VV, VH)", "S1 std".
S2_MEAN = [1226.4215, 1137.3799, 1139.6792, 1350.9973, 1932.9058, 2211.1584, 2154.9846, 2409.1128, 2001.8622, 1356.0801]
S2_STD = [741.6254, 740.883, 960.1045, 946.76056, 985.52747, 1082.4341, 1057.7628, 1136.1942, 1132.7898, 991.48016]
S1_MEAN = [-11.76858, -18.294598]
S1_STD = [4.525339, 4.3586307]
# Rasterio 1-based indexes of the 10 surface bands: 2,3,4,5,6,7,8,9,12,13 -> 0-based below.
S2_SURFACE_INDEX = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]


def reference(modality: str, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """DOMAIN.md's preprocessing and issue 21's fill rule (on the bands the model reads) written
    out by hand, one patch (C, H, W)."""
    s2_rows = {"rgb": 3, "s2": 10, "s1s2": 10, "s1": 0, "s1rgb": 3}[modality]  # B2, B3, B4 first
    s2 = s2.astype(np.float64)[S2_SURFACE_INDEX][:s2_rows]
    s1 = s1.astype(np.float64)
    with np.errstate(invalid="ignore"):
        s2_norm = (s2 - np.array(S2_MEAN)[:s2_rows, None, None]) / np.array(S2_STD)[:s2_rows, None, None]
        s1_norm = (np.clip(s1, -25, 0) - np.array(S1_MEAN)[:, None, None]) / np.array(S1_STD)[:, None, None]
        bad = (~np.isfinite(s2) | (s2 >= 65535) | (s2 < -1000)).any(axis=0) | (s2 < 0).all(axis=0)
        s2_norm[:, bad | (s2 == 0).all(axis=0)] = 0.0
        s1_norm[:, (~np.isfinite(s1) | (s1 < -100)).any(axis=0) | (s1 == 0).all(axis=0)] = 0.0
    return {
        "rgb": s2_norm,
        "s2": s2_norm,
        "s1s2": np.concatenate([s2_norm, s1_norm]),
        "s1": s1_norm,
        "s1rgb": np.concatenate([s2_norm, s1_norm]),
    }[modality]


def random_patch(rng: np.random.Generator, n: int | None = None, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    lead = () if n is None else (n,)
    s1 = rng.normal(-12, 8, (*lead, 2, size, size)).astype(np.float32)
    s1[..., 0, 0, :3] = np.nan
    s2 = rng.integers(0, 12000, (*lead, 13, size, size)).astype(np.uint16)
    return s1, s2


@pytest.mark.parametrize("modality", list(MODALITY_BANDS))
def test_matches_independent_numpy_reference(modality: str) -> None:
    s1, s2 = random_patch(np.random.default_rng(0))
    out = Sen12msTransform.for_modality(modality)(s1=s1, s2=s2)
    assert out.dtype == torch.float32
    assert out.shape == (len(MODALITY_BANDS[modality]), 16, 16)
    np.testing.assert_allclose(out.numpy(), reference(modality, s1, s2), rtol=1e-5, atol=1e-5)


def test_rgb_is_blue_green_red() -> None:
    s2 = np.zeros((13, 4, 4), dtype=np.uint16)
    s2[1], s2[2], s2[3] = 1000, 2000, 3000  # B2 (blue), B3 (green), B4 (red)
    out = Sen12msTransform.for_modality("rgb")(s2=s2).numpy()
    expected = [(1000 - 1226.4215) / 741.6254, (2000 - 1137.3799) / 740.883, (3000 - 1139.6792) / 960.1045]
    np.testing.assert_allclose(out[:, 0, 0], expected, rtol=1e-6)


def test_batch_equals_per_patch_and_tensor_equals_numpy() -> None:
    s1, s2 = random_patch(np.random.default_rng(1), n=3)
    transform = Sen12msTransform.for_modality("s1s2")
    batch = transform(s1=s1, s2=s2)
    assert batch.shape == (3, 12, 16, 16)
    for i in range(3):
        torch.testing.assert_close(batch[i], transform(s1=s1[i], s2=s2[i]))
    torch.testing.assert_close(transform(s1=torch.from_numpy(s1), s2=torch.from_numpy(s2.astype(np.int32))), batch)


def test_s1_fill_becomes_the_band_mean_never_0_db_and_clipping() -> None:
    s1 = np.array([np.nan, -40.0, 5.0, -10.0, -np.inf, np.inf], dtype=np.float32).reshape(1, 1, 6).repeat(2, axis=0)
    s1[:, 0, 3] = 0.0  # 0 in both bands: zero fill
    out = Sen12msTransform.for_modality("s1")(s1=s1).numpy()
    expected = (np.array([np.nan, -25.0, 0.0, np.nan, np.nan, np.nan]) - S1_MEAN[0]) / S1_STD[0]
    expected[[0, 3, 4, 5]] = 0.0  # NaN, zero fill, -inf and +inf: the training mean, not 0 dB
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)
    assert np.isfinite(out).all()


def test_s2_band_list_by_name_for_l2a_without_b10() -> None:
    _s1, s2 = random_patch(np.random.default_rng(2))
    l2a_bands = tuple(b for b in S2_BANDS if b != "B10")
    l2a = np.delete(s2, S2_BANDS.index("B10"), axis=0)
    transform = Sen12msTransform.for_modality("s2").replace(s2_bands=l2a_bands)
    torch.testing.assert_close(transform(s2=l2a), Sen12msTransform.for_modality("s2")(s2=s2))


def test_s2_band_list_missing_a_needed_band() -> None:
    with pytest.raises(ValueError, match=r"needs band\(s\) \['B8A'\], which s2_bands=.* does not contain"):
        Sen12msTransform.for_modality("s2", s2_bands=[b for b in S2_BANDS if b != "B8A"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"s2": np.zeros((10, 8, 8), np.uint16)}, r"s2 has 10 bands .* expected 13"),
        ({"s2": np.zeros((8, 8, 13), np.uint16)}, r"looks channels-last"),
        ({"s2": np.zeros((8, 8), np.uint16)}, r"s2 must be \(C, H, W\)"),
        ({"s2": np.zeros((13, 8, 8), bool)}, r"s2 must hold real numbers"),
        ({"s2": np.zeros((13, 8, 8), complex)}, r"s2 must hold real numbers"),
        ({"s2": [[1, 2]]}, r"s2 must be a numpy array or torch tensor"),
        ({"s2": np.zeros((0, 13, 8, 8), np.uint16)}, r"s2 is empty"),
        ({}, r"s2 is required: this model reads its bands \['B2', 'B3', 'B4', .*'B11', 'B12'\]"),
    ],
)
def test_bad_s2_input_names_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Sen12msTransform.for_modality("s2")(**kwargs)


@pytest.mark.parametrize("value", [np.nan, np.inf, 65535, -9999, -32768])
def test_s2_fill_saturation_and_negative_values_are_no_data(value: float) -> None:
    s2 = np.full((13, 4, 4), 1500.0, np.float32)
    s2[S2_BANDS.index("B8"), 0, 0] = value  # one band of one pixel
    out = Sen12msTransform.for_modality("s2")(s2=s2).numpy()
    assert (out[:, 0, 0] == 0).all() and (out[:, 1:, 1:] != 0).all()


def test_s1_s2_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="s1 and s2 do not cover the same patches"):
        Sen12msTransform.for_modality("s1s2")(s1=np.zeros((2, 8, 8), np.float32), s2=np.zeros((13, 8, 9), np.uint16))
    with pytest.raises(ValueError, match="s1 is required"):
        Sen12msTransform.for_modality("s1s2")(s2=np.zeros((13, 8, 8), np.uint16))


@settings(max_examples=30, deadline=None)
@given(
    modality=st.sampled_from(list(MODALITY_BANDS)),
    n=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    s2_dtype=st.sampled_from([np.uint16, np.int32, np.float32, np.float64]),
    data=st.data(),
)
def test_property_shapes_dtypes_and_finiteness(modality, n, h, w, s2_dtype, data) -> None:
    s1 = data.draw(
        hnp.arrays(np.float32, (n, 2, h, w), elements=st.floats(-1e6, 1e6, width=32) | st.just(float("nan")))
    )
    s2 = data.draw(
        hnp.arrays(
            s2_dtype, (n, 13, h, w), elements=st.integers(-2, 65535) if s2_dtype != np.uint16 else st.integers(0, 65535)
        )
    )
    out = Sen12msTransform.for_modality(modality)(s1=s1, s2=s2)
    assert out.shape == (n, len(MODALITY_BANDS[modality]), h, w)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out[0].numpy(), reference(modality, s1[0], s2[0]), rtol=1e-4, atol=1e-4)
