"""A model that is exactly right on the synthetic class spectra, and patches of those spectra: input
faults show up as wrong labels, never as a model's noise."""

from __future__ import annotations

import numpy as np
import torch

import sen12ms_models as sm
from sen12ms_models.classes import CLASSES
from sen12ms_models.synthetic import CLASS_S1_DB, CLASS_S2_DN

SIZE = 32
ALL = list(range(10))


class SpectrumModel(sm.Sen12msClassifier):
    """Logit_k = -T |median - c_k|^2 over the standardized channels: the nearest class spectrum."""

    arch = "spectrum"

    def __init__(self, modality: str) -> None:
        super().__init__()
        spec = sm.ModelSpec.of(sm.get_weights("resnet50", modality, "single"))
        self.spec, self.in_chans, self.num_classes = spec, spec.in_chans, 10
        centres = spec.transforms(
            s1=torch.from_numpy(CLASS_S1_DB[:, :, None, None]).float(),
            s2=torch.from_numpy(CLASS_S2_DN[:, :, None, None]).float(),
        )
        self.centres = torch.nn.Parameter(centres.reshape(10, spec.in_chans), requires_grad=False)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        median = feature_map.flatten(2).median(dim=2).values
        return -20.0 * ((median[:, None, :] - self.centres) ** 2).sum(dim=-1)

    def first_conv(self) -> torch.nn.Parameter:  # type: ignore[override]
        return self  # what the input's dtype is checked against: the centres' float32

    @property
    def weight(self) -> torch.Tensor:
        return self.centres


def class_patches(classes: list[int] = ALL, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """S1 (dB, float32) and S2 (DN, uint16) patches ``(N, C, 32, 32)``, one class each."""
    rng = np.random.default_rng(seed)
    s2 = CLASS_S2_DN[classes][:, :, None, None] * rng.normal(1.0, 0.05, (len(classes), 13, SIZE, SIZE))
    s1 = CLASS_S1_DB[classes][:, :, None, None] + rng.normal(0.0, 0.5, (len(classes), 2, SIZE, SIZE))
    return s1.astype(np.float32), np.clip(s2, 1, 65535).astype(np.uint16)


def labels(prediction: sm.Prediction) -> list[str]:
    return [names[0] for names in prediction.labels]


def labels_of(logits: torch.Tensor) -> list[str]:
    return [CLASSES[i] for i in logits.argmax(dim=1).tolist()]


def expected(classes: list[int] = ALL) -> list[str]:
    return [CLASSES[c] for c in classes]
