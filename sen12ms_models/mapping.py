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
- Output encoding (``mapping_output``): float32 (NaN = no-data) or uint8 ``round(p * 255)``
  with an internal mask; class map uint8 with the class colours, 255 = no-data.

>>> import sen12ms_models as sm
>>> from sen12ms_models.mapping import map_scene
>>> model = sm.load_model("resnet50", "s2")                                 # doctest: +SKIP
>>> map_scene(model, s2="T31UFQ.tif", out="T31UFQ_probs.tif", class_map="T31UFQ_classes.tif")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
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

from .bands import S2_BANDS
from .classes import NUM_CLASSES
from .mapping_grid import WINDOW_SIZE, WindowGrid
from .mapping_inputs import PathLike, SceneInputs
from .mapping_output import OUTPUT_DTYPES, RESOLUTIONS, MapWriter, OutputDtype, Resolution
from .mapping_reader import WindowBatch, in_background, read_batches
from .models import Sen12msClassifier
from .predict import predict
from .transforms import Sen12msTransform
from .weights import WeightsSpec

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

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        written = f"{self.out}" + (f" and {self.class_map}" if self.class_map else "")
        return (
            f"wrote {written}: {self.height}x{self.width} pixels, {self.windows} windows "
            f"({self.skipped} no-data), {self.windows_per_second:.1f} windows/s"
        )


def map_scene(
    model: Sen12msClassifier,
    *,
    s2: PathLike | None = None,
    s1: PathLike | None = None,
    out: PathLike,
    class_map: PathLike | None = None,
    stride: int = WINDOW_SIZE,
    batch_size: int = 16,
    resolution: Resolution = "window",
    dtype: OutputDtype = "float32",
    s2_bands: Sequence[str] = S2_BANDS,
    max_nodata: float = 0.5,
    progress: bool = True,
) -> SceneMap:
    """Classify every 256x256 window of a scene and write the class probabilities to ``out``.

    ``s2``: Sentinel-2 GeoTIFF in DN, bands named by ``s2_bands`` (default the 13 SEN12MS
    bands B1..B12; e.g. 12 names for an L2A stack without B10). ``s1``: VV, VH in dB, on any
    grid that overlaps S2. Inputs the model does not read are ignored (an S2 file still sets
    the grid). ``stride`` (1-256 pixels) is the output pixel size in source pixels: smaller
    strides map finer at ``(256 / stride)**2`` times the cost. ``class_map``: also write the
    argmax class as a colour-mapped uint8 GeoTIFF. See the module docstring for the grid,
    border and no-data rules. Returns a ``SceneMap`` summary.

    >>> map_scene(model, s2="scene_s2.tif", s1="scene_s1.tif", out="probs.tif", stride=128)  # doctest: +SKIP
    """
    spec = _check_model(model)
    out = Path(out)
    class_map = Path(class_map) if class_map is not None else None
    _check_options(batch_size, resolution, dtype, max_nodata)
    _check_outputs([out, class_map], [s2, s1])
    preprocess = spec.transforms
    inputs = SceneInputs.inspect(preprocess, s2=s2, s1=s1, s2_bands=s2_bands)
    grid = WindowGrid(inputs.height, inputs.width, stride)
    # The reader hands over exactly the S2 bands the model reads, in its order.
    window_preprocess = preprocess.with_s2_bands(preprocess.s2_bands_used)
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
            in_background(
                lambda: read_batches(inputs, grid, preprocess, batch_size=batch_size, max_nodata=max_nodata),
                depth=PREFETCH_BATCHES,
            )
        ) as batches,
        tqdm(total=len(grid), desc=f"map {spec.name}", unit="window", disable=not progress) as bar,
    ):
        skipped = _predict_rows(model, batches, grid, window_preprocess, writer, bar)
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
    )


def _predict_rows(
    model: Sen12msClassifier,
    batches: Iterable[WindowBatch],
    grid: WindowGrid,
    preprocess: Sen12msTransform,
    writer: MapWriter,
    bar: tqdm,
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
                model, s1=batch.s1, s2=batch.s2, batch_size=int(batch.valid.sum()), transform=preprocess
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


def register_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``sen12ms-models map`` to the ``sen12ms-models`` parser."""
    from .cli import add_model_arguments

    parser = commands.add_parser(
        "map",
        help="map a whole Sentinel scene to a land-cover GeoTIFF (sliding 256x256 windows)",
        description=(
            "Slide a model over a Sentinel-2 (and optionally Sentinel-1) scene and write per-class "
            "probabilities: one pixel per STRIDE x STRIDE block of the S2 grid, predicted from the "
            "256x256 window centred on it. Windows at the scene border are shifted inward (no "
            "padding); windows with more than MAX_NODATA no-data pixels are written as no-data."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument("--weights", type=Path, metavar="PATH", help="a local .safetensors file instead of the Hub's")
    parser.add_argument("--s2", type=Path, metavar="PATH", help="Sentinel-2 GeoTIFF in DN (sets the output grid)")
    parser.add_argument(
        "--s1", type=Path, metavar="PATH", help="Sentinel-1 GeoTIFF, VV and VH in dB (reprojected if on another grid)"
    )
    parser.add_argument(
        "-o", "--out", type=Path, required=True, metavar="PATH", help="probability GeoTIFF to write (a band per class)"
    )
    parser.add_argument(
        "--class-map", type=Path, metavar="PATH", help="also write the argmax class map (uint8, colour table)"
    )
    parser.add_argument("--stride", type=int, default=WINDOW_SIZE, help="window step = output pixel size, in pixels")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per model call")
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, default="window", help="one pixel per window, or the S2 grid itself"
    )
    parser.add_argument("--dtype", choices=OUTPUT_DTYPES, default="float32", help="uint8 stores round(p * 255)")
    parser.add_argument(
        "--s2-bands",
        type=lambda text: tuple(b.strip() for b in text.split(",")),
        default=S2_BANDS,
        metavar="NAMES",
        help=f"the S2 file's band names in order, comma-separated (default {','.join(S2_BANDS)})",
    )
    parser.add_argument(
        "--max-nodata", type=float, default=0.5, help="skip windows with a larger no-data fraction (default 0.5)"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.set_defaults(func=_map)


def _map(args: argparse.Namespace) -> int:
    from .loading import load_model
    from .models import optimize_for_inference

    model = optimize_for_inference(
        load_model(args.arch, args.modality, args.label_type, weights=args.weights, device=args.device)
    )
    result = map_scene(
        model,
        s2=args.s2,
        s1=args.s1,
        out=args.out,
        class_map=args.class_map,
        stride=args.stride,
        batch_size=args.batch_size,
        resolution=args.resolution,
        dtype=args.dtype,
        s2_bands=args.s2_bands,
        max_nodata=args.max_nodata,
    )
    print(result)
    return 0


__all__ = ["SceneMap", "map_scene", "register_commands"]
