"""The one way raw inputs become model input: checks, corrections, no-data, then the transform.

``prepare`` runs on one batch ``(N, C, H, W)`` of S1 and/or S2 arrays, whatever they came from
(user arrays, GeoTIFFs read by ``read_patch``, windows of a scene): it refuses 8-bit and
reflectance S2 and linear S1 (``units``), finds the no-data pixels and each patch's valid
fraction and refuses mostly-fill patches (``nodata``), fills no-data S2 pixels with the band
means, and standardizes with the ``Sen12msTransform`` (which subtracts its ``s2_offset``). It
returns the model input with the valid fraction and the corrections made, per patch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from sen12ms_models.bands import S1_BANDS
from sen12ms_models.inputs.arrays import ArrayLike, as_float_tensor, is_uint8
from sen12ms_models.inputs.nodata import MIN_VALID, check_valid_fraction, s1_valid, s2_valid
from sen12ms_models.inputs.units import check_s1_units, check_s2_units, refuse_uint8

if TYPE_CHECKING:
    from sen12ms_models.transforms import Sen12msTransform


@dataclass(frozen=True)
class InputOptions:
    """How strictly inputs are checked: ``check_units`` (refuse reflectance/uint8 S2 and linear
    S1) and ``min_valid`` (refuse patches with a smaller valid fraction; 0 labels every patch)."""

    check_units: bool = True
    min_valid: float = MIN_VALID

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_valid <= 1.0:
            raise ValueError(f"min_valid must be in [0, 1], got {self.min_valid}")


@dataclass(frozen=True)
class PreparedBatch:
    """Standardized model input, the valid fraction of each patch and what was corrected."""

    x: torch.Tensor  # (N, C, H, W) float32
    valid_fraction: np.ndarray  # (N,) float32
    corrections: tuple[tuple[str, ...], ...]  # per patch


def prepare(
    transform: Sen12msTransform,
    *,
    s1: ArrayLike | None,
    s2: ArrayLike | None,
    options: InputOptions = InputOptions(),
    s1_names: Sequence[str] | None = None,
    s2_names: Sequence[str] | None = None,
) -> PreparedBatch:
    """Check, correct and standardize one batch; ``s1``/``s2`` are ``(N, C, H, W)``.

    ``s1_names``/``s2_names`` name each patch in errors (a file, or ``s2[3]``).
    """
    parts: dict[str, torch.Tensor] = {}
    valid: torch.Tensor | None = None
    count = 0
    notes: list[list[str]] = []
    s2_filled = None
    if transform.s2_bands_used:
        if options.check_units and s2 is not None and is_uint8(s2):
            refuse_uint8(_name(s2_names, 0, "s2"))
        tensor = as_float_tensor(s2, "s2", transform.s2_bands)
        index = [transform.s2_bands.index(b) for b in transform.s2_bands_used]
        selected = tensor[:, index]
        count = len(selected)
        names = [_name(s2_names, i, "s2", count) for i in range(count)]
        valid2 = s2_valid(selected)
        if options.check_units:
            check_s2_units(selected, valid2, names, transform.s2_offset)
        fill_mask = ~valid2
        s2_filled = fill_mask.flatten(1).float().mean(dim=1)
        if bool(fill_mask.any()):
            means = dict(zip(transform.bands, transform.mean, strict=True))
            fill = torch.tensor(
                [means[b] + transform.s2_offset for b in transform.s2_bands_used],
                dtype=selected.dtype,
                device=selected.device,
            )[None, :, None, None]
            selected = torch.where(fill_mask[:, None], fill, selected)
        parts["s2"] = selected
        valid = valid2
    if transform.s1_bands_used:
        tensor = as_float_tensor(s1, "s1", S1_BANDS)
        count = len(tensor)
        names = [_name(s1_names, i, "s1", count) for i in range(count)]
        valid1 = s1_valid(tensor)
        if options.check_units:
            check_s1_units(tensor, valid1, names)
        valid = valid1 if valid is None else _and(valid, valid1, s1, s2)
        parts["s1"] = tensor
    assert valid is not None
    fraction = valid.flatten(1).float().mean(dim=1)
    if options.min_valid > 0:
        names = [
            " + ".join(
                _name(n, i, sensor, count) for sensor, n in (("s2", s2_names), ("s1", s1_names)) if sensor in parts
            )
            for i in range(count)
        ]
        check_valid_fraction(fraction, options.min_valid, names)
    for i in range(count):
        patch_notes = []
        if transform.s2_bands_used and transform.s2_offset:
            patch_notes.append(f"subtracted s2_offset={transform.s2_offset:g} from every S2 value")
        if s2_filled is not None and float(s2_filled[i]) > 0:
            patch_notes.append(f"{float(s2_filled[i]):.1%} of the S2 pixels are no-data, set to the band means")
        notes.append(patch_notes)
    model_transform = transform.with_s2_bands(transform.s2_bands_used) if "s2" in parts else transform
    x = model_transform(**parts)
    return PreparedBatch(x, fraction.cpu().numpy().astype(np.float32), tuple(tuple(n) for n in notes))


def _and(valid2: torch.Tensor, valid1: torch.Tensor, s1: object, s2: object) -> torch.Tensor:
    if valid2.shape != valid1.shape:
        raise ValueError(
            f"s1 and s2 do not cover the same patches: s1 has shape {tuple(s1.shape)}, "  # type: ignore[attr-defined]
            f"s2 has shape {tuple(s2.shape)}"  # type: ignore[attr-defined]
        )
    return valid2 & valid1.to(valid2.device)


def _name(names: Sequence[str] | None, i: int, sensor: str, count: int = 1) -> str:
    if names is not None and i < len(names):
        return names[i]
    return sensor if count == 1 else f"{sensor}[{i}]"
