"""The checks of every batch ``(N, C, H, W)`` of raw S1 and/or S2, on its device: units and band order
(``InputOptions.check_units``), no data (the fill rule of ``transforms``), clouds, Level-2A."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from sen12ms_models.bands import L2A_BANDS, S1_FILL_BELOW_DB, S2_QUANTIFICATION
from sen12ms_models.errors import InputLevelWarning, InputUnitsError, NoDataError
from sen12ms_models.inputs import options as limits
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.transforms import ArrayLike, Sen12msTransform, as_float_tensor, check_pair, s1_invalid, s2_invalid

logger = logging.getLogger(__name__)

#: The bands s2cloudless reads, in its order (Sentinel Hub's model).
S2CLOUDLESS_BANDS = ("B1", "B2", "B4", "B5", "B8", "B8A", "B9", "B10", "B11", "B12")
_OPT_OUT = "if the values are right, pass InputOptions(check_units=False) (CLI: --no-unit-check)"
#: Undeclared baseline-04 S2 is 1000 DN brighter everywhere: cloud detectors see cloud.
_OFFSET_HINT = (
    ". If the S2 comes from processing baseline >= 04.00 (products since 25 January 2022) and the file does "
    "not declare its offset, everything looks brighter, like cloud: give InputOptions(s2_offset=1000) "
    "(CLI: --s2-offset 1000)"
)
#: Without B10 and B11 (e.g. RGB input) the only cloud test is brightness in B2, B3, B4.
_SNOW_HINT = (
    ". The S2 bands given lack B10 and B11, so clouds were found as bright in B2, B3, B4, which snow, ice and "
    "salt flats are too: if the patch is clear, skip the cloud test with InputOptions(clouds=False) (CLI: "
    "--no-clouds), or give the 13 bands"
)


@dataclass(frozen=True)
class Inspected:
    """A batch as ``inspect`` found it; ``tensors`` and ``invalid`` hold the sensors the model reads."""

    transform: Sen12msTransform  # the model's, told the batch's bands and offset
    tensors: dict[str, torch.Tensor]  # "s1"/"s2": raw bands as given, (N, C, H, W) float32
    invalid: dict[str, torch.Tensor]  # "s1"/"s2": pixels to fill (no data, cloud), (N, H, W)
    valid_fraction: np.ndarray  # (N,) float32: pixels with data in every sensor read, not cloud
    cloud_fraction: np.ndarray | None  # (N,) float32, None when no S2 was checked for clouds
    corrections: tuple[tuple[str, ...], ...]  # per patch
    level_2a: str | None  # why the S2 input looks like Level-2A, if it does

    @property
    def x(self) -> torch.Tensor:
        """The standardized model input ``(N, C, H, W)``, no data and cloud set to the band means."""
        masks = {f"{sensor}_invalid_pixels": mask for sensor, mask in self.invalid.items()}
        return self.transform(**self.tensors, **masks)


def inspect(
    transform: Sen12msTransform,
    options: InputOptions,
    *,
    s1: ArrayLike | None,
    s2: ArrayLike | None,
    s2_bands: Sequence[str],
    s1_bands: Sequence[str] | None = None,
    s1_names: Sequence[str],
    s2_names: Sequence[str],
    s2_level_2a: Sequence[bool] = (),
    s1_named: Sequence[bool] = (),
) -> Inspected:
    """Check raw ``(N, C, H, W)`` S1/S2 of the arrays' ``s1_bands`` (default ``options.s1_bands``, else VV,
    VH) and ``s2_bands``, naming each patch by ``s1_names``/``s2_names``: refuse wrong units and band
    order, and patches below ``options.min_valid`` unless ``options.skip_invalid``; find no data and clouds.
    Per patch, from its file: ``s2_level_2a`` (metadata says Level-2A, as ``options.level`` says for all) and
    ``s1_named`` (band descriptions named VV and VH, so their order is known, as ``options.s1_bands`` says)."""
    transform = transform.replace(
        s2_bands=tuple(s2_bands),
        s1_bands=tuple(s1_bands or options.s1_bands or transform.s1_bands),
        s2_offset=options.s2_offset,
    )
    transform.check_given(s1=s1, s2=s2)
    tensors: dict[str, torch.Tensor] = {}
    invalid: dict[str, torch.Tensor] = {}
    clouds, level_2a, snow_is_cloud = None, None, False
    if transform.s2_bands_used:
        check_8bit(getattr(s2, "dtype", ""), s2_names[0], options)
        tensors["s2"] = raw = as_float_tensor(s2, "s2", transform.s2_bands)
        used = transform.select("s2", raw)
        fill = s2_invalid(used)
        if options.check_units:
            _check_s2_units(used, ~fill, s2_names, transform.s2_bands_used, options.s2_offset)
        invalid["s2"] = s2_invalid(used, options.s2_offset) if options.s2_offset else fill
        l2a = torch.tensor(list(s2_level_2a) or [False] * len(raw)) | (options.level == "L2A")
        if set(transform.s2_bands) == set(L2A_BANDS):
            level_2a = "its bands lack B10 and are the 12 of Level-2A"
        elif l2a.any():
            level_2a = "its metadata says Level-2A"
        if options.clouds:
            clouds = find_clouds(raw - options.s2_offset, transform.s2_bands, ~invalid["s2"], l2a)
            invalid["s2"] = invalid["s2"] | clouds
            snow_is_cloud = not {"B10", "B11"} & set(transform.s2_bands)
    if transform.s1_bands_used:
        tensors["s1"] = raw = as_float_tensor(s1, "s1", transform.s1_bands)
        used = transform.select("s1", raw)
        invalid["s1"] = s1_invalid(used)
        if options.check_units:
            unknown = ~torch.tensor(list(s1_named) or [False] * len(raw)) & (options.s1_bands is None)
            _check_s1_units(used, ~invalid["s1"], s1_names, unknown)
    if len(tensors) == 2:
        check_pair(tensors["s2"], tensors["s1"])
    device = next(iter(invalid.values())).device
    no_data = torch.stack([m.to(device) for m in invalid.values()]).any(dim=0)
    cloudy = torch.zeros_like(no_data) if clouds is None else clouds
    valid, filled, cloud = (
        m.flatten(1).float().mean(dim=1).cpu().numpy() for m in (~no_data, no_data & ~cloudy, cloudy)
    )
    if not options.skip_invalid and (bad := np.flatnonzero(valid < options.min_valid).tolist()):
        most = float(cloud[bad].max())
        said = ["" if clouds is None else f", {c:.0%} cloud" for c in cloud]
        names = [n for sensor, n in (("s2", s2_names), ("s1", s1_names)) if sensor in tensors]
        shown = [" + ".join(n[i] for n in names) + f" ({v:.0%} valid{said[i]})" for i, v in enumerate(valid)]
        raise NoDataError(
            f"{_named(shown, bad)}: less than {options.min_valid:.0%} of the pixels hold data (the rest is fill, "
            "NaN, +-inf, saturated, negative or cloud), so a label would describe the fill, not the land. Drop "
            "such patches (tile and swath edges, cloudy dates), label the rest with InputOptions(skip_invalid=True) "
            "(CLI: --skip-invalid), or label them anyway with InputOptions(min_valid=0) (CLI: --min-valid 0)"
            + _OFFSET_HINT * (options.s2_offset == 0 and most > limits.OFFSET_HINT_CLOUD_MIN)
            + _SNOW_HINT * (snow_is_cloud and most > 0)
        )
    notes = batch_notes(options) if "s2" in invalid else []
    corrections = tuple(
        (*notes, *_filled(f, "hold no data (fill, NaN, +-inf, saturated)"), *_filled(c, "are cloud"))
        for f, c in zip(filled, cloud, strict=True)
    )
    return Inspected(transform, tensors, invalid, valid, None if clouds is None else cloud, corrections, level_2a)


def check_8bit(dtype: object, name: str, options: InputOptions) -> None:
    """Refuse (``options.check_units``) S2 ``name`` of an 8-bit numpy or torch ``dtype``: not 16-bit DN."""
    eight_bit = str(dtype).removeprefix("torch.")
    if options.check_units and eight_bit in ("uint8", "int8"):
        raise InputUnitsError(
            f"{name} is 8-bit ({eight_bit}, {'0..255' if eight_bit == 'uint8' else '-128..127'}): an image "
            "such as EuroSAT-RGB or a PNG/JPEG, not Sentinel-2 DN. The models read 16-bit DN (reflectance x "
            "10000); use the multispectral product, or " + _OPT_OUT
        )


def warn_level_2a(reason: str) -> None:
    """The one warning of Level-2A input (``reason``: why it looks so); ``predict`` gives it once a call."""
    warnings.warn(
        f"the Sentinel-2 input looks like Level-2A surface reflectance ({reason}); the models were trained on "
        "Level-1C top-of-atmosphere DN. Atmospheric correction lowers the blue and green bands most, so the inputs "
        "are shifted and the labels less reliable; use L1C products where you can (docs/models.md)",
        InputLevelWarning,
        stacklevel=3,
    )


def batch_notes(options: InputOptions) -> list[str]:
    """What ``options`` change in every S2 value, for ``corrections``."""
    return [f"subtracted s2_offset={options.s2_offset:g} from every S2 value"] if options.s2_offset else []


def find_clouds(
    s2: torch.Tensor, bands: Sequence[str], valid: torch.Tensor, level_2a: torch.Tensor | None = None
) -> torch.Tensor:
    """``(N, H, W)`` bool: the ``valid`` pixels of S2 DN ``(N, C, H, W)`` that the fallback test (needs B2,
    B3, B4) or, in the patches not ``level_2a`` (``(N,)`` bool) holding its ten bands, s2cloudless on
    ``CLOUD_CELLS`` cells a side finds cloudy."""
    height, width = s2.shape[-2:]
    l1c = torch.ones(len(s2), dtype=torch.bool) if level_2a is None else ~level_2a.cpu()
    reflectance = s2 / S2_QUANTIFICATION
    cloud = torch.zeros_like(valid)
    if {"B2", "B3", "B4"} <= set(bands):
        band = {b: reflectance[:, bands.index(b)] for b in ("B2", "B3", "B4", "B10", "B11") if b in bands}
        cloud = torch.stack([band["B2"], band["B3"], band["B4"]]).amin(dim=0) >= limits.FALLBACK_VISIBLE_MIN
        bright = {"B11": limits.FALLBACK_B11_MIN, "B10": limits.FALLBACK_B10_MIN}
        if tests := [band[b] >= limit for b, limit in bright.items() if b in band]:
            cloud &= torch.stack(tests).any(dim=0)
    detector = _s2cloudless() if l1c.any() and set(S2CLOUDLESS_BANDS) <= set(bands) else None
    if detector is not None:
        side = -(-max(height, width) // limits.CLOUD_CELLS)  # pixels per cell, each way
        cells = (-(-height // side), -(-width // side))
        l1c = l1c.to(s2.device)
        read = reflectance[l1c][:, [bands.index(b) for b in S2CLOUDLESS_BANDS]]
        weight = (valid[l1c][:, None] & read.isfinite() & (read > 0)).float()
        pool = torch.nn.functional.adaptive_avg_pool2d
        coarse = pool(read.nan_to_num() * weight, cells) / pool(weight, cells).clamp(min=1e-6)
        data = coarse.permute(0, 2, 3, 1).cpu().double().numpy()
        mask = detector.get_mask_from_prob(detector.get_cloud_probability_maps(data))
        cloud[l1c] |= (
            torch.nn.functional.interpolate(torch.from_numpy(mask).float()[:, None], size=(height, width))[:, 0]
            .bool()
            .to(s2.device)
        )
    return cloud & valid


@cache
def _s2cloudless() -> Any:
    """s2cloudless's detector, or None (said once) when the ``clouds`` extra is not installed."""
    try:
        from s2cloudless import S2PixelCloudDetector
    except ImportError:
        logger.warning(
            "s2cloudless is not installed (pip install 'sen12ms-models[clouds]'): clouds are found by the "
            "fallback test (bright in the visible bands and SWIR, or in B10), which misses thin cloud"
        )
        return None
    return S2PixelCloudDetector(
        threshold=limits.CLOUD_PROBABILITY, average_over=limits.CLOUD_AVERAGE_OVER, dilation_size=None, all_bands=False
    )


def _check_s2_units(
    s2: torch.Tensor, valid: torch.Tensor, names: Sequence[str], bands: Sequence[str], offset: float
) -> None:
    """Refuse reflectance, a band 0 in every valid pixel (zero-filled) and an ``offset`` the data lacks."""
    peak = s2.amax(dim=-3).masked_fill(~valid, -torch.inf).flatten(1).amax(dim=1)
    if bad := (valid.flatten(1).any(dim=1) & (peak <= limits.S2_REFLECTANCE_MAX)).nonzero().flatten().tolist():
        raise InputUnitsError(
            f"{_named(names, bad)}: all values are <= {limits.S2_REFLECTANCE_MAX:g} (largest "
            f"{float(peak[bad[0]]):.3g}): this is reflectance (0..1), not Sentinel-2 DN. Multiply by 10000 "
            "(DN = reflectance x 10000), or " + _OPT_OUT
        )
    zero = ((s2 == 0) | ~valid[:, None]).flatten(2).all(dim=2) & valid.flatten(1).any(dim=1)[:, None]
    if zero.any():
        patch = int(zero.any(dim=1).nonzero()[0])
        missing = [b for b, z in zip(bands, zero[patch].tolist(), strict=True) if z]
        raise InputUnitsError(
            f"{names[patch]}: band {', '.join(missing)} is 0 in every valid pixel, as a band missing from the product "
            "and filled with zeros is; give the real band (or a model that does not read it), or " + _OPT_OUT
        )
    if offset > 0:
        below = _share_of_values(s2 < offset, valid)
        if bad := (below > limits.S2_BELOW_OFFSET_MAX).nonzero().flatten().tolist():
            raise InputUnitsError(
                f"{_named(names, bad)}: s2_offset={offset:g}, but {float(below[bad[0]]):.0%} "
                f"of the valid values are below {offset:g}, which would be negative reflectance (more than "
                f"{limits.S2_BELOW_OFFSET_MAX:.0%} never occurs in a Level-1C product that carries the offset). "
                "The data has no such offset, or it was already removed (e.g. from the file's declared offset): "
                "drop s2_offset, or " + _OPT_OUT
            )


def _check_s1_units(s1: torch.Tensor, valid: torch.Tensor, names: Sequence[str], check_order: torch.Tensor) -> None:
    """Refuse linear or scaled S1 (most pixels below ``S1_FILL_BELOW_DB`` and varying, which fill never
    does) and, in the patches ``check_order`` (``(N,)`` bool), VH brighter than VV over most pixels."""
    low = s1.amin(dim=-3).flatten(1)
    scaled = ((low < S1_FILL_BELOW_DB) & low.isfinite()).float().mean(dim=1) > limits.S1_SCALED_SHARE_MIN
    for i in scaled.nonzero().flatten().tolist():
        if (below := low[i][(low[i] < S1_FILL_BELOW_DB) & low[i].isfinite()]).std() > limits.S1_SCALED_STD_MIN:
            raise InputUnitsError(
                f"{names[i]}: most values lie below {S1_FILL_BELOW_DB:g} dB and vary ({float(below.min()):.4g} to "
                f"{float(below.max()):.4g}): this is scaled dB (e.g. dB x 100 in int16), not dB. Divide by the "
                "scale, or declare it in the GeoTIFF (scale 0.01), or " + _OPT_OUT
            )
    nonnegative = _share_of_values(s1 >= 0, valid)
    if bad := (valid.flatten(1).any(dim=1) & (nonnegative > limits.S1_NONNEGATIVE_MAX)).nonzero().flatten().tolist():
        raise InputUnitsError(
            f"{_named(names, bad)}: {float(nonnegative[bad[0]]):.0%} of the values are >= 0 "
            f"(median {float(s1[bad[0]][:, valid[bad[0]]].median()):.3g}): this is linear backscatter (power or "
            "amplitude), not dB. Convert with 10 * log10(power) (20 * log10(amplitude)), or " + _OPT_OUT
        )
    if check_order.any():
        above = _share_of_values(s1[:, 1:] > s1[:, :1], valid)
        if bad := ((above > limits.VH_ABOVE_VV_MAX) & check_order.to(above.device)).nonzero().flatten().tolist():
            raise InputUnitsError(
                f"{_named(names, bad)}: the second S1 band (VH) is brighter than the first (VV) in "
                f"{float(above[bad[0]]):.0%} of the pixels; cross-polarised VH is 5-8 dB weaker than VV over nearly "
                "all land, so the bands are probably swapped. Reorder them to VV, VH, or say their order with "
                "InputOptions(s1_bands=('VH', 'VV')) (CLI: --s1-bands VH,VV)"
            )


def _share_of_values(condition: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``(N,)``: the share of the values ``(N, C, H, W)`` of the ``valid`` pixels where ``condition`` holds."""
    hits = (condition.sum(dim=-3) * valid).flatten(1).sum(dim=1)
    return hits / (valid.flatten(1).sum(dim=1) * condition.shape[-3]).clamp(min=1)


def _filled(share: float, what: str) -> list[str]:
    return [f"{share:.1%} of the pixels {what}, set to the band means"] if share > 0 else []


def _named(names: Sequence[str], bad: list[int]) -> str:
    """The names of (three of) the ``bad`` patches."""
    return ", ".join(names[i] for i in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
