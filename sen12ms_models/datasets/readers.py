"""Read SEN12MS GeoTIFFs with rasterio: one patch, or the three files of a triplet.

Reading checks each file's band count, dtype and size against what SEN12MS ships (S1: 2 bands
float32 dB; S2: 13 bands uint16 DN; LC: 4 bands uint16) and raises ``PatchFileError`` naming
the file otherwise. S1 and S2 files go through ``sen12ms_models.inputs``: band descriptions,
declared scale/offset and nodata are applied, wrong units refused (see ``read_patch``).

>>> triplet = read_triplet("ROIs1158_spring/s2_63/ROIs1158_spring_s2_63_p100.tif")  # doctest: +SKIP
>>> triplet.s2.array.shape, triplet.crs                                           # doctest: +SKIP
((13, 256, 256), CRS.from_epsg(32631))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from sen12ms_models._types import PathLike
from sen12ms_models.bands import L2A_BANDS, LC_BANDS, S1_BANDS, S2_BANDS
from sen12ms_models.datasets.tree import SENSORS, PatchId, Sensor, parse_file_name, sibling_path
from sen12ms_models.errors import PatchFileError
from sen12ms_models.inputs.declared import declared_scaling
from sen12ms_models.inputs.identity import band_positions, bands_from_descriptions, canonical_band
from sen12ms_models.inputs.nodata import s1_valid, s2_valid
from sen12ms_models.inputs.units import check_s1_units, check_s2_units, refuse_uint8

#: What each sensor's GeoTIFF holds: band names and numpy dtype.
SENSOR_LAYOUT: dict[str, tuple[tuple[str, ...], np.dtype]] = {
    "s1": (S1_BANDS, np.dtype("float32")),
    "s2": (S2_BANDS, np.dtype("uint16")),
    "lc": (LC_BANDS, np.dtype("uint16")),
}

#: Largest raster ``read_patch`` reads whole (SEN12MS patches are 256x256); scenes go through
#: ``mapping.map_scene``'s windowed reads. A tiny file can declare a huge raster: refuse it early.
MAX_PATCH_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class Patch:
    """One GeoTIFF's pixels ``(bands, H, W)`` with its georeferencing, and what reading corrected."""

    array: np.ndarray
    bands: tuple[str, ...]
    crs: CRS | None
    transform: Affine
    path: Path
    corrections: tuple[str, ...] = ()  # e.g. a declared offset applied, bands reordered by name


def read_patch(
    path: PathLike, sensor: Sensor | None = None, *, bands: Sequence[str] | None = None, check_units: bool = True
) -> Patch:
    """Read a whole S1, S2 or LC GeoTIFF, checking its layout, in SEN12MS units and band order.

    ``sensor`` defaults to the one in the SEN12MS file name; pass it to read a file named
    otherwise. ``bands`` names the bands to return, in order (default: the sensor's SEN12MS
    bands; e.g. ``bands.L2A_BANDS`` for a 12-band Level-2A file). Through ``sen12ms_models.inputs``:

    - band descriptions that name every band (``"VH"``, ``"B02"``) decide which band is which,
      so a file stored as VH, VV or with B8A last is read in the right order;
    - a declared scale/offset is applied (S2 DN with offset -1000 of baseline >= 04.00, or
      reflectance with scale 1e-4), and a declared ``nodata`` becomes the sensor's fill (S2: 0
      in every band; S1: NaN);
    - 8-bit or reflectance S2 and linear S1 are refused (``check_units=False`` to read anyway).

    What was corrected is listed in ``Patch.corrections``. Raises ``PatchFileError`` naming the
    file when it is missing, unreadable, corrupt, or its layout is not the sensor's, and
    ``InputUnitsError`` (a ``ValueError``) naming it when its units are wrong.
    """
    path = Path(path)
    if sensor is None:
        sensor = parse_file_name(path)[1]
    if sensor not in SENSOR_LAYOUT:
        raise ValueError(f"sensor must be one of {SENSORS}, got {sensor!r}")
    default_bands, dtype = SENSOR_LAYOUT[sensor]
    wanted = tuple(bands) if bands is not None else default_bands
    with open_raster(path) as dataset:
        if dataset.width * dataset.height > MAX_PATCH_PIXELS:
            raise PatchFileError(
                f"{path}: declares {dataset.width}x{dataset.height} pixels, more than a patch "
                f"({MAX_PATCH_PIXELS} at most); map whole scenes with sen12ms_models.mapping.map_scene"
            )
        notes: list[str] = []
        positions = _band_positions(dataset, path, sensor, wanted, bands is not None, notes)
        file_dtype = np.dtype(dataset.dtypes[0])
        if sensor != "s2" and file_dtype != dtype:
            raise PatchFileError(f"{path}: holds {file_dtype}, a SEN12MS {sensor} file holds {dtype}")
        if sensor == "s2" and file_dtype.kind not in "iuf":
            raise PatchFileError(f"{path}: holds {file_dtype}, a SEN12MS s2 file holds {dtype} DN")
        if sensor == "s2" and check_units and file_dtype == np.uint8:
            refuse_uint8(str(path))
        try:
            array = dataset.read([p + 1 for p in positions])
        except RasterioError as error:
            raise PatchFileError(f"{path}: not a readable GeoTIFF ({error})") from error
        if sensor in ("s1", "s2"):
            array = _to_model_units(dataset, path, sensor, array, positions, notes)
            if check_units:
                _check_units(path, sensor, array)
        return Patch(array, wanted, dataset.crs, dataset.transform, path, tuple(notes))


def _band_positions(
    dataset: DatasetReader, path: Path, sensor: str, wanted: tuple[str, ...], named: bool, notes: list[str]
) -> list[int]:
    """0-based file bands to read for ``wanted``: by the band descriptions when they name every
    band, else by position (the file must then hold exactly ``len(wanted)`` bands)."""
    described = bands_from_descriptions(dataset.descriptions, sensor) if sensor in ("s1", "s2") else None
    if sensor == "s1" and dataset.count == 2 and described is None:
        polarisations = [canonical_band(d, "s1") for d in dataset.descriptions]
        if any(p in ("HH", "HV") for p in polarisations):
            described = tuple(p or "?" for p in polarisations)
    if described is not None:
        try:
            positions = band_positions(described, wanted, str(path))
        except ValueError as error:
            hint = (
                "; the models were trained on VV, VH (HH/HV polar-region products do not fit them)"
                if sensor == "s1"
                else "; name the file's bands with bands=/s2_bands= (e.g. bands.L2A_BANDS)"
            )
            raise PatchFileError(f"{error} (from its band descriptions){hint}") from None
        if positions != list(range(dataset.count)):
            notes.append(f"bands taken by their descriptions ({', '.join(described)}) as {', '.join(wanted)}")
        return positions
    if dataset.count != len(wanted):
        hint = ""
        if sensor == "s2" and dataset.count == len(L2A_BANDS) and tuple(wanted) != L2A_BANDS:
            hint = "; for a 12-band Level-2A file pass bands=bands.L2A_BANDS (predict: s2_bands=L2A_BANDS)"
        if named:
            raise PatchFileError(
                f"{path}: has {dataset.count} bands, but bands= names {len(wanted)} ({', '.join(wanted)}){hint}"
            )
        raise PatchFileError(
            f"{path}: has {dataset.count} bands, a SEN12MS {sensor} file has {len(wanted)} ({', '.join(wanted)})" + hint
        )
    return list(range(len(wanted)))


def _to_model_units(
    dataset: DatasetReader, path: Path, sensor: str, raw: np.ndarray, positions: list[int], notes: list[str]
) -> np.ndarray:
    """Apply the declared nodata and scale/offset of the read bands (see ``inputs.declared``)."""
    nodata = dataset.nodata
    declared_fill = None
    if nodata is not None and not np.isnan(nodata):
        declared_fill = raw == np.asarray(nodata).astype(raw.dtype)
        if declared_fill.any():
            share = declared_fill.any(axis=0).mean()
            notes.append(f"{share:.1%} of the pixels hold the declared nodata {nodata:g}, read as no-data")
        else:
            declared_fill = None
    try:
        scaling = declared_scaling(
            [dataset.scales[p] for p in positions], [dataset.offsets[p] for p in positions], sensor, str(path)
        )
    except ValueError as error:
        raise PatchFileError(str(error)) from None
    if sensor == "s2":
        fill = (raw == 0).all(axis=0)
        if declared_fill is not None:
            fill |= declared_fill.any(axis=0)
        if scaling is not None:
            notes.append(scaling.note)
            return scaling.apply(raw, fill)
        if declared_fill is not None:
            raw = raw.copy()
            raw[:, fill] = 0
        return raw
    array = raw.astype(np.float32, copy=declared_fill is not None)
    if declared_fill is not None:
        array[declared_fill] = np.nan
    if scaling is not None:
        notes.append(scaling.note)
        array = scaling.apply(array)
    return array


def _check_units(path: Path, sensor: str, array: np.ndarray) -> None:
    """Refuse reflectance S2 and linear S1 (``inputs.units``); the error names ``path``."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
    if sensor == "s2":
        check_s2_units(tensor, s2_valid(tensor), [str(path)])
    else:
        check_s1_units(tensor, s1_valid(tensor), [str(path)])


@contextlib.contextmanager
def open_raster(path: Path) -> Iterator[DatasetReader]:
    """Open a GeoTIFF for reading; ``PatchFileError`` naming it if it is missing or unreadable."""
    if not path.is_file():
        raise PatchFileError(f"{path}: no such file")
    try:
        dataset = rasterio.open(path)
    except RasterioError as error:
        raise PatchFileError(f"{path}: not a readable GeoTIFF ({error})") from error
    with dataset:
        yield dataset


@dataclass(frozen=True)
class Triplet:
    """The S1, S2 and LC patches of one ``PatchId`` (all on the same grid)."""

    id: PatchId
    s1: Patch
    s2: Patch
    lc: Patch

    @property
    def crs(self) -> CRS | None:
        return self.s2.crs

    @property
    def transform(self) -> Affine:
        return self.s2.transform


def read_triplet(path: PathLike) -> Triplet:
    """Read the S1, S2 and LC files of a triplet from the path of any one of them."""
    patch_id, _ = parse_file_name(path)
    s1, s2, lc = (read_patch(sibling_path(path, sensor), sensor) for sensor in SENSORS)
    if not (s1.array.shape[1:] == s2.array.shape[1:] == lc.array.shape[1:]):
        raise PatchFileError(
            f"{patch_id}: S1, S2 and LC grids differ: {s1.array.shape}, {s2.array.shape}, {lc.array.shape}"
        )
    return Triplet(patch_id, s1, s2, lc)
