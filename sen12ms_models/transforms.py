"""Raw Sentinel-1/2 patches in, model input out: the published baselines' preprocessing, exactly.

S1 (dB, bands VV, VH): NaN -> 0, then clip to [-25, 0]. S2 (DN): cast to float32, no clipping.
Then the modality's bands are taken in the network's order and standardized per channel with
the training-set statistics. Works on numpy arrays or tensors, one patch ``(C, H, W)`` or a
batch ``(N, C, H, W)``, in one vectorized pass.

>>> from sen12ms_models.transforms import Sen12msTransform
>>> transform = Sen12msTransform.for_modality("s1s2")
>>> x = transform(s1=s1_db, s2=s2_dn)          # (12, 256, 256) float32 tensor  # doctest: +SKIP

If your Sentinel-2 product has another band list (say 12-band L2A without B10), name it so
the right bands are picked instead of silently shifted ones::

    transform = Sen12msTransform.for_modality("s2", s2_bands=L2A_BANDS)   # bands.L2A_BANDS

Sentinel-2 products of processing baseline 04.00 and later (every product since 25 January
2022) carry +1000 on every DN; SEN12MS does not. Subtract it with ``s2_offset=1000``
(``with_s2_offset(1000)``) unless the file declares it (then ``read_patch`` already applied it).
Checks of units and no-data, and the corrections they make, live in ``sen12ms_models.inputs``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sen12ms_models.bands import BAND_MEAN, BAND_STD, S1_BANDS, S1_CLIP_DB, S2_BANDS, is_s1_band, modality_bands
from sen12ms_models.inputs.arrays import ArrayLike, as_float_tensor


@dataclass(frozen=True)
class Sen12msTransform:
    """Channel selection and standardization for one set of model input ``bands``.

    ``mean``/``std`` hold one value per entry of ``bands``. ``s2_bands`` names the bands of the
    S2 arrays you pass, in their order (default: the 13 SEN12MS bands, B1..B12). ``s2_offset``
    is subtracted from every S2 value before standardization (1000 for baseline >= 04.00 DN).
    """

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    s2_bands: tuple[str, ...] = S2_BANDS
    s2_offset: float = 0

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.mean) == len(self.std)):
            raise ValueError(
                f"bands, mean and std must have the same length, got {len(self.bands)}, "
                f"{len(self.mean)} and {len(self.std)}"
            )
        if not np.isfinite(self.s2_offset) or self.s2_offset < 0:
            raise ValueError(f"s2_offset must be a finite number >= 0 (e.g. 1000), got {self.s2_offset}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        unknown = [b for b in self.bands if not is_s1_band(b) and b not in S2_BANDS]
        if unknown:
            raise ValueError(f"unknown band name(s) {unknown}; known: {S2_BANDS + S1_BANDS}")
        missing = [b for b in self.s2_bands_used if b not in self.s2_bands]
        if missing:
            raise ValueError(
                f"the model needs S2 band(s) {missing}, which s2_bands={list(self.s2_bands)} does not contain"
            )

    @classmethod
    def for_modality(
        cls, modality: str, s2_bands: Sequence[str] = S2_BANDS, *, s2_offset: float = 0
    ) -> Sen12msTransform:
        """The published preprocessing of ``modality`` (``rgb``, ``s2``, ``s1s2``, ``s1``, ``s1rgb``)."""
        bands = modality_bands(modality)
        return cls(
            bands=bands,
            mean=tuple(BAND_MEAN[b] for b in bands),
            std=tuple(BAND_STD[b] for b in bands),
            s2_bands=tuple(s2_bands),
            s2_offset=s2_offset,
        )

    def with_s2_bands(self, s2_bands: Sequence[str]) -> Sen12msTransform:
        """The same transform for S2 arrays whose bands are ``s2_bands``, in that order."""
        return dataclasses.replace(self, s2_bands=tuple(s2_bands))

    def with_s2_offset(self, s2_offset: float) -> Sen12msTransform:
        """The same transform for S2 DN that carry ``s2_offset`` (1000: processing baseline >= 04.00)."""
        return dataclasses.replace(self, s2_offset=s2_offset)

    @property
    def s1_bands_used(self) -> tuple[str, ...]:
        """The S1 bands the model reads, in the network's order."""
        return tuple(b for b in self.bands if is_s1_band(b))

    @property
    def s2_bands_used(self) -> tuple[str, ...]:
        """The S2 bands the model reads, in the network's order."""
        return tuple(b for b in self.bands if not is_s1_band(b))

    def __call__(self, s1: ArrayLike | None = None, s2: ArrayLike | None = None) -> torch.Tensor:
        """Return the standardized model input, ``(C, H, W)`` or ``(N, C, H, W)`` float32.

        The output is on the device of the input tensors. Raises ``ValueError``/``TypeError``
        naming the argument on a wrong band count, dtype, shape, a missing input, non-finite
        S2 values or S1/S2 shapes that do not match.
        """
        parts: dict[str, torch.Tensor] = {}
        if self.s2_bands_used:
            s2_tensor = _as_float_tensor(s2, "s2", self.s2_bands)
            index = [self.s2_bands.index(b) for b in self.s2_bands_used]
            selected = s2_tensor[..., index, :, :]
            _require_finite(selected, "s2", self.s2_bands_used)
            parts["s2"] = selected - self.s2_offset if self.s2_offset else selected
        if self.s1_bands_used:
            s1_tensor = _as_float_tensor(s1, "s1", S1_BANDS)
            index = [S1_BANDS.index(b) for b in self.s1_bands_used]
            parts["s1"] = torch.nan_to_num(s1_tensor[..., index, :, :], nan=0.0).clamp_(*S1_CLIP_DB)
        if (
            "s1" in parts
            and "s2" in parts
            and parts["s1"].shape[:-3] + parts["s1"].shape[-2:] != (parts["s2"].shape[:-3] + parts["s2"].shape[-2:])
        ):
            raise ValueError(
                f"s1 and s2 do not cover the same patches: s1 has shape {tuple(s1.shape)}, "  # type: ignore[union-attr]
                f"s2 has shape {tuple(s2.shape)}"  # type: ignore[union-attr]
            )
        stacked = torch.cat([parts[source] for source in ("s2", "s1") if source in parts], dim=-3)
        order = self.s2_bands_used + self.s1_bands_used
        if order != self.bands:
            stacked = stacked[..., [order.index(b) for b in self.bands], :, :]
        mean = torch.tensor(self.mean, dtype=torch.float32, device=stacked.device)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32, device=stacked.device)[:, None, None]
        return ((stacked - mean) / std).contiguous()


def _as_float_tensor(array: ArrayLike | None, name: str, band_names: tuple[str, ...]) -> torch.Tensor:
    """Validate ``array`` as ``(C, H, W)``/``(N, C, H, W)`` with ``len(band_names)`` bands."""
    return as_float_tensor(array, name, band_names)


def _require_finite(tensor: torch.Tensor, name: str, band_names: tuple[str, ...]) -> None:
    finite_per_band = torch.isfinite(tensor).transpose(0, -3).reshape(tensor.shape[-3], -1).all(dim=1)
    if not bool(finite_per_band.all()):
        bad = [b for b, ok in zip(band_names, finite_per_band.tolist(), strict=False) if not ok]
        raise ValueError(f"{name} holds NaN or infinite values in band(s) {bad}")
