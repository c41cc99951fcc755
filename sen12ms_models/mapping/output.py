"""The GeoTIFFs a scene map is written to, one output row at a time, so memory stays flat.

- Probabilities: one band per class (descriptions = class names). ``float32`` with NaN as
  no-data, or ``uint8`` holding ``round(p * 255)`` (scale 1/255 recorded in the file) with an
  internal mask (0 = no-data), since all 256 values are taken.
- Class map (optional): one ``uint8`` band, the argmax class index 0-9 with the
  simplified-IGBP colour table, ``255`` = no-data.

``resolution="window"`` writes one pixel per window on the grid of ``mapping_grid``;
``"source"`` repeats each window's value over its ``stride x stride`` block of the source grid
(same CRS, transform and size as the source). Files are striped and written top to bottom in
full rows, under a temporary name renamed into place once complete: a failed run leaves no
half-written map behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from sen12ms_models.classes import CLASSES, NUM_CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.mapping.grid import WindowGrid
from sen12ms_models.mapping.options import OutputDtype, Resolution

#: Class-map value of no-data pixels.
CLASS_NODATA = 255
#: Bytes written per call at most (source resolution repeats rows; this bounds the copy).
_CHUNK_BYTES = 8 * 2**20


class MapWriter:
    """Open the output file(s) for ``grid`` on the source grid ``crs``/``transform``."""

    def __init__(
        self,
        grid: WindowGrid,
        crs: CRS,
        transform: Affine,
        *,
        out: Path,
        class_map: Path | None,
        resolution: Resolution,
        dtype: OutputDtype,
        tags: dict[str, Any],
    ) -> None:
        self._grid, self._resolution, self._dtype = grid, resolution, dtype
        if resolution == "source":
            self.height, self.width, self.transform = grid.height, grid.width, transform
        else:
            self.height, self.width, self.transform = grid.rows, grid.cols, grid.output_transform(transform)
        self._final = [path for path in (out, class_map) if path is not None]
        self._partial = [path.with_name(f".{path.name}.partial") for path in self._final]
        common = {
            "driver": "GTiff",
            "height": self.height,
            "width": self.width,
            "crs": crs,
            "transform": self.transform,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        self._stack = contextlib.ExitStack()
        try:
            self._probabilities = self._stack.enter_context(
                rasterio.open(
                    self._partial[0],
                    "w",
                    count=NUM_CLASSES,
                    dtype=dtype,
                    nodata=np.nan if dtype == "float32" else None,
                    **common,
                )
            )
            self._probabilities.descriptions = CLASSES
            if dtype == "uint8":
                self._probabilities.scales = (1 / 255,) * NUM_CLASSES
            self._probabilities.update_tags(**tags)
            self._classes = None
            if class_map is not None:
                self._classes = self._stack.enter_context(
                    rasterio.open(self._partial[1], "w", count=1, dtype="uint8", nodata=CLASS_NODATA, **common)
                )
                self._classes.write_colormap(1, {c.index: (*c.rgb, 255) for c in SIMPLIFIED_IGBP})
                self._classes.set_band_description(1, "simplified IGBP class: " + ", ".join(CLASSES))
                self._classes.update_tags(**tags)
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None:
            self._discard()
            return
        self._stack.close()
        for partial, final in zip(self._partial, self._final, strict=True):
            os.replace(partial, final)

    def _discard(self) -> None:
        """Close and delete the partial files (after an error)."""
        self._stack.close()
        for partial in self._partial:
            partial.unlink(missing_ok=True)

    def write_row(self, row: int, probabilities: np.ndarray) -> None:
        """Write output row ``row`` of the window grid: ``(NUM_CLASSES, grid.cols)``, NaN = no-data."""
        valid = ~np.isnan(probabilities[0])
        layers: list[tuple[Any, np.ndarray]] = []
        if self._dtype == "uint8":
            layers.append((self._probabilities, np.round(np.nan_to_num(probabilities) * 255).astype(np.uint8)))
        else:
            layers.append((self._probabilities, probabilities.astype(np.float32)))
        if self._classes is not None:
            classes = np.where(valid, np.nan_to_num(probabilities).argmax(axis=0), CLASS_NODATA)
            layers.append((self._classes, classes[None].astype(np.uint8)))
        mask = (valid * 255).astype(np.uint8) if self._dtype == "uint8" else None
        if self._resolution == "window":
            top, bottom = row, row + 1
        else:
            stride = self._grid.stride
            top, bottom = row * stride, min((row + 1) * stride, self.height)
            layers = [(dataset, np.repeat(values, stride, axis=-1)[:, : self.width]) for dataset, values in layers]
            mask = None if mask is None else np.repeat(mask, stride)[: self.width]
        step = max(1, _CHUNK_BYTES // (NUM_CLASSES * self.width * np.dtype(self._dtype).itemsize))
        for y in range(top, bottom, step):
            window = Window(0, y, self.width, min(step, bottom - y))
            for dataset, values in layers:
                dataset.write(_rows(values, window.height), window=window)
            if mask is not None:
                self._probabilities.write_mask(_rows(mask[None], window.height)[0], window=window)


def _rows(values: np.ndarray, height: int) -> np.ndarray:
    """``(bands, width)`` repeated into ``(bands, height, width)``."""
    return np.ascontiguousarray(np.broadcast_to(values[:, None, :], (values.shape[0], height, values.shape[1])))
