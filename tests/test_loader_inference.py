"""The device inference path (models.optimize.predict_on_device): predict's probabilities, any precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sen12ms_models as sm
from sen12ms_models.models.optimize import device_batches, inference_precision, predict_on_device


@pytest.fixture(scope="module")
def model_and_patches() -> tuple[sm.Sen12msClassifier, np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s1s2", pretrained=False)
    rng = np.random.default_rng(0)
    s1 = rng.normal(-12, 4, (6, 2, 64, 64)).astype(np.float32)
    s1[0, 0, :3] = np.nan  # raw S1 as SEN12MS ships it: NaN in places
    s2 = rng.integers(0, 5000, (6, 13, 64, 64)).astype(np.uint16)
    return model, s1, s2


def test_fp32_on_the_device_gives_predicts_probabilities(model_and_patches, one_thread) -> None:
    model, s1, s2 = model_and_patches
    expected = sm.predict(model, s1=s1, s2=s2, batch_size=4).probabilities
    fast = sm.optimize_for_inference(model)
    actual = predict_on_device(fast, s1, s2, batch_size=4, precision="fp32")
    assert actual.shape == (6, 10) and actual.dtype == torch.float32
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-4, atol=1e-5)
    bf16 = predict_on_device(fast, s1, s2, batch_size=4, precision="bf16")
    np.testing.assert_allclose(bf16.numpy(), expected, atol=0.05)  # bf16 keeps ~3 significant digits


def test_precision_flags_are_restored_and_unknown_precisions_refused() -> None:
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with inference_precision("tf32", torch.device("cpu")):
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    with inference_precision("fp32", torch.device("cpu")):
        assert not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with (
        pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16"),
        inference_precision("fp16", torch.device("cpu")),
    ):
        pass


def test_staged_device_batches_are_the_arrays_slices() -> None:
    rng = np.random.default_rng(1)
    arrays = {
        "s1": rng.normal(size=(11, 2, 8, 8)).astype(np.float32),
        "s2": rng.integers(0, 9, (11, 13, 8, 8), np.uint16),
    }
    cpu = torch.device("cpu")
    views = list(device_batches(arrays, 4, cpu))
    staged = list(device_batches(arrays, 4, cpu, threads=3, stage=True))  # the threaded copy CUDA uses
    assert [len(b["s2"]) for b in staged] == [4, 4, 3]
    for view, copy in zip(views, staged, strict=True):
        assert {k: (v.dtype, v.numpy().tobytes()) for k, v in view.items()} == {
            k: (v.dtype, v.numpy().tobytes()) for k, v in copy.items()
        }
    assert np.shares_memory(views[0]["s2"].numpy(), arrays["s2"])  # without staging: views, no copy
    assert not np.shares_memory(staged[0]["s2"].numpy(), arrays["s2"])


def test_non_finite_outputs_are_reported_with_the_first_patch(model_and_patches) -> None:
    model, s1, s2 = model_and_patches
    broken = sm.optimize_for_inference(model)
    with torch.no_grad():
        broken.fc.bias[3] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite outputs for patch 0"):
        predict_on_device(broken, s1, s2, batch_size=4)
