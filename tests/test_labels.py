"""labels and classes: the simplified IGBP mapping and the single/multi label rules of DOMAIN.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sen12ms_models.classes import CLASSES, IGBP_TO_SIMPLIFIED, SIMPLIFIED_IGBP
from sen12ms_models.labels import class_probabilities, label_target, simplify_igbp

# DOMAIN.md's table, typed in: IGBP code -> simplified index.
DOMAIN_MAPPING = {
    1: 0,
    2: 0,
    3: 0,
    4: 0,
    5: 0,
    6: 1,
    7: 1,
    8: 2,
    9: 2,
    10: 3,
    11: 4,
    12: 5,
    13: 6,
    14: 5,
    15: 7,
    16: 8,
    17: 9,
}


def test_class_table_matches_domain() -> None:
    assert CLASSES == (
        "Forest", "Shrubland", "Savanna", "Grassland", "Wetlands",
        "Croplands", "Urban/Built-up", "Snow/Ice", "Barren", "Water",
    )  # fmt: skip
    for code, index in DOMAIN_MAPPING.items():
        assert IGBP_TO_SIMPLIFIED[code] == index
    assert [c.colour for c in SIMPLIFIED_IGBP] == [
        "#009900", "#c6b044", "#fbff13", "#b6ff05", "#27ff87", "#c24f44", "#a5a5a5", "#69fff8", "#f9ffa4", "#1c0dff",
    ]  # fmt: skip
    assert SIMPLIFIED_IGBP[9].rgb == (0x1C, 0x0D, 0xFF)


def test_values_outside_1_to_17_are_not_counted() -> None:
    patch = np.array([[0, 18, 255, 65535], [1, 1, 17, 17]], dtype=np.uint16)
    np.testing.assert_array_equal(simplify_igbp(patch)[0], [-1, -1, -1, -1])
    probabilities = class_probabilities(patch)
    assert probabilities[0] == 0.5 and probabilities[9] == 0.5


def test_multi_label_threshold_is_inclusive_at_ten_percent() -> None:
    patch = np.array([10] * 90 + [17] * 10, dtype=np.uint16).reshape(10, 10)  # 90 % grass, 10 % water
    probabilities = class_probabilities(patch)
    np.testing.assert_allclose(probabilities[[3, 9]], [0.9, 0.1])
    assert label_target(probabilities, "multi").nonzero()[0].tolist() == [3, 9]
    just_below = np.array([10] * 91 + [17] * 9, dtype=np.uint16).reshape(10, 10)
    assert label_target(class_probabilities(just_below), "multi").nonzero()[0].tolist() == [3]


def test_single_label_takes_first_index_on_ties() -> None:
    patch = np.array([[12, 12, 1, 1]], dtype=np.uint16)  # croplands (5) and forest (0) tie
    assert label_target(class_probabilities(patch), "single") == 0


def test_patch_without_valid_pixel_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"ROIs1158_spring_lc_63_p100.tif: no pixel has a valid IGBP code"):
        class_probabilities(np.zeros((4, 4), np.uint16), name="ROIs1158_spring_lc_63_p100.tif")
    batch = np.ones((3, 4, 4), np.uint16)
    batch[2] = 0
    with pytest.raises(ValueError, match=r"batch index 2"):
        class_probabilities(batch)


def test_float_codes_and_bad_shapes_are_refused() -> None:
    with pytest.raises(TypeError, match="integers"):
        class_probabilities(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected an IGBP patch"):
        class_probabilities(np.ones(4, np.uint16))
    with pytest.raises(ValueError, match="last axis 10"):
        label_target(np.ones(9), "multi")


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.uint16, st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 8)), elements=st.integers(1, 17)
    )
)
def test_property_probabilities_match_a_plain_histogram(batch: np.ndarray) -> None:
    probabilities = class_probabilities(batch)
    assert probabilities.shape == (batch.shape[0], 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    for patch, p in zip(batch, probabilities, strict=True):
        counts = np.zeros(10)
        for code in patch.ravel():
            counts[DOMAIN_MAPPING[int(code)]] += 1
        np.testing.assert_allclose(p, counts / counts.sum())
        assert label_target(p, "single") == int(np.argmax(counts))
        np.testing.assert_array_equal(label_target(p, "multi"), counts / counts.sum() >= 0.1)
        assert label_target(p, "multi")[label_target(p, "single")] == 1
