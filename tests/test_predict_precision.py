"""``predict`` in each inference precision: fp32 (the published arithmetic), TF32, bf16 autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sen12ms_models as sm
from sen12ms_models.models.api import inference_precision
from tests.support.patches import clear_patches


@pytest.fixture(scope="module")
def model_and_patches() -> tuple[sm.Sen12msClassifier, np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s1s2", pretrained=False)
    s1, s2 = clear_patches(6, 64, "Croplands")
    s1[0, 0, :3] = np.nan  # raw S1 as SEN12MS ships it: NaN in places
    return model, s1, s2


def test_each_precision_gives_the_fp32_probabilities_within_its_rounding(model_and_patches, one_thread) -> None:
    model, s1, s2 = model_and_patches
    expected = sm.predict(model, s1=s1, s2=s2, batch_size=4).probabilities
    fast = sm.optimize_for_inference(model)
    actual = sm.predict(fast, s1=s1, s2=s2, batch_size=4, precision="fp32").probabilities
    assert actual.shape == (6, 10) and actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)
    bf16 = sm.predict(fast, s1=s1, s2=s2, batch_size=4, precision="bf16").probabilities
    np.testing.assert_allclose(bf16, expected, atol=0.05)  # bf16 keeps ~3 significant digits
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16"):
        sm.predict(fast, s1=s1, s2=s2, precision="fp16")


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


def test_non_finite_outputs_are_reported_with_the_first_patch(model_and_patches) -> None:
    model, s1, s2 = model_and_patches
    broken = sm.optimize_for_inference(model)
    with torch.no_grad():
        broken.fc.bias[3] = float("nan")
    with pytest.raises(RuntimeError, match=r"non-finite outputs for patches 0\.\.3"):
        sm.predict(broken, s1=s1, s2=s2, batch_size=4, precision="bf16")
