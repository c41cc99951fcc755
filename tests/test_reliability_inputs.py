"""Hostile rasters and arrays: damaged GeoTIFF bytes, and arrays of every dtype, layout and value.

Each input either gives the documented result (the published preprocessing, finite
probabilities equal to the model's own) or a clear ``PatchFileError``/``ValueError``/
``TypeError`` naming the argument; never a crashed interpreter, never NaN probabilities. The
GeoTIFF fuzz runs in a child process, so a crash inside GDAL fails the test instead of pytest.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.torch import save

import sen12ms_models as sm
from sen12ms_models.bands import S1_BANDS, S2_BANDS
from sen12ms_models.inputs.files import PatchId, read_patch
from sen12ms_models.synthetic import write_triplet
from sen12ms_models.transforms import ArrayLike, Sen12msTransform
from tests.support.patches import clear_patches

REPO = Path(__file__).resolve().parents[1]
MODEL = ("resnet50", "s1s2")  # reads S2 and S1; any input size
PATCH = PatchId("ROIs1158_spring", 63, 100)
PATCH_ROWS = (12, 0, 0, 10, 0, 0, 0, 0, 0, 10)  # a 32x32 patch: Forest, Grassland, Water rows
# The function-scoped autouse cache fixture only sets paths; it holds no per-example state.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# float64 values beyond float32 overflow to inf when cast: numpy warns, the transform then refuses them.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


@pytest.fixture(scope="module")
def model(one_thread: None) -> sm.Sen12msClassifier:
    """A randomly initialized ResNet50 S1+S2 model (weights do not matter for robustness).

    Inputs are tiny and the cores shared: one thread is many times faster than several.
    """
    torch.manual_seed(0)
    return sm.load_model(*MODEL, pretrained=False)


# -- damaged GeoTIFF bytes, in a child process ------------------------------------------------------

#: (tag, value) written over one classic-TIFF IFD entry: sizes, layout, codec, pointers past the end.
TAG_EDITS = [
    (256, 0),  # ImageWidth
    (256, 65535),
    (257, 65535),  # ImageLength
    (258, 2**31),  # BitsPerSample (pointer to the per-band list)
    (259, 5),  # Compression: LZW on raw bytes
    (259, 50000),  # an unknown codec
    (273, 2**31),  # StripOffsets (pointer)
    (277, 0),  # SamplesPerPixel
    (277, 60000),
    (279, 2**31),  # StripByteCounts (pointer)
    (284, 2),  # PlanarConfiguration
    (339, 3),  # SampleFormat
]
STRUCTURE_BYTES = 512  # header, IFD, tag arrays and GeoKeys of these small files
TRUNCATIONS, STRUCTURE_FLIPS, ANYWHERE_FLIPS = 24, 48, 24
#: The reader is fuzzed, not the cloud test (arrays of any value reach it in the hypothesis tests below).
READER_ONLY = sm.InputOptions(clouds=False)
CASES_PER_SENSOR = TRUNCATIONS + STRUCTURE_FLIPS + ANYWHERE_FLIPS + len(TAG_EDITS)


def _set_tag(data: bytes, tag: int, value: int) -> bytes:
    """``data`` (a little-endian classic TIFF) with the value field of ``tag`` in its first IFD set."""
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0], 12):
        found, kind, count = struct.unpack_from("<HHI", data, entry)
        if found == tag:
            edited = bytearray(data)
            struct.pack_into("<H" if kind == 3 and count == 1 else "<I", edited, entry + 8, value)
            return bytes(edited)
    raise AssertionError(f"tag {tag} not in the file")


def geotiff_mutations(good: bytes, rng: np.random.Generator) -> Iterator[tuple[str, bytes]]:
    """Truncations, bit flips in the structure and anywhere, and edited TIFF tags of ``good``."""
    for cut in np.linspace(0, len(good) - 1, TRUNCATIONS).astype(int):
        yield f"truncated to {cut} bytes", good[:cut]
    for count, limit in ((STRUCTURE_FLIPS, STRUCTURE_BYTES), (ANYWHERE_FLIPS, len(good))):
        for _ in range(count):
            flipped = bytearray(good)
            positions = rng.integers(0, limit, size=rng.integers(1, 9))
            for position in positions:
                flipped[position] ^= 1 << int(rng.integers(0, 8))
            yield f"bits flipped at {sorted(positions.tolist())}", bytes(flipped)
    for tag, value in TAG_EDITS:
        yield f"tag {tag} set to {value}", _set_tag(good, tag, value)


def fuzz_geotiffs(root: Path) -> dict[str, object]:
    """Read and predict every mutation of a real S1 and S2 GeoTIFF; tally what happened."""
    write_triplet(root, PATCH, PATCH_ROWS, rng=np.random.default_rng(0), nan_fraction=0.05)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = sm.load_model(*MODEL, pretrained=False)
    rng = np.random.default_rng(2024)
    outcomes: dict[str, int] = {}
    unexpected = []
    for sensor, other in (("s1", "s2"), ("s2", "s1")):
        bad = root / "fuzzed" / PATCH.relative_path(sensor)  # type: ignore[arg-type]
        bad.parent.mkdir(parents=True, exist_ok=True)
        inputs = {other: root / PATCH.relative_path(other), sensor: bad}  # type: ignore[arg-type]
        good = (root / PATCH.relative_path(sensor)).read_bytes()  # type: ignore[arg-type]
        for case, data in geotiff_mutations(good, rng):
            bad.write_bytes(data)
            outcome = _read_and_predict(model, bad, inputs)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome not in ("ok", "PatchFileError", "ValueError"):
                unexpected.append(f"{sensor} {case}: {outcome}")
    return {"cases": sum(outcomes.values()), "outcomes": outcomes, "unexpected": unexpected}


def _read_and_predict(model: sm.Sen12msClassifier, path: Path, inputs: dict[str, Path]) -> str:
    """``ok`` if the file reads and predicts to finite probabilities, else what went wrong."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_patch(path)
            probabilities = sm.predict(model, **inputs, options=READER_ONLY).probabilities  # type: ignore[arg-type]
    except (sm.PatchFileError, ValueError) as error:
        return "PatchFileError" if isinstance(error, sm.PatchFileError) else "ValueError"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    if probabilities.shape != (1, 10) or not np.isfinite(probabilities).all():
        return f"bad probabilities {probabilities}"
    return "ok"


def test_damaged_geotiff_bytes_never_crash_and_never_give_nan(tmp_path: Path) -> None:
    script = (
        "import json, pathlib, sys; from tests.test_reliability_inputs import fuzz_geotiffs; "
        "print(json.dumps(fuzz_geotiffs(pathlib.Path(sys.argv[1]))))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, f"the fuzzing process died ({child.returncode}): {child.stderr[-3000:]}"
    report = json.loads(child.stdout.splitlines()[-1])
    assert report["unexpected"] == []
    assert report["cases"] == 2 * CASES_PER_SENSOR
    assert report["outcomes"]["ok"] > 0 and report["outcomes"]["PatchFileError"] > 0  # both paths exercised


# -- arrays of every dtype, layout and value, through Sen12msTransform and predict ------------------

NUMERIC = ("uint8", "uint16", "int16", "int32", "int64", "uint64", "float16", "float32", "float64")
NOT_NUMBERS = ("bool", "complex64", "U1")
VIEWS = ("contiguous", "fortran", "strided", "swapped")
SIZES = st.sampled_from((1, 2, 3, 4) * 3 + (0,))  # 0-sized now and then


def _view(array: np.ndarray, view: str) -> np.ndarray:
    """The same values as ``array`` in another memory layout (never negative strides: see below)."""
    if view == "fortran":
        return np.asfortranarray(array)
    if view == "strided" and array.ndim:
        return np.repeat(array, 2, axis=-1)[..., ::2]
    if view == "swapped" and array.ndim >= 2:
        return np.ascontiguousarray(np.swapaxes(array, -1, -2)).swapaxes(-1, -2)
    return array


def _specials(dtype: np.dtype) -> list[object]:
    """The values a hostile or broken input holds: NaN, infinities, extremes, negative numbers."""
    if dtype.kind == "f":
        return [np.nan, np.inf, -np.inf, np.finfo(dtype).max, np.finfo(dtype).min, -1.0]
    if dtype.kind in "iu":
        return [np.iinfo(dtype).max, np.iinfo(dtype).min]
    return []


@st.composite
def hostile_arrays(draw: st.DrawFn, dtypes: tuple[str, ...], shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``shape`` of any dtype in ``dtypes``, often with a special value planted, in any view."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    array = draw(arrays(dtype, shape))
    specials = _specials(dtype)
    if array.size and specials and draw(st.booleans()):
        array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from(specials))
    return _view(array, draw(st.sampled_from(VIEWS)))


@st.composite
def raw_arrays(draw: st.DrawFn, bands: int, dtypes: tuple[str, ...], layouts: tuple[str, ...]) -> np.ndarray:
    """Arrays a user might pass for a sensor of ``bands`` bands: any values of ``dtypes``, any view."""
    n, h, w = draw(SIZES), draw(SIZES), draw(SIZES)
    shape = {
        "CHW": (bands, h, w),
        "NCHW": (n, bands, h, w),
        "HWC": (h, w, bands),
        "NHWC": (n, h, w, bands),
        "fewer-bands": (n, bands - 1, h, w),
        "more-bands": (bands + 1, h, w),
        "HW": (h, w),
        "NNCHW": (1, n, bands, h, w),
    }[draw(st.sampled_from(layouts))]
    return draw(hostile_arrays(dtypes, shape))


def _as_passed(array: np.ndarray, as_tensor: bool) -> ArrayLike:
    return torch.from_numpy(array) if as_tensor and array.dtype.kind != "U" else array


def _problems(array: np.ndarray, name: str, bands: int) -> list[tuple[type, str]]:
    """Every documented error (type, message regex) ``array`` deserves as input ``name`` (NaN,
    infinities and out-of-range values are no data, not errors)."""
    problems: list[tuple[type, str]] = []
    if array.dtype.kind not in "iuf":
        problems.append((TypeError, rf"{name} must hold (real )?numbers"))
    if array.ndim not in (3, 4):
        problems.append((ValueError, re.escape(f"{name} must be (C, H, W) or (N, C, H, W)")))
    elif array.shape[-3] != bands:
        hint = r".*looks channels-last" if array.shape[-1] == bands else ""
        problems.append((ValueError, rf"{name} has {array.shape[-3]} bands on axis -3{hint}"))
    elif array.size == 0:
        problems.append((ValueError, f"{name} is empty"))
    return problems


def _float32(array: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return array.astype(np.float32)


def _expected_input(transform: Sen12msTransform, s1: np.ndarray | None, s2: np.ndarray | None) -> np.ndarray:
    """The published preprocessing and issue 21's fill rule, computed independently in float64:
    on the bands the model reads, a pixel without data (S2: NaN, +-inf, 65535 or below -1000 in a band,
    negative or 0 in all; S1: NaN, +-inf or below -100 dB in a band, 0 in both) becomes the band mean,
    0 standardized."""
    parts, fills = {}, {}
    for sensor, array, names, used in (
        ("s2", s2, S2_BANDS, transform.s2_bands_used),
        ("s1", s1, S1_BANDS, transform.s1_bands_used),
    ):
        if array is None or not used:
            continue
        values = _float32(array)[..., [names.index(b) for b in used], :, :].astype(np.float64)
        bad = ~np.isfinite(values) | ((values >= 65535) | (values < -1000) if sensor == "s2" else values < -100)
        fills[sensor] = bad.any(axis=-3) | (values == 0).all(axis=-3) | ((values < 0).all(axis=-3) & (sensor == "s2"))
        with np.errstate(invalid="ignore"):
            values = np.clip(values, -25.0, 0.0) if sensor == "s1" else values
        parts.update({band: (values[..., k, :, :], sensor) for k, band in enumerate(used)})
    channels = []
    for band, mean, std in zip(transform.bands, transform.mean, transform.std, strict=True):
        values, sensor = parts[band]
        with np.errstate(invalid="ignore", over="ignore"):
            channels.append(np.where(fills[sensor], 0.0, (values - mean) / std))
    return np.stack(channels, axis=-3)


def _check_transform(sensor: str, array: np.ndarray, as_tensor: bool) -> None:
    transform = Sen12msTransform.for_modality(sensor)
    bands = len(S2_BANDS) if sensor == "s2" else len(S1_BANDS)
    problems = _problems(array, sensor, bands)
    try:
        output = transform(**{sensor: _as_passed(array, as_tensor)})
    except (TypeError, ValueError) as error:
        assert any(isinstance(error, kind) and re.search(text, str(error)) for kind, text in problems), (
            f"{type(error).__name__}: {error}; expected one of {problems}"
        )
        event(f"refused: {type(error).__name__}")
        return
    event("accepted")
    assert not problems, f"accepted an input that deserves {problems}"
    assert output.dtype == torch.float32 and torch.isfinite(output).all()
    expected = _expected_input(transform, array if sensor == "s1" else None, array if sensor == "s2" else None)
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-5, atol=1e-5)


LAYOUTS = ("CHW", "NCHW") * 3 + ("HWC", "NHWC", "fewer-bands", "more-bands", "HW", "NNCHW")  # half valid


@settings(FUZZ, max_examples=200)
@given(
    array=raw_arrays(len(S2_BANDS), NUMERIC + NOT_NUMBERS, LAYOUTS),
    as_tensor=st.booleans(),
)
def test_any_s2_array_gives_the_published_input_or_a_clear_error(array: np.ndarray, as_tensor: bool) -> None:
    _check_transform("s2", array, as_tensor)


@settings(FUZZ, max_examples=100)
@given(
    array=raw_arrays(len(S1_BANDS), NUMERIC + NOT_NUMBERS, LAYOUTS),
    as_tensor=st.booleans(),
)
def test_any_s1_array_gives_the_published_input_or_a_clear_error(array: np.ndarray, as_tensor: bool) -> None:
    _check_transform("s1", array, as_tensor)


@st.composite
def patch_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """An S1 and an S2 input of the same patches (one, or a batch) with any numeric dtype, value, view."""
    batch, h, w = draw(st.sampled_from([(), (1,), (2,)])), draw(SIZES.filter(bool)), draw(SIZES.filter(bool))
    return draw(hostile_arrays(NUMERIC, (*batch, len(S1_BANDS), h, w))), draw(
        hostile_arrays(NUMERIC, (*batch, len(S2_BANDS), h, w))
    )


@settings(FUZZ, max_examples=60)
@given(pair=patch_pairs(), as_tensor=st.booleans())
def test_any_numeric_patch_gives_the_models_probabilities_or_a_clear_error(
    model: sm.Sen12msClassifier, pair: tuple[np.ndarray, np.ndarray], as_tensor: bool
) -> None:
    """With the unit, cloud and no-data checks off (they have their own tests), any numbers give the
    published preprocessing with no-data pixels set to the band means."""
    s1, s2 = pair
    problems = _problems(s2, "s2", len(S2_BANDS))
    anything = sm.InputOptions(check_units=False, clouds=False, min_valid=0)
    try:
        prediction = sm.predict(model, s1=_as_passed(s1, as_tensor), s2=_as_passed(s2, as_tensor), options=anything)
    except ValueError as error:
        assert any(re.search(text, str(error)) for _, text in problems), f"{error}; expected one of {problems}"
        event("refused: ValueError")
        return
    event("predicted")
    assert not problems, f"accepted an input that deserves {problems}"
    x = torch.from_numpy(_expected_input(model.spec.transforms, s1, s2).astype(np.float32))
    with torch.inference_mode():
        expected = torch.sigmoid(model(x if x.ndim == 4 else x[None])).numpy()
    probabilities = prediction.probabilities
    assert np.isfinite(probabilities).all() and ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-4)


def test_weights_holding_nan_make_predict_fail_not_answer_nan(tmp_path: Path, model: sm.Sen12msClassifier) -> None:
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["fc.bias"] = torch.full_like(state["fc.bias"], float("nan"))
    path = tmp_path / "nan.safetensors"
    path.write_bytes(save(state))
    with pytest.warns(sm.UnverifiedWeightsWarning):
        broken = sm.load_model(*MODEL, weights=path)
    with pytest.raises(RuntimeError, match=r"the model gave non-finite outputs for patches 0\.\.0"):
        s1, s2 = clear_patches(1, 8)
        sm.predict(broken, s1=s1, s2=s2)


# -- gaps this suite found, now fixed ---------------------------------------------------------------


def test_a_flipped_view_is_read_like_its_copy() -> None:
    """np.flip gives a view with negative strides; the transform should copy it, not refuse it."""
    s2 = np.random.default_rng(0).integers(0, 5000, (13, 4, 4)).astype(np.float32)
    transform = Sen12msTransform.for_modality("s2")
    torch.testing.assert_close(transform(s2=np.flip(s2, -1)), transform(s2=np.flip(s2, -1).copy()))


def test_an_empty_batch_is_refused_naming_the_argument(model: sm.Sen12msClassifier) -> None:
    with pytest.raises(ValueError, match=r"s2 is empty"):
        sm.predict(model, s1=np.zeros((0, 2, 8, 8), np.float32), s2=np.zeros((0, 13, 8, 8), np.uint16))
