"""Band identity: which band is which, from the names a file or a dataset gives them.

GeoTIFF band descriptions often name their bands (``"VH"``, ``"B02"``, ``"Sigma0_VV_db"``,
``"B8A (865 nm)"``); when every band of a file is named, the names decide the order instead of
the position. Names are normalized to this library's spelling (``B02`` -> ``B2``, ``b8a`` ->
``B8A``, ``vv`` -> ``VV``). ``split_stack`` splits one stacked array (torchgeo's SEN12MS
``image``: S1 first, then S2) into the ``s1``/``s2`` arrays the models expect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from sen12ms_models.bands import S1_BANDS, S2_BANDS

#: Polarisations a Sentinel-1 band description may name. HH/HV (polar regions) are recognized
#: only to be refused with a clear error: the models were trained on VV, VH.
S1_POLARISATIONS = ("VV", "VH", "HH", "HV")

_S2_NAME = re.compile(r"(?<![A-Z0-9])B0?(1[0-2]|[1-9]|8A)(?![0-9A-Z])")
_S1_NAME = re.compile(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])")


def canonical_band(name: str | None, sensor: str) -> str | None:
    """This library's name of the band a description ``name`` names, or ``None`` if unclear.

    ``sensor`` is ``"s1"`` or ``"s2"``. A description that names two bands (``"VV/VH"``) or none
    is unclear.
    """
    if not name:
        return None
    text = name.upper().replace("_", " ")
    found = set((_S1_NAME if sensor == "s1" else _S2_NAME).findall(text))
    if len(found) != 1:
        return None
    band = found.pop()
    return band if sensor == "s1" else f"B{band}"


def bands_from_descriptions(descriptions: Sequence[str | None], sensor: str) -> tuple[str, ...] | None:
    """The band of every description, or ``None`` unless each names exactly one distinct band."""
    names = [canonical_band(d, sensor) for d in descriptions]
    if not names or any(n is None for n in names) or len(set(names)) != len(names):
        return None
    return tuple(names)  # type: ignore[arg-type]


def band_positions(have: Sequence[str], want: Sequence[str], where: str) -> list[int]:
    """0-based position in ``have`` of each band of ``want``; ``ValueError`` naming what is missing."""
    missing = [b for b in want if b not in have]
    if missing:
        raise ValueError(f"{where}: holds bands {list(have)}, which lack {missing} (needed: {list(want)})")
    return [list(have).index(b) for b in want]


def split_stack(
    image: np.ndarray | torch.Tensor,
    bands: Sequence[str],
    *,
    s2_bands: Sequence[str] = S2_BANDS,
) -> tuple[np.ndarray | torch.Tensor | None, np.ndarray | torch.Tensor | None]:
    """Split a stacked ``(C, H, W)``/``(N, C, H, W)`` array whose bands are ``bands`` into
    ``(s1, s2)``: S1 as VV, VH (``None`` if absent) and S2 in ``s2_bands`` order (``None`` if
    absent).

    >>> from sen12ms_models.bands import TORCHGEO_SEN12MS_BANDS
    >>> s1, s2 = split_stack(sample["image"], TORCHGEO_SEN12MS_BANDS)   # doctest: +SKIP
    """
    bands = [canonical_band(b, "s1") or canonical_band(b, "s2") or b for b in bands]
    if image.shape[-3] != len(bands):
        raise ValueError(
            f"image has {image.shape[-3]} bands on axis -3 (shape {tuple(image.shape)}), bands names {len(bands)}"
        )
    s1 = s2 = None
    if any(b in S1_BANDS for b in bands):
        s1 = image[..., band_positions(bands, S1_BANDS, "image"), :, :]
    if any(b in S2_BANDS for b in bands):
        s2 = image[..., band_positions(bands, s2_bands, "image"), :, :]
    return s1, s2
