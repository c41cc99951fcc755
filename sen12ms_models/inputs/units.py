"""Units: Sentinel-2 as digital numbers (reflectance x 10000), Sentinel-1 as backscatter in dB.

The published models were trained on S2 Level-1C DN (uint16, real land ~0..10000, bright
clouds and snow beyond) and on S1 sigma0 in dB (VV around -12 dB, VH around -18 dB). Inputs in
other units pass every shape check and give confident, wrong labels, so each kind that can be
recognized with confidence is refused here, with the remedy and the opt-out
(``check_units=False``, ``--no-unit-check``) for data that is right although it looks wrong.
The checks run per patch on its valid pixels only (see ``nodata``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sen12ms_models.errors import Sen12msError

#: Largest S2 value a patch of reflectance (0..1) can reach. Reflectance exceeds 1 only over
#: specular glint, snow and cloud tops, hardly ever 1.5; DN of any real patch (every band,
#: even water in SWIR, and even after the -1000 offset of baseline 04.00) has pixels far above
#: 2, because DN are reflectance x 10000. So a patch whose valid pixels are all <= 2 is
#: reflectance (or otherwise scaled), never DN.
S2_REFLECTANCE_MAX = 2.0

#: Share of a patch's valid S2 values that may lie below ``s2_offset`` before the offset is
#: called a mistake. With the +1000 offset of baseline 04.00 every value of real land is
#: >= 1000 (reflectance >= 0); data without the offset has most values below 1000 in B2..B4 of
#: vegetation and water. More than half below says the data carries no such offset.
S2_BELOW_OFFSET_MAX = 0.5

#: Share of a patch's finite S1 values that may be >= 0 for it to count as dB. In dB, land and
#: water are negative (VV ~ -12, VH ~ -18, water below -20); only strong urban or corner
#: reflectors reach 0 dB, never half of a patch and never in VH. Linear power (sigma0 ~0..0.5)
#: and amplitude are never negative, so all of their values are >= 0.
S1_NONNEGATIVE_MAX = 0.5

OPT_OUT = "if the values are right, pass check_units=False (CLI: --no-unit-check)"


class InputUnitsError(Sen12msError, ValueError):
    """An input's values are in other units than the model reads (reflectance, uint8, linear SAR)."""


def refuse_uint8(name: str) -> None:
    raise InputUnitsError(
        f"{name} is 8-bit (uint8, 0..255): an image such as EuroSAT-RGB or a PNG/JPEG, not Sentinel-2 DN. "
        "The models read 16-bit DN (reflectance x 10000); use the multispectral product instead, or " + OPT_OUT
    )


def check_s2_units(s2: torch.Tensor, valid: torch.Tensor, names: Sequence[str], s2_offset: float = 0) -> None:
    """Refuse patches of ``s2`` ``(N, C, H, W)`` (float, raw values before ``s2_offset``) that are
    reflectance, and an ``s2_offset`` that the data does not carry. ``valid`` ``(N, H, W)``."""
    mask = valid[:, None].expand_as(s2)
    has_valid = valid.flatten(1).any(dim=1)
    peak = torch.where(mask, s2, torch.full_like(s2, -torch.inf)).flatten(1).amax(dim=1)
    bad = (has_valid & (peak <= S2_REFLECTANCE_MAX)).nonzero().flatten().tolist()
    if bad:
        raise InputUnitsError(
            f"{_which(names, bad)}: all values are <= {S2_REFLECTANCE_MAX:g} (largest {float(peak[bad[0]]):.3g}): "
            "this is reflectance (0..1), not Sentinel-2 DN. Multiply by 10000 (DN = reflectance x 10000), or " + OPT_OUT
        )
    if s2_offset > 0:
        count = mask.flatten(1).sum(dim=1).clamp(min=1)
        below = ((s2 < s2_offset) & mask).flatten(1).sum(dim=1) / count
        bad = (has_valid & (below > S2_BELOW_OFFSET_MAX)).nonzero().flatten().tolist()
        if bad:
            raise InputUnitsError(
                f"{_which(names, bad)}: s2_offset={s2_offset:g}, but {float(below[bad[0]]):.0%} of the values are "
                f"below {s2_offset:g}: the data carries no such offset (or it was already removed, e.g. from the "
                "file's declared offset). Drop s2_offset, or " + OPT_OUT
            )


def check_s1_units(s1: torch.Tensor, valid: torch.Tensor, names: Sequence[str]) -> None:
    """Refuse patches of ``s1`` ``(N, 2, H, W)`` whose values are not backscatter in dB; only
    finite values of ``valid`` ``(N, H, W)`` pixels count."""
    finite = torch.isfinite(s1) & valid[:, None]
    count = finite.flatten(1).sum(dim=1)
    nonnegative = ((s1 >= 0) & finite).flatten(1).sum(dim=1) / count.clamp(min=1)
    bad = ((count > 0) & (nonnegative > S1_NONNEGATIVE_MAX)).nonzero().flatten().tolist()
    if bad:
        values = s1[bad[0]][finite[bad[0]]]
        raise InputUnitsError(
            f"{_which(names, bad)}: {float(nonnegative[bad[0]]):.0%} of the values are >= 0 (median "
            f"{float(values.median()):.3g}): this is linear backscatter (power or amplitude), not dB. Convert with "
            "10 * log10(power) (20 * log10(amplitude)), or " + OPT_OUT
        )


def _which(names: Sequence[str], positions: list[int]) -> str:
    shown = ", ".join(names[i] for i in positions[:3])
    return shown + (f" and {len(positions) - 3} more" if len(positions) > 3 else "")
