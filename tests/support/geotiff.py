"""Write an array of any shape and dtype as a GeoTIFF, for tests that need files other than SEN12MS triplets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin

UTM31 = CRS.from_epsg(32631)
ORIGIN = from_origin(600000, 5300000, 10, 10)


def write_geotiff(
    path: Path, array: np.ndarray, transform: Affine = ORIGIN, crs: CRS | str = UTM31, **profile: Any
) -> Path:
    """Write ``array`` (bands, rows, cols) to ``path`` in its own dtype; ``profile`` adds creation options."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=array.shape[1],
        width=array.shape[2],
        count=array.shape[0],
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        **profile,
    ) as dataset:
        dataset.write(array)
    return path
