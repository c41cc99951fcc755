"""No-data: which pixels of a patch hold data, and how much of it must for a label to mean anything.

Sentinel-2 fills the outside of its tiles and swaths with 0, so a pixel is S2 no-data where all
the bands read are 0 or any is NaN (a float file's fill). A file's declared ``nodata`` value is
turned into that fill when it is read (``datasets.readers.read_patch``, ``mapping``). Sentinel-1
fills with NaN or 0 (or a declared value, turned into NaN): a pixel is S1 no-data where both
bands are NaN or 0. A patch's valid fraction is the share of pixels that hold data in every sensor the
model reads; ``Prediction.valid_fraction`` reports it per patch.

No-data S2 pixels are set to the band's training mean (0 after standardization) so fill never
passes for reflectance; scattered S1 NaN follow the published preprocessing (NaN -> 0 dB).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sen12ms_models.errors import Sen12msError
from sen12ms_models.inputs.defaults import MIN_VALID

__all__ = ["MIN_VALID", "NoDataError", "check_valid_fraction", "s1_valid", "s2_valid"]


class NoDataError(Sen12msError, ValueError):
    """A patch is mostly no-data (fill), so no label can be computed from it."""


def s2_valid(s2: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` bool: pixels of ``s2`` ``(N, C, H, W)`` that are not fill (all 0) or NaN."""
    return ~torch.isnan(s2).any(dim=1) & (s2 != 0).any(dim=1)


def s1_valid(s1: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` bool: pixels of ``s1`` ``(N, 2, H, W)`` where not every band is NaN or 0.

    Exactly 0 in both bands is Sentinel-1's other fill (0 dB in VV and VH at once does not occur
    in real backscatter, and linear 0 is no signal at all).
    """
    return ~(torch.isnan(s1) | (s1 == 0)).all(dim=1)


def check_valid_fraction(fraction: torch.Tensor, min_valid: float, names: Sequence[str]) -> None:
    """Refuse patches whose valid ``fraction`` is below ``min_valid``, naming them."""
    bad = (fraction < min_valid).nonzero().flatten().tolist()
    if bad:
        shown = ", ".join(f"{names[i]} ({float(fraction[i]):.0%} valid)" for i in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NoDataError(
            f"{shown}{more}: less than {min_valid:.0%} of the pixels hold data (the rest is fill value 0, NaN or "
            "the declared nodata), so a label would describe the fill, not the land. Drop such patches (e.g. at "
            "tile and swath edges), or pass min_valid=0 (CLI: --min-valid 0) to label them anyway"
        )
