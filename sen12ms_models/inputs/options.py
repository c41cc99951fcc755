"""``InputOptions`` (how ``predict``, ``map_scene`` and the CLI read and check raw input) and the
thresholds of the checks, each with its source. Needs neither torch nor rasterio (the CLI's help)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

#: Smallest share of a patch's pixels holding data (not fill, not cloud) for a label: below half it
#: describes the fill (a 69 % fill swath-edge patch came out "Water 1.00").
MIN_VALID = 0.5
#: Largest S2 value of reflectance (0..1; above 1 only over glint, snow, cloud tops); real DN go far above.
S2_REFLECTANCE_MAX = 2.0
#: Share of valid S2 values allowed below ``s2_offset``: in L1C of baseline >= 04.00 a DN below 1000
#: is negative reflectance (DOMAIN.md; a 2016 L1C land patch had 44 % there); 2 % for noise.
S2_BELOW_OFFSET_MAX = 0.02
#: Share of S1 values allowed >= 0 in dB (land and water are negative: VV ~ -12, VH ~ -18 dB);
#: linear power and amplitude are never negative.
S1_NONNEGATIVE_MAX = 0.5
#: Scaled S1 (dB x 100 in int16, no scale declared): more than this share of a patch's pixels below
#: ``bands.S1_FILL_BELOW_DB`` ...
S1_SCALED_SHARE_MIN = 0.5
#: ... varying by more than this standard deviation (dB): fill (-9999) is one value, scaled dB varies.
S1_SCALED_STD_MIN = 1.0
#: Share of valid pixels where VH may exceed VV (VH is 5-8 dB weaker over nearly all land).
VH_ABOVE_VV_MAX = 0.5
#: A ``NoDataError`` of a patch more cloudy than this without ``s2_offset`` hints at an undeclared
#: baseline-04 offset: 1000 DN brighter everywhere, the cloud tests see cloud nearly everywhere.
OFFSET_HINT_CLOUD_MIN = 0.9
#: s2cloudless (Sentinel Hub's LightGBM classifier of L1C TOA reflectance) with the package's threshold,
#: on at most 32 x 32 cells a patch (80 m for 256 x 256, 20 m for 64 x 64), the probabilities averaged
#: over a 1-cell disk and not dilated: eo-learn's 160 m cells, 4-cell averaging and 2-cell (320 m)
#: dilation doubled a quarter-patch cloud's share on a 2.56 km patch and missed 10 % clouds on small ones
#: (docs/reliability.md). About 8 ms a patch on one CPU core.
CLOUD_CELLS = 32
CLOUD_PROBABILITY = 0.4
CLOUD_AVERAGE_OVER = 1
#: The fallback cloud test, in TOA reflectance: thick cloud is bright and flat in B2, B3, B4 and,
#: unlike snow, bright in B11, or (high cloud) in B10, near 0 over clear land. Salt flats pass too.
FALLBACK_VISIBLE_MIN = 0.3
FALLBACK_B11_MIN = 0.15
FALLBACK_B10_MIN = 0.03


@dataclass(frozen=True)
class InputOptions:
    """How raw input is read and checked, shared by ``predict``, ``map_scene`` and the CLI.

    Attributes:
        s2_bands: the S2 bands of the arrays or files, in order (``None``: B1..B12; ready-made
            lists in ``bands``, e.g. ``EUROSAT_BANDS``). GeoTIFF band descriptions that name every
            band win. The 12 Level-2A bands (``L2A_BANDS``, any order) are taken for Level-2A (a
            warning: the models read L1C); fewer bands, e.g. B2, B3, B4, are not.
        s1_bands: the S1 bands in order (``None``: VV, VH, and VH brighter than VV is refused as
            a swapped pair; giving the order, here or in a file's band descriptions, skips that check).
        s2_offset: DN subtracted from S2, 1000 for processing baseline >= 04.00 (products since
            25 January 2022) unless the file declares the offset itself.
        check_units: refuse (``InputUnitsError``, the one list of these checks) S2 that is 8-bit
            (uint8, int8), reflectance (every valid value <= ``S2_REFLECTANCE_MAX``), has a band
            the model reads 0 in every valid pixel (a missing band filled with zeros), or lacks
            the ``s2_offset`` given (more than ``S2_BELOW_OFFSET_MAX`` of the valid values below
            it); S1 that is scaled dB (most values below ``S1_FILL_BELOW_DB`` dB, varying), linear
            (more than ``S1_NONNEGATIVE_MAX`` of the values >= 0) or VH brighter than VV (in more
            than ``VH_ABOVE_VV_MAX`` of the pixels; not checked when ``s1_bands`` or the file's
            band descriptions give the order). ``False`` takes such data as it is.
        clouds: treat cloudy S2 pixels as no data: those the fallback test finds (bright in B2,
            B3 and B4, and in B11 or B10 where given) and, with the ``clouds`` extra, those
            s2cloudless finds in Level-1C patches holding its ten bands. Without B10 and B11
            (e.g. RGB) bright snow counts as cloud too.
        min_valid: the smallest share of valid pixels a patch is labelled from; 0 labels all.
        skip_invalid: patches below ``min_valid`` get NaN probabilities instead of a
            ``NoDataError`` (``map_scene`` writes such windows as no-data either way).
        level: the Sentinel-2 processing level when known; ``"L2A"``, like L2A metadata in a
            file, gets one ``InputLevelWarning``.
    """

    s2_bands: Sequence[str] | None = None
    s1_bands: Sequence[str] | None = None
    s2_offset: float = 0.0
    check_units: bool = True
    clouds: bool = True
    min_valid: float = MIN_VALID
    skip_invalid: bool = False
    level: Literal["L1C", "L2A"] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_valid <= 1.0:
            raise ValueError(f"min_valid must be in [0, 1], got {self.min_valid}")
        for name in ("s2_bands", "s1_bands"):
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, tuple(value))
