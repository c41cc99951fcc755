"""Stub networks and painted scenes whose classes per window are known, for mapping and input tests.

Two stub networks make the output predictable. ``centroid_model`` classifies a window by the
nearest class spectrum (``CLASS_S2_DN``) to its mean, so a scene painted with class spectra has
known classes per window. ``probe_model`` turns the mean raw value of input channel ``j`` into
output ``j`` through an invertible sigmoid, so the probabilities tell which pixels a window read.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.enums import ColorInterp
from torch import nn

import sen12ms_models as sm
from sen12ms_models.synthetic import CLASS_S2_DN

#: Class of each 256x256 block of the 768x1024 class scene.
BLOCK_CLASSES = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 5]])


class WindowMeanModel(sm.Sen12msClassifier):
    """A stub network: ``head`` applied to the per-channel mean of the standardized window."""

    arch = "window-mean"

    def __init__(self, weights: sm.Sen12msWeights, head: nn.Module) -> None:
        super().__init__()
        self.spec, self.in_chans, self.num_classes, self.head = sm.ModelSpec.of(weights), weights.in_chans, 10, head

    def first_conv(self) -> nn.Module:  # the input's dtype is checked against it
        return self.head if isinstance(self.head, nn.Linear) else self.head.probe

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_feature_map(x))

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.head(feature_map.mean(dim=(-2, -1)))


class NearestSpectrum(nn.Module):
    """Logit_k = -T |m - c_k|^2: highest for the class spectrum ``c_k`` nearest the window mean."""

    def __init__(self, centres: torch.Tensor, temperature: float = 20.0) -> None:
        super().__init__()
        self.centres = nn.Parameter(centres, requires_grad=False)
        self.temperature = temperature
        self.probe = nn.Linear(1, 1)  # a float32 weight to compare the input's dtype with

    def forward(self, mean: torch.Tensor) -> torch.Tensor:
        return -self.temperature * ((mean[:, None, :] - self.centres) ** 2).sum(dim=-1)


def centroid_model(label_type: str = "multi") -> WindowMeanModel:
    """Classifies a window of class spectra (``CLASS_S2_DN``) by its B2, B3, B4 mean."""
    weights = sm.get_weights("resnet50", "rgb", label_type)
    centres = weights.transforms()(s2=CLASS_S2_DN[:, :, None, None]).reshape(10, 3)
    return WindowMeanModel(weights, NearestSpectrum(centres))


def probe_model(modality: str, centre: list[float], scale: list[float]) -> WindowMeanModel:
    """Output j = sigmoid((raw mean of channel j - centre[j]) / scale[j]); other outputs 0.5."""
    weights = sm.get_weights("resnet50", modality)
    transform = weights.transforms()
    head = nn.Linear(weights.in_chans, 10)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        for j, (c, s) in enumerate(zip(centre, scale, strict=True)):
            head.weight[j, j] = transform.std[j] / s
            head.bias[j] = (transform.mean[j] - c) / s
    return WindowMeanModel(weights, head)


def decode(p: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """The raw window mean a ``probe_model`` output stands for."""
    p = p.astype(np.float64)
    return centre + scale * np.log(p / (1 - p))


@cache
def class_scene() -> np.ndarray:
    """13-band uint16 DN, 768x1024: each 256x256 block holds its ``BLOCK_CLASSES`` spectrum.

    Built once and shared, so it is read-only: a test that changes it fails instead of changing the others.
    """
    pixel_class = np.kron(BLOCK_CLASSES, np.ones((256, 256), dtype=int))
    mean = CLASS_S2_DN[pixel_class].transpose(2, 0, 1)
    noise = np.random.default_rng(0).normal(1.0, 0.05, mean.shape)
    scene = np.clip(mean * noise, 1, 65535).astype(np.uint16)
    scene.setflags(write=False)
    return scene


def position_scene(height: int, width: int) -> np.ndarray:
    """13-band uint16: B2 = column index, B3 = row index, every other band 1000."""
    scene = np.full((13, height, width), 1000, dtype=np.uint16)
    scene[1] = np.arange(width)[None, :]
    scene[2] = np.arange(height)[:, None]
    return scene


POSITION_PROBE = {"centre": [512.0, 512.0], "scale": [256.0, 256.0]}
#: Thick cloud: bright and flat top-of-atmosphere reflectance from blue to SWIR, B10 lit by high tops.
CLOUD_DN = np.array([6000, 6200, 6100, 6000, 6000, 6000, 5900, 5800, 5800, 3000, 1500, 4500, 3500], np.float64)


def clouded(scene: np.ndarray, rows: slice, cols: slice, seed: int = 1) -> np.ndarray:
    """A copy of the 13-band ``scene`` with pixels ``rows, cols`` under thick cloud."""
    out = scene.copy()
    block = out[:, rows, cols]
    noise = np.random.default_rng(seed).normal(1.0, 0.03, block.shape)
    out[:, rows, cols] = np.clip(CLOUD_DN[:, None, None] * noise, 1, 65534).astype(scene.dtype)
    return out


def read(path: Path) -> tuple[np.ndarray, rasterio.profiles.Profile, dict]:
    with rasterio.open(path) as dataset:
        info = {
            "descriptions": dataset.descriptions,
            "colormap": dataset.colormap(1) if dataset.colorinterp[0] == ColorInterp.palette else None,
            "mask": dataset.read_masks(1),
            "scales": dataset.scales,
        }
        return dataset.read(), dataset.profile, info
