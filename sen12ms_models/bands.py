"""Every fact about bands, once: their order in the SEN12MS files and other products, the bands each
modality feeds the network, the baselines' normalization statistics, units, fill values, the patch size.
"""

from __future__ import annotations

import re
from types import MappingProxyType

#: Sentinel-1 GRD backscatter in dB, band order of the SEN12MS ``s1`` GeoTIFFs.
S1_BANDS: tuple[str, ...] = ("VV", "VH")

#: Sentinel-2 Level-1C reflectance x 10000 (uint16), band order of the ``s2`` GeoTIFFs.
S2_BANDS: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
)  # fmt: skip

#: The four land-cover layers of the ``lc`` GeoTIFFs (uint16); band 1 is IGBP (1-17).
LC_BANDS: tuple[str, ...] = ("IGBP", "LCCS_LC", "LCCS_LU", "LCCS_SH")

#: The ten surface bands the ``s2`` modality uses (atmospheric B1, B9, B10 dropped).
S2_SURFACE_BANDS: tuple[str, ...] = tuple(b for b in S2_BANDS if b not in ("B1", "B9", "B10"))

#: Blue, green, red: the original scripts' ``rgb`` order (NOT red, green, blue).
S2_BGR_BANDS: tuple[str, ...] = ("B2", "B3", "B4")

#: Ready-made band lists of other products and datasets, to pass as ``InputOptions(s2_bands=...)``
#: (CLI ``--s2-bands``) or ``read_patch(bands=...)``, so each band is taken by name, not by position.
#:
#: Sentinel-2 Level-2A: 12 bands, B10 (cirrus) dropped, otherwise in SEN12MS order. These 12 bands
#: (in any order) are taken for Level-2A input (``inputs``), which the L1C-trained models warn about.
L2A_BANDS: tuple[str, ...] = tuple(b for b in S2_BANDS if b != "B10")

#: EuroSAT's multispectral GeoTIFFs: 13 bands with B8A LAST (torchgeo's corrected order; the
#: EuroSAT paper lists another). Feeding them in SEN12MS order would read B9 as B8A, B12 as B11.
EUROSAT_BANDS: tuple[str, ...] = (*(b for b in S2_BANDS if b != "B8A"), "B8A")

#: BigEarthNet (v1/v2) S2: the 12 Level-2A bands in ascending order, B8A after B8 (the order of
#: the dataset's band files and of reference loaders that stack them by name).
BIGEARTHNET_BANDS: tuple[str, ...] = L2A_BANDS

#: torchgeo's ``BigEarthNet`` dataset stacks the same 12 bands with B8A last.
TORCHGEO_BIGEARTHNET_BANDS: tuple[str, ...] = (*(b for b in L2A_BANDS if b != "B8A"), "B8A")

#: torchgeo's ``SEN12MS`` dataset: ``image`` holds 15 bands, S1 FIRST (VV, VH), then the 13 S2
#: bands B1..B12. ``sen12ms_models.interop.torchgeo.FromTorchGeoSen12ms`` splits it by these names.
TORCHGEO_SEN12MS_BANDS: tuple[str, ...] = S1_BANDS + S2_BANDS

#: Model input channels of each modality, in the order the network sees them.
MODALITY_BANDS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "rgb": S2_BGR_BANDS,
        "s2": S2_SURFACE_BANDS,
        "s1s2": S2_SURFACE_BANDS + S1_BANDS,
        "s1": S1_BANDS,
        "s1rgb": S2_BGR_BANDS + S1_BANDS,
    }
)

MODALITIES: tuple[str, ...] = tuple(MODALITY_BANDS)

#: Training-set statistics of the published baselines, per band (S2 in DN, S1 in dB), as the
#: SEN12MS toolbox's classification scripts normalize with them (Schmitt & Wu, 2021).
BAND_MEAN: MappingProxyType[str, float] = MappingProxyType(
    {
        "B2": 1226.4215, "B3": 1137.3799, "B4": 1139.6792, "B5": 1350.9973,
        "B6": 1932.9058, "B7": 2211.1584, "B8": 2154.9846, "B8A": 2409.1128,
        "B11": 2001.8622, "B12": 1356.0801,
        "VV": -11.76858, "VH": -18.294598,
    }
)  # fmt: skip
BAND_STD: MappingProxyType[str, float] = MappingProxyType(
    {
        "B2": 741.6254, "B3": 740.883, "B4": 960.1045, "B5": 946.76056,
        "B6": 985.52747, "B7": 1082.4341, "B8": 1057.7628, "B8A": 1136.1942,
        "B11": 1132.7898, "B12": 991.48016,
        "VV": 4.525339, "VH": 4.3586307,
    }
)  # fmt: skip

#: Side of a SEN12MS patch in pixels (256 x 256 at 10 m, Schmitt et al. 2019): what the
#: baselines were trained on, the window of scene mapping and DenseNet121's fixed input size.
PATCH_SIZE: int = 256

#: S1 backscatter is clipped to this range in dB (the SEN12MS toolbox's preprocessing).
S1_CLIP_DB: tuple[float, float] = (-25.0, 0.0)
#: S1 dB below this is fill (-9999, -32768 of signed exports), not backscatter. Sentinel-1's noise
#: floor (NESZ) is about -22 to -26 dB, and the smallest non-zero sigma0 a GRD product can hold (DN 1
#: over a calibration value of a few hundred) is about -50 to -60 dB; -100 dB (1e-10) lies far below both.
S1_FILL_BELOW_DB = -100.0

#: Sentinel-2 Level-1C DN per unit of top-of-atmosphere reflectance (the product's
#: QUANTIFICATION_VALUE; SEN12MS and the models read DN = reflectance x 10000).
S2_QUANTIFICATION = 10000
#: The L1C special values (product metadata ``Special_Values``): 0 = NODATA, 65535 = SATURATED.
S2_NODATA, S2_SATURATED = 0, 65535
#: The DN offset of processing baseline 04.00 and later (products since 25 January 2022 and the
#: Collection-1 reprocessing): ``RADIO_ADD_OFFSET`` / ``BOA_ADD_OFFSET`` = -1000. SEN12MS has none.
S2_BASELINE_04_OFFSET = 1000


def modality_bands(modality: str) -> tuple[str, ...]:
    """The ordered input bands of ``modality``, e.g. ``modality_bands("rgb")`` is ``("B2", "B3", "B4")``.

    Raises:
        ValueError: ``modality`` is unknown (the message names the valid ones).
    """
    try:
        return MODALITY_BANDS[modality]
    except KeyError:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}") from None


def is_s1_band(band: str) -> bool:
    """True for the Sentinel-1 bands (VV, VH), False for Sentinel-2 bands."""
    return band in S1_BANDS


def parse_bands(text: str) -> tuple[str, ...]:
    """A band list as people write it: ``"B2,B3,B4"``, or the name of a list of this module (``"L2A_BANDS"``,
    any case), for ``InputOptions(s2_bands=...)``, the CLI's ``--s2-bands`` and ``read_patch(bands=...)``."""
    named = globals().get(name) if (name := text.strip().upper()).endswith("_BANDS") else None
    return named if isinstance(named, tuple) else tuple(b.strip() for b in text.split(",") if b.strip())


_S2_NAME = re.compile(r"(?<![A-Z0-9])(?:B|BAND )0?(1[0-2]|[1-9]|8A)(?![0-9A-Z])")
_S1_NAME = re.compile(r"(?<![A-Z])(VV|VH|HH|HV)(?![A-Z])")


def canonical_band(name: str | None, sensor: str) -> str | None:
    """This library's spelling of the band a description names, or ``None`` if it names none or two:
    ``"B02"``, ``"B8A (865 nm)"``, ``"Band_8A"`` (s2) and ``"Sigma0_VV_db"`` (s1) give ``"B2"``, ``"B8A"``,
    ``"B8A"`` and ``"VV"``. HH and HV are recognized (to be refused: the models read VV, VH)."""
    if not name:
        return None
    found = set((_S1_NAME if sensor == "s1" else _S2_NAME).findall(name.upper().replace("_", " ")))
    if len(found) != 1:
        return None
    band = found.pop()
    return band if sensor == "s1" else f"B{band}"
