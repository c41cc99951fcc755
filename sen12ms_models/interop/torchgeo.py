"""torchgeo's ``SEN12MS`` samples as input for these models (docs/ecosystem.md).

torchgeo's ``image`` holds S1 (dB) first, then S2 (DN); our models read S2 first in their own order, so
``FromTorchGeoSen12ms`` picks and standardizes each band by name, and turns ``mask`` into the scene label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sen12ms_models.bands import S1_BANDS, S2_BANDS, TORCHGEO_SEN12MS_BANDS, canonical_band
from sen12ms_models.labels import class_probabilities, label_target
from sen12ms_models.weights import Sen12msWeights, get_weights


class FromTorchGeoSen12ms:
    """A torchgeo ``transforms=`` callable: sample in, ``image`` standardized for ``model`` and ``label`` out.

    Args:
        model: a model name or weights enum member.
        bands: the band names of torchgeo's ``image`` (its ``bands`` argument, ``B02`` or ``B2``
            alike; default all 15, S1 first).

    Raises:
        ValueError: ``bands`` lacks bands the model reads (named).
    """

    def __init__(self, model: str | Sen12msWeights, bands: Sequence[str] = TORCHGEO_SEN12MS_BANDS) -> None:
        self.weights = get_weights(model)
        names = [canonical_band(b, "s1") or canonical_band(b, "s2") or b for b in bands]
        transform = self.weights.transforms()
        if missing := [b for b in transform.bands if b not in names]:
            raise ValueError(f"{self.weights.value} reads bands {missing}; the torchgeo dataset has only {list(bands)}")
        #: Where each sensor's bands sit in ``image``, in the order the transform is told.
        self._rows = {
            sensor: [i for i, b in enumerate(names) if b in known]
            for sensor, known in (("s1", S1_BANDS), ("s2", S2_BANDS))
        }
        self._transform = transform.replace(
            s1_bands=tuple(names[i] for i in self._rows["s1"]) or S1_BANDS,
            s2_bands=tuple(names[i] for i in self._rows["s2"]) or S2_BANDS,
        )

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        used = {"s1": self._transform.s1_bands_used, "s2": self._transform.s2_bands_used}
        parts = {sensor: sample["image"][..., rows, :, :] for sensor, rows in self._rows.items() if used[sensor]}
        out = {**sample, "image": self._transform(**parts)}
        if "mask" in sample:
            shares = class_probabilities(np.asarray(sample["mask"]), name="mask")
            out["label"] = torch.from_numpy(label_target(shares, self.weights.label_type))
        return out
