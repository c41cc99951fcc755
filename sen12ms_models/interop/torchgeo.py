"""torchgeo's ``SEN12MS`` dataset as input for these models: a transform for its samples.

torchgeo returns ``{"image": (C, H, W), "mask": (H, W)}`` with ``image`` holding the chosen
``bands`` of S1 FIRST (VV, VH in dB) then S2 (``B01``..``B12`` in DN, zero-padded names), and
``mask`` the IGBP layer of the LC patch. Our models read S2 first in their own band order, so
feeding ``image`` straight in would swap channels silently. ``FromTorchGeoSen12ms`` picks each
band the model needs by name, standardizes it as the model was trained (``spec.transforms``),
and turns ``mask`` into the model's scene label (multi: classes covering >= 10 %; single: the
dominant class), so torchgeo's loaders can train and evaluate these models::

    from torchgeo.datasets import SEN12MS
    from sen12ms_models.interop.torchgeo import FromTorchGeoSen12ms

    data = SEN12MS("/data/SEN12MS", split="train", transforms=FromTorchGeoSen12ms("resnet50-s1s2-multi"))
    sample = data[0]  # sample["image"]: (12, 256, 256) standardized; sample["label"]: (10,) float 0/1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sen12ms_models.bands import S1_BANDS, TORCHGEO_SEN12MS_BANDS
from sen12ms_models.inputs.identity import canonical_band, split_stack
from sen12ms_models.labels import class_probabilities, label_target
from sen12ms_models.models.spec import WeightsSpec, get_weights


class FromTorchGeoSen12ms:
    """A torchgeo ``transforms=`` callable: sample in, ``image`` standardized for ``model`` and ``label`` out.

    ``model`` is a model name or ``WeightsSpec``; ``bands`` the band names of torchgeo's ``image``
    (its ``bands`` argument, ``B02`` or ``B2`` alike; default all 15, S1 first). Raises
    ``ValueError`` naming the bands the model needs that ``bands`` lacks.
    """

    def __init__(self, model: str | WeightsSpec, bands: Sequence[str] = TORCHGEO_SEN12MS_BANDS) -> None:
        self.spec = get_weights(model) if isinstance(model, str) else model
        self.bands = tuple(bands)
        names = [canonical_band(b, "s1") or canonical_band(b, "s2") or b for b in self.bands]
        transform = self.spec.transforms
        missing = [b for b in transform.bands if b not in names]
        if missing:
            raise ValueError(f"{self.spec.name} reads bands {missing}; the torchgeo dataset has only {list(bands)}")
        self._s2_bands = tuple(b for b in names if b not in S1_BANDS)
        self._transform = transform.with_s2_bands(self._s2_bands) if transform.s2_bands_used else transform

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        s1, s2 = split_stack(sample["image"], self.bands, s2_bands=self._s2_bands)
        reads = self._transform
        out = {
            **sample,
            "image": reads(s1=s1 if reads.s1_bands_used else None, s2=s2 if reads.s2_bands_used else None),
        }
        if "mask" in sample:
            shares = class_probabilities(np.asarray(sample["mask"]), name="mask")
            out["label"] = torch.from_numpy(label_target(shares, str(self.spec.label_type)))
        return out
