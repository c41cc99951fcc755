"""The published preprocessing (Schmitt & Wu, 2021) and the one no-data rule: raw S1 dB + S2 DN in,
standardized model input out. A pixel without data gets its band's training mean (0 once standardized)
in every channel of that sensor, where the toolbox set S1 NaN to 0 dB (which made swath edges Urban).

>>> transform = Sen12msTransform.for_modality("s1s2")
>>> x = transform(s1=s1_db, s2=s2_dn)  # (12, 256, 256) float32  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sen12ms_models.bands import (
    BAND_MEAN,
    BAND_STD,
    S1_BANDS,
    S1_CLIP_DB,
    S1_FILL_BELOW_DB,
    S2_BANDS,
    S2_BASELINE_04_OFFSET,
    S2_NODATA,
    S2_SATURATED,
    is_s1_band,
    modality_bands,
)

ArrayLike = np.ndarray | torch.Tensor


def s2_invalid(s2: torch.Tensor, offset: float = 0) -> torch.Tensor:
    """``(..., H, W)`` bool: the pixels of raw S2 ``(..., C, H, W)`` with NaN, +-inf, 65535 (L1C
    ``SATURATED``) or a value more than ``S2_BASELINE_04_OFFSET`` below ``offset`` (signed fill such as
    -9999) in a band, every band below ``offset`` (fill such as -1) or 0 (L1C ``NODATA``) in every band.
    A few bands slightly below ``offset`` are dark surfaces (water in SWIR after an offset), not fill."""
    low, high = s2.amin(dim=-3), s2.amax(dim=-3)  # NaN in a band makes both NaN
    valid = (low >= offset - S2_BASELINE_04_OFFSET) & (high >= offset) & (high < S2_SATURATED)
    return ~valid | ((low == S2_NODATA) & (high == S2_NODATA))


def s1_invalid(s1: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` bool: the pixels of S1 dB ``(..., 2, H, W)`` with NaN or +-inf (``10 * log10``
    of zero power) or a value below ``S1_FILL_BELOW_DB`` (fill such as -9999) in a band, or 0 in both
    (zero fill)."""
    low, high = s1.amin(dim=-3), s1.amax(dim=-3)
    return ~((low >= S1_FILL_BELOW_DB) & torch.isfinite(high)) | ((low == 0) & (high == 0))


def check_pair(s2: ArrayLike, s1: ArrayLike) -> None:
    """Raise ``ValueError`` (naming both shapes) unless S2 and S1 ``(..., C, H, W)`` hold the same patches."""
    shapes = tuple(s2.shape), tuple(s1.shape)
    if len({shape[:-3] + shape[-2:] for shape in shapes}) > 1:
        raise ValueError(
            f"s1 and s2 do not cover the same patches: s2 has shape {shapes[0]}, s1 {shapes[1]} "
            "(patches, bands, height, width); give them the same patches and pixels"
        )


def check_array(array: object, name: str, band_names: Sequence[str]) -> ArrayLike:
    """``array``, refused (``TypeError``, ``ValueError`` naming ``name``) unless a real ``(C, H, W)`` or
    ``(N, C, H, W)`` array or tensor of ``len(band_names)`` bands."""
    if isinstance(array, np.ndarray):
        numeric = array.dtype.kind in "iuf"
    elif isinstance(array, torch.Tensor):
        numeric = array.dtype != torch.bool and not array.is_complex()
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(array).__name__}")
    if not numeric:
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    shape = tuple(array.shape)
    if len(shape) not in (3, 4):
        hint = " (one band? give it a band axis)" if len(shape) == 2 else ""
        raise ValueError(f"{name} must be (C, H, W) or (N, C, H, W), got shape {shape}{hint}")
    if shape[-3] != len(band_names):
        hint = " (it looks channels-last: np.moveaxis(x, -1, -3))" if shape[-1] == len(band_names) else ""
        raise ValueError(
            f"{name} has {shape[-3]} bands on axis -3 (shape {shape}), expected {len(band_names)}: "
            f"{list(band_names)}{hint}"
        )
    if 0 in shape:
        raise ValueError(f"{name} is empty (shape {shape})")
    return array


def as_float_tensor(array: object, name: str, band_names: Sequence[str]) -> torch.Tensor:
    """``array`` checked with ``check_array``, as float32 on its own device (numpy: the CPU)."""
    array = check_array(array, name, band_names)
    if isinstance(array, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return array.to(torch.float32)


@dataclass(frozen=True)
class Sen12msTransform:
    """Band selection, fill and standardization for the model input channels ``bands``.

    Attributes:
        bands: the model's input channels in order (SEN12MS band names).
        mean, std: one training statistic per entry of ``bands`` (S2 in DN, S1 in dB).
        s2_bands, s1_bands: the bands of the arrays passed in, in order (default B1..B12; VV, VH).
        s2_offset: DN subtracted from S2 first (1000 for processing baseline >= 04.00).
    """

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    s2_bands: tuple[str, ...] = S2_BANDS
    s1_bands: tuple[str, ...] = S1_BANDS
    s2_offset: float = 0

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.mean) == len(self.std)):
            raise ValueError(
                f"bands, mean and std differ in length: {len(self.bands)}, {len(self.mean)}, {len(self.std)}"
            )
        if not np.isfinite(self.s2_offset) or self.s2_offset < 0:
            raise ValueError(f"s2_offset must be a finite number >= 0 (e.g. 1000), got {self.s2_offset}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        for sensor in ("s2", "s1"):
            given, used = self._bands(sensor)
            if len(set(given)) != len(given):
                raise ValueError(f"{sensor}_bands names a band twice: {list(given)}")
            if missing := [b for b in used if b not in given]:
                raise ValueError(
                    f"the model needs band(s) {missing}, which {sensor}_bands={list(given)} does not contain"
                )

    @classmethod
    def for_bands(cls, bands: Sequence[str], **inputs: object) -> Sen12msTransform:
        """The published statistics for input channels ``bands``; ``inputs`` sets ``s2_bands``,
        ``s1_bands``, ``s2_offset``. Raises ``KeyError`` for a band without statistics."""
        bands = tuple(bands)
        return cls(bands, tuple(BAND_MEAN[b] for b in bands), tuple(BAND_STD[b] for b in bands), **inputs)  # type: ignore[arg-type]

    @classmethod
    def for_modality(
        cls, modality: str, s2_bands: Sequence[str] = S2_BANDS, *, s2_offset: float = 0
    ) -> Sen12msTransform:
        """The published preprocessing of ``modality`` (``rgb``, ``s2``, ``s1s2``, ``s1``, ``s1rgb``)."""
        return cls.for_bands(modality_bands(modality), s2_bands=tuple(s2_bands), s2_offset=s2_offset)

    def replace(self, **changes: object) -> Sen12msTransform:
        """The same transform with other ``s2_bands``, ``s1_bands`` or ``s2_offset``."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def s1_bands_used(self) -> tuple[str, ...]:
        """The S1 bands the model reads, in the network's order."""
        return tuple(b for b in self.bands if is_s1_band(b))

    @property
    def s2_bands_used(self) -> tuple[str, ...]:
        """The S2 bands the model reads, in the network's order."""
        return tuple(b for b in self.bands if not is_s1_band(b))

    def check_given(self, **inputs: object) -> None:
        """``ValueError`` naming the bands of each sensor the model reads that ``inputs`` (``s1``, ``s2``) lack."""
        for sensor in ("s2", "s1"):
            if inputs.get(sensor) is None and (used := self._bands(sensor)[1]):
                raise ValueError(f"{sensor} is required: this model reads its bands {list(used)}")

    def _bands(self, sensor: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The bands of ``sensor``'s arrays and those of them the model reads."""
        return (self.s2_bands, self.s2_bands_used) if sensor == "s2" else (self.s1_bands, self.s1_bands_used)

    def select(self, sensor: str, raw: torch.Tensor) -> torch.Tensor:
        """The bands of ``raw`` ``(..., C, H, W)`` that the model reads, in the network's order."""
        given, used = self._bands(sensor)
        return raw[..., [given.index(b) for b in used], :, :]

    def __call__(
        self,
        s1: ArrayLike | None = None,
        s2: ArrayLike | None = None,
        *,
        s1_invalid_pixels: torch.Tensor | None = None,
        s2_invalid_pixels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The standardized model input, float32 ``(C, H, W)`` or ``(N, C, H, W)`` on the input's device.

        Args:
            s1, s2: S1 in dB (``s1_bands``), S2 in DN (``s2_bands``), for the sensors the model reads.
            s1_invalid_pixels, s2_invalid_pixels: ``(..., H, W)`` pixels to fill (default: the fill rule).

        Raises:
            ValueError, TypeError: a missing input, wrong band count, dtype or shape, or S1 and
                S2 of different patches (the message names the argument).
        """
        self.check_given(s1=s1, s2=s2)
        channels: dict[str, torch.Tensor] = {}
        raw = {}
        for sensor, array, invalid in (("s2", s2, s2_invalid_pixels), ("s1", s1, s1_invalid_pixels)):
            given, used = self._bands(sensor)
            if not used:
                continue
            raw[sensor] = as_float_tensor(array, sensor, given)
            values = self.select(sensor, raw[sensor])
            if invalid is None:
                invalid = s2_invalid(values, self.s2_offset) if sensor == "s2" else s1_invalid(values)
            values = values - self.s2_offset if sensor == "s2" else values.clamp(*S1_CLIP_DB)
            index = [self.bands.index(b) for b in used]
            mean, std = (torch.tensor(stat, device=values.device)[index, None, None] for stat in (self.mean, self.std))
            x = ((values - mean) / std).masked_fill(invalid.to(values.device).unsqueeze(-3), 0.0)
            channels.update(zip(used, x.unbind(-3), strict=True))
        if len(raw) == 2:
            check_pair(raw["s2"], raw["s1"])
        return torch.stack([channels[b] for b in self.bands], dim=-3)
