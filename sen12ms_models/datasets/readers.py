"""Read SEN12MS GeoTIFFs with rasterio: one patch, or the three files of a triplet.

Reading checks each file's band count, dtype and size against what SEN12MS ships (S1: 2 bands
float32 dB; S2: 13 bands uint16 DN; LC: 4 bands uint16) and raises ``PatchFileError`` naming
the file otherwise.

>>> triplet = read_triplet("ROIs1158_spring/s2_63/ROIs1158_spring_s2_63_p100.tif")  # doctest: +SKIP
>>> triplet.s2.array.shape, triplet.crs                                           # doctest: +SKIP
((13, 256, 256), CRS.from_epsg(32631))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from sen12ms_models._types import PathLike
from sen12ms_models.bands import LC_BANDS, S1_BANDS, S2_BANDS
from sen12ms_models.datasets.tree import SENSORS, PatchId, Sensor, parse_file_name, sibling_path
from sen12ms_models.errors import PatchFileError

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
    """One GeoTIFF's pixels ``(bands, H, W)`` with its georeferencing."""

    array: np.ndarray
    bands: tuple[str, ...]
    crs: CRS | None
    transform: Affine
    path: Path


def read_patch(path: PathLike, sensor: Sensor | None = None) -> Patch:
    """Read a whole S1, S2 or LC GeoTIFF, checking its band count and dtype.

    ``sensor`` defaults to the one in the SEN12MS file name; pass it to read a file named
    otherwise. Raises ``PatchFileError`` naming the file when it is missing, unreadable,
    corrupt, or its layout is not the sensor's.
    """
    path = Path(path)
    if sensor is None:
        sensor = parse_file_name(path)[1]
    if sensor not in SENSOR_LAYOUT:
        raise ValueError(f"sensor must be one of {SENSORS}, got {sensor!r}")
    bands, dtype = SENSOR_LAYOUT[sensor]
    with open_raster(path) as dataset:
        if dataset.count != len(bands):
            raise PatchFileError(
                f"{path}: has {dataset.count} bands, a SEN12MS {sensor} file has {len(bands)} ({', '.join(bands)})"
            )
        if dataset.width * dataset.height > MAX_PATCH_PIXELS:
            raise PatchFileError(
                f"{path}: declares {dataset.width}x{dataset.height} pixels, more than a patch "
                f"({MAX_PATCH_PIXELS} at most); map whole scenes with sen12ms_models.mapping.map_scene"
            )
        if np.dtype(dataset.dtypes[0]) != dtype:
            raise PatchFileError(f"{path}: holds {dataset.dtypes[0]}, a SEN12MS {sensor} file holds {dtype}")
        try:
            array = dataset.read()
        except RasterioError as error:
            raise PatchFileError(f"{path}: not a readable GeoTIFF ({error})") from error
        return Patch(array, bands, dataset.crs, dataset.transform, path)


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
