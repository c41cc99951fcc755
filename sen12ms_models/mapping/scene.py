"""Map a whole Sentinel scene: sliding 256x256 windows in, a georeferenced land-cover GeoTIFF out.

A model classifies 256x256 patches; ``map_scene`` slides it over a scene of any size (a
10980x10980 Sentinel-2 tile, a mosaic) and writes the class probabilities of every window as a
GeoTIFF, plus an optional colour-mapped class map. Windows are read with windowed rasterio
reads by a background thread while the model runs; output rows are written as they complete;
GDAL's block cache is capped at 64 MiB. Peak memory therefore does not grow with the scene
(``benchmarks/mapping_memory.py`` measures it).

The rules, in detail where they are implemented:

- Output grid (``mapping_grid``): pixel ``(r, c)`` covers the ``stride x stride`` block of source
  pixels starting at row ``r*stride``, column ``c*stride`` (transform = source transform scaled
  by ``stride``, same origin), predicted from the 256x256 window centred on that block.
  ``resolution="source"`` repeats that value over the block, on the source grid itself.
- Border: windows are shifted inward to stay inside the scene (no padding); the last output
  row/column covers the leftover pixels. Scenes smaller than 256x256 are refused.
- No-data (``mapping_inputs``, ``mapping_reader``): windows with more than ``max_nodata`` (50 %)
  no-data pixels (S2 nodata value or NaN, all-zero S2 DN, or outside the S1 footprint) are
  skipped and written as no-data; in kept windows no-data S2 pixels get the band's mean.
- S1 on another grid is reprojected onto the S2 grid on the fly (``WarpedVRT``, bilinear).
- Units, band identity, declared scale/offset (``sen12ms_models.inputs``): as for ``predict``;
  ``s2_offset=1000`` for undeclared baseline >= 04.00 DN.
- Output encoding (``mapping_output``): float32 (NaN = no-data) or uint8 ``round(p * 255)``
  with an internal mask; class map uint8 with the class colours, 255 = no-data.

>>> import sen12ms_models as sm
>>> from sen12ms_models.mapping import map_scene
>>> model = sm.load_model("resnet50", "s2")                                 # doctest: +SKIP
>>> map_scene(model, s2="T31UFQ.tif", out="T31UFQ_probs.tif", class_map="T31UFQ_classes.tif")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from tqdm.auto import tqdm

from sen12ms_models._threads import prefetch
from sen12ms_models._types import PathLike
from sen12ms_models.bands import S2_BANDS
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.inputs.units import InputUnitsError
from sen12ms_models.mapping.grid import WINDOW_SIZE, WindowGrid
from sen12ms_models.mapping.inputs import SceneInputs
from sen12ms_models.mapping.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_NODATA,
    OUTPUT_DTYPES,
    RESOLUTIONS,
    OutputDtype,
    Resolution,
)
from sen12ms_models.mapping.output import MapWriter
from sen12ms_models.mapping.reader import WindowBatch, read_batches
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.spec import WeightsSpec
from sen12ms_models.prediction import predict
from sen12ms_models.transforms import Sen12msTransform

#: GDAL block cache while mapping: large enough for overlapping windows to hit it, small
#: enough that it does not grow with the scene (GDAL's default is 5 % of RAM).
GDAL_CACHE_BYTES = 64 * 2**20
#: Batches the reader thread may hold ready ahead of the model.
PREFETCH_BATCHES = 2


@dataclass(frozen=True)
class SceneMap:
    """What ``map_scene`` wrote: the files, their grid, and how the windows went."""

    out: Path
    class_map: Path | None
    crs: CRS
    transform: Affine
    height: int
    width: int
    windows: int
    skipped: int  # windows written as no-data
    seconds: float
    corrections: tuple[str, ...] = ()  # what the inputs' metadata or s2_offset made map_scene correct

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        written = f"{self.out}" + (f" and {self.class_map}" if self.class_map else "")
        return (
            f"wrote {written}: {self.height}x{self.width} pixels, {self.windows} windows "
            f"({self.skipped} no-data), {self.windows_per_second:.1f} windows/s"
        ) + "".join(f"\n  corrected: {note}" for note in self.corrections)


def map_scene(
    model: Sen12msClassifier,
    *,
    s2: PathLike | None = None,
    s1: PathLike | None = None,
    out: PathLike,
    class_map: PathLike | None = None,
    stride: int = WINDOW_SIZE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    resolution: Resolution = "window",
    dtype: OutputDtype = "float32",
    s2_bands: Sequence[str] = S2_BANDS,
    max_nodata: float = DEFAULT_MAX_NODATA,
    progress: bool = True,
    s2_offset: float = 0,
    check_units: bool = True,
) -> SceneMap:
    """Classify every 256x256 window of a scene and write the class probabilities to ``out``.

    ``s2``: Sentinel-2 GeoTIFF in DN, bands named by ``s2_bands`` (default the 13 SEN12MS
    bands B1..B12; e.g. 12 names for an L2A stack without B10). ``s1``: VV, VH in dB, on any
    grid that overlaps S2. Inputs the model does not read are ignored (an S2 file still sets
    the grid). ``stride`` (1-256 pixels) is the output pixel size in source pixels: smaller
    strides map finer at ``(256 / stride)**2`` times the cost. ``class_map``: also write the
    argmax class as a colour-mapped uint8 GeoTIFF. See the module docstring for the grid,
    border and no-data rules. ``s2_offset``: DN to subtract from S2 (1000 for processing
    baseline >= 04.00, unless the file declares the offset, which is then applied by itself).
    Inputs go through ``sen12ms_models.inputs``: band descriptions, declared scale/offset and
    nodata are applied (listed in ``SceneMap.corrections``); reflectance or 8-bit S2 and linear
    S1 are refused (``check_units=False`` to map anyway). Returns a ``SceneMap`` summary.

    >>> map_scene(model, s2="scene_s2.tif", s1="scene_s1.tif", out="probs.tif", stride=128)  # doctest: +SKIP
    """
    spec = _check_model(model)
    out = Path(out)
    class_map = Path(class_map) if class_map is not None else None
    _check_options(batch_size, resolution, dtype, max_nodata)
    _check_outputs([out, class_map], [s2, s1])
    preprocess = spec.transforms.with_s2_offset(s2_offset)
    inputs = SceneInputs.inspect(preprocess, s2=s2, s1=s1, s2_bands=s2_bands, check_units=check_units)
    grid = WindowGrid(inputs.height, inputs.width, stride)
    # The reader hands over exactly the S2 bands the model reads, in its order.
    window_preprocess = preprocess.with_s2_bands(preprocess.s2_bands_used)
    corrections = inputs.corrections + (
        (f"subtracted s2_offset={s2_offset:g} from every S2 value",) if s2_offset and preprocess.s2_bands_used else ()
    )
    started = time.perf_counter()
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES, GDAL_TIFF_INTERNAL_MASK=True),
        MapWriter(
            grid,
            inputs.crs,
            inputs.transform,
            out=out,
            class_map=class_map,
            resolution=resolution,
            dtype=dtype,
            tags=_tags(spec, stride, max_nodata),
        ) as writer,
        contextlib.closing(
            prefetch(
                lambda: read_batches(inputs, grid, preprocess, batch_size=batch_size, max_nodata=max_nodata),
                depth=PREFETCH_BATCHES,
                name="sen12ms-map-reader",
            )
        ) as batches,
        tqdm(total=len(grid), desc=f"map {spec.name}", unit="window", disable=not progress) as bar,
    ):
        try:
            skipped = _predict_rows(model, batches, grid, window_preprocess, writer, bar, check_units)
        except InputUnitsError as error:
            files = ", ".join(f"{name}={path}" for name, path in (("s2", inputs.s2), ("s1", inputs.s1)) if path)
            raise InputUnitsError(f"map_scene({files}): a window of {error!s}") from None
    return SceneMap(
        out=out,
        class_map=class_map,
        crs=inputs.crs,
        transform=writer.transform,
        height=writer.height,
        width=writer.width,
        windows=len(grid),
        skipped=skipped,
        seconds=time.perf_counter() - started,
        corrections=corrections,
    )


def _predict_rows(
    model: Sen12msClassifier,
    batches: Iterable[WindowBatch],
    grid: WindowGrid,
    preprocess: Sen12msTransform,
    writer: MapWriter,
    bar: tqdm,
    check_units: bool = True,
) -> int:
    """Run the model on each batch's kept windows and write output rows as they complete.

    Returns the number of windows skipped as no-data.
    """
    skipped = 0
    row = np.full((NUM_CLASSES, grid.cols), np.nan, dtype=np.float32)
    for batch in batches:
        probabilities = np.full((len(batch.cells), NUM_CLASSES), np.nan, dtype=np.float32)
        if batch.valid.any():
            probabilities[batch.valid] = predict(
                model,
                s1=batch.s1,
                s2=batch.s2,
                batch_size=int(batch.valid.sum()),
                transform=preprocess,
                check_units=check_units,
                min_valid=0.0,  # windows above max_nodata were skipped by the reader already
            ).probabilities
        for (r, c), values in zip(batch.cells, probabilities, strict=True):
            row[:, c] = values
            if c == grid.cols - 1:
                writer.write_row(r, row)
        skipped += int((~batch.valid).sum())
        bar.update(len(batch.cells))
        bar.set_postfix(no_data=skipped, refresh=False)
    return skipped


def _tags(spec: WeightsSpec, stride: int, max_nodata: float) -> dict[str, object]:
    """Metadata written into the output files: the model and the rules that made the map."""
    return {
        "SEN12MS_MODEL": spec.name,
        "SEN12MS_LABEL_TYPE": spec.label_type,
        "SEN12MS_STRIDE": stride,
        "SEN12MS_MAX_NODATA": max_nodata,
        "SEN12MS_PIXEL": f"the {stride}x{stride} block of the source grid it covers, predicted from the "
        f"{WINDOW_SIZE}x{WINDOW_SIZE} window centred on it (shifted inward at the scene border)",
    }


def _check_model(model: Sen12msClassifier) -> WeightsSpec:
    spec = getattr(model, "spec", None)
    if spec is None:
        raise ValueError(
            "map_scene needs a model carrying its WeightsSpec (model.spec) for its bands and label type; "
            "load it with sen12ms_models.load_model(...)"
        )
    if model.num_classes != NUM_CLASSES:
        raise ValueError(
            f"map_scene writes the {NUM_CLASSES} simplified-IGBP classes, the model has {model.num_classes} outputs"
        )
    return spec


def _check_options(batch_size: int, resolution: str, dtype: str, max_nodata: float) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    if dtype not in OUTPUT_DTYPES:
        raise ValueError(f"dtype must be one of {OUTPUT_DTYPES}, got {dtype!r}")
    if not 0.0 <= max_nodata < 1.0:
        raise ValueError(f"max_nodata must be in [0, 1), got {max_nodata}")


def _check_outputs(outputs: list[Path | None], inputs: list[PathLike | None]) -> None:
    """Outputs go to existing folders and overwrite neither an input nor each other."""
    given = [path.resolve() for path in outputs if path is not None]
    if len(set(given)) != len(given):
        raise ValueError(f"out and class_map are the same file: {given[0]}")
    for path in given:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"output folder {path.parent} does not exist")
        if any(source is not None and Path(source).resolve() == path for source in inputs):
            raise ValueError(f"output {path} would overwrite an input scene")
