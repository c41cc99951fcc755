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

from sen12ms_models.bands import S1_BANDS, S2_BANDS
from sen12ms_models.labels import class_probabilities, multi_label, single_label
from sen12ms_models.models.spec import WeightsSpec, get_weights

#: The 15 band names of torchgeo's ``SEN12MS.band_names``, the order of its full ``image``.
TORCHGEO_BANDS: tuple[str, ...] = (*S1_BANDS, *(b if b == "B8A" else f"B{int(b[1:]):02d}" for b in S2_BANDS))


def _our_band_name(name: str) -> str:
    """torchgeo's ``B02`` is this package's ``B2``; ``B8A``, ``VV`` and ``VH`` are the same."""
    return name if name in S1_BANDS or name == "B8A" else f"B{int(name[1:])}"


class FromTorchGeoSen12ms:
    """A torchgeo ``transforms=`` callable: sample in, ``image`` standardized for ``model`` and ``label`` out.

    ``model`` is a model name or ``WeightsSpec``; ``bands`` the torchgeo band names the dataset was
    built with (its ``bands`` argument; default all 15). Raises ``ValueError`` naming the bands the
    model needs that ``bands`` lacks.
    """

    def __init__(self, model: str | WeightsSpec, bands: Sequence[str] = TORCHGEO_BANDS) -> None:
        self.spec = get_weights(model) if isinstance(model, str) else model
        names = [_our_band_name(b) for b in bands]
        transform = self.spec.transforms
        missing = [b for b in transform.bands if b not in names]
        if missing:
            raise ValueError(
                f"{self.spec.name} reads bands {missing}, which the torchgeo dataset's bands {list(bands)} lack"
            )
        self._s1 = [names.index(b) for b in S1_BANDS] if transform.s1_bands_used else None
        s2_names = [b for b in names if b not in S1_BANDS]
        self._s2 = [names.index(b) for b in s2_names] if transform.s2_bands_used else None
        self._transform = transform.with_s2_bands(s2_names) if self._s2 is not None else transform

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        image = sample["image"]
        s1 = image[..., self._s1, :, :] if self._s1 is not None else None
        s2 = image[..., self._s2, :, :] if self._s2 is not None else None
        out = {**sample, "image": self._transform(s1=s1, s2=s2)}
        if "mask" in sample:
            shares = class_probabilities(np.asarray(sample["mask"]), name="mask")
            if self.spec.label_type == "single":
                out["label"] = torch.as_tensor(single_label(shares), dtype=torch.long)
            else:
                out["label"] = torch.as_tensor(multi_label(shares), dtype=torch.float32)
        return out
