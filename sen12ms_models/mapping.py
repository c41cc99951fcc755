"""``map_scene``: a model's 256x256 windows slid over a whole Sentinel scene, written as GeoTIFFs.

A second thread reads windows one batch ahead; rows are written as they complete, under a temporary
name until the file is whole, so memory does not grow with the scene (``benchmarks/mapping_memory.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from affine import Affine
from rasterio.coords import disjoint_bounds
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sen12ms_models._progress import Progress
from sen12ms_models._types import PathLike
from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.classes import CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.errors import InputUnitsError, PatchFileError
from sen12ms_models.inputs.checks import batch_notes, warn_level_2a
from sen12ms_models.inputs.files import SensorFile
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.prediction import SensorBatch, predict_batch, predicting
from sen12ms_models.transforms import Sen12msTransform

Resolution = Literal["window", "source"]
OutputDtype = Literal["float32", "uint8"]
#: GDAL block cache while mapping, for overlapping windows (GDAL's default is 5 % of RAM).
GDAL_CACHE_BYTES = 64 * 2**20
#: Class-map value of no-data pixels.
CLASS_NODATA = 255
#: Bytes written per call at most (source resolution repeats rows; this bounds the copy).
_CHUNK_BYTES = 8 * 2**20


@dataclass(frozen=True)
class WindowGrid:
    """The windows of a ``height x width`` scene (at least one window each way) mapped with ``stride`` (1..256).

    >>> grid = WindowGrid(height=10980, width=10980, stride=256)
    >>> grid.rows, grid.cols, grid.window(0, 42).col_off   # the last window ends at the scene edge
    (43, 43, 10724)
    """

    height: int
    width: int
    stride: int

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= PATCH_SIZE:
            raise ValueError(f"stride must be between 1 and {PATCH_SIZE} pixels, got {self.stride}")

    @property
    def rows(self) -> int:
        return math.ceil(self.height / self.stride)

    @property
    def cols(self) -> int:
        return math.ceil(self.width / self.stride)

    def window(self, row: int, col: int) -> Window:
        """The source window output pixel ``(row, col)`` is predicted from: centred on it, inside the scene."""
        return Window(self._start(col, self.width), self._start(row, self.height), PATCH_SIZE, PATCH_SIZE)

    def _start(self, index: int, extent: int) -> int:
        return min(max(index * self.stride - (PATCH_SIZE - self.stride) // 2, 0), extent - PATCH_SIZE)

    def cells(self) -> list[tuple[int, int]]:
        """Output pixels ``(row, col)`` in row-major order, the order results are written in."""
        return [(row, col) for row in range(self.rows) for col in range(self.cols)]


@dataclass(frozen=True)
class SceneMap:
    """What ``map_scene`` wrote: the files, their grid, and how the windows went."""

    out: Path
    class_map: Path | None
    cloud_map: Path | None
    crs: CRS
    transform: Affine
    height: int
    width: int
    windows: int
    skipped: int  # windows written as no-data (too little valid data)
    seconds: float
    corrections: tuple[str, ...] = ()  # what the inputs' metadata or the options made map_scene correct

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        written = ", ".join(str(p) for p in (self.out, self.class_map, self.cloud_map) if p)
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
    cloud_map: PathLike | None = None,
    stride: int = PATCH_SIZE,
    batch_size: int = 16,
    resolution: Resolution = "window",
    dtype: OutputDtype = "float32",
    options: InputOptions | None = None,
    precision: str = "fp32",
    progress: bool | None = None,
) -> SceneMap:
    """Classify every 256x256 window of a scene and write the class probabilities to ``out``.

    Args:
        model: a model from ``load_model``, or fine-tuned: its ``spec.classes`` name the outputs.
        s2, s1: the scene's S2 GeoTIFF in DN and S1 GeoTIFF (VV, VH in dB) on any overlapping grid.
        out: the probabilities, a band per class: float32 (NaN = no-data) or uint8 ``round(p * 255)``.
        class_map: also write the argmax class, uint8, 255 = no-data (the simplified-IGBP colours).
        cloud_map: also write each window's cloud share (float32; NaN: a window without data).
        stride: output pixel size in source pixels (1-256), each from the window centred on it.
        batch_size: windows per model call.
        resolution: ``window`` (one pixel per window) or ``source`` (the S2 grid itself).
        dtype: ``float32`` or ``uint8``.
        options: as for ``predict``; windows below ``min_valid`` are written as no-data.
        precision, progress: as for ``predict`` (``progress=None``: a bar on a terminal).

    Returns:
        A ``SceneMap`` summary.

    Raises:
        ValueError: a bad option, an output that would overwrite an input.
        PatchFileError: an input missing, not georeferenced, too small, or not overlapping S2.
        InputUnitsError: wrong units (naming the files and the window).
    """
    spec, options = model.spec, dataclasses.replace(options or InputOptions(), skip_invalid=True)
    if class_map is not None and len(spec.classes) > CLASS_NODATA:
        raise ValueError(f"a uint8 class map holds {CLASS_NODATA} classes at most, the model has {len(spec.classes)}")
    if resolution not in ("window", "source") or dtype not in ("float32", "uint8") or batch_size < 1:
        raise ValueError(
            "need resolution window|source, dtype float32|uint8, batch_size >= 1; "
            f"got {resolution}, {dtype}, {batch_size}"
        )
    outputs = [Path(p) if p is not None else None for p in (out, class_map, cloud_map)]
    check_outputs(outputs, [s2, s1])
    reads = spec.transforms
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        parameter = stack.enter_context(predicting(model, precision))
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES, GDAL_TIFF_INTERNAL_MASK=True))
        files = _open_inputs(stack, s2, s1 if reads.s1_bands_used else None, options, reads)
        reference = files.get("s2") or files["s1"]
        if "s2" in files:
            options = dataclasses.replace(options, level=options.level or files["s2"].level)
        if "s1" in files and files["s1"].named:  # its descriptions said the order, as s1_bands would
            options = dataclasses.replace(options, s1_bands=files["s1"].bands)
        grid = WindowGrid(reference.height, reference.width, stride)
        source = resolution == "source"
        repeat = stride if source else 1
        height, width = (grid.height, grid.width) if source else (grid.rows, grid.cols)
        transform = reference.transform if source else reference.transform @ Affine.scale(stride)
        profile = {"driver": "GTiff", "height": height, "width": width, "crs": reference.crs, "transform": transform}
        profile |= {"compress": "deflate", "BIGTIFF": "IF_SAFER"}
        tags = {
            "SEN12MS_MODEL": spec.name,
            "SEN12MS_LABEL_TYPE": spec.label_type,
            "SEN12MS_STRIDE": stride,
            "SEN12MS_MIN_VALID": options.min_valid,
            "SEN12MS_PIXEL": f"the {stride}x{stride} block of the source grid it covers, predicted from the "
            f"{PATCH_SIZE}x{PATCH_SIZE} window centred on it (shifted inward at the scene border)",
        }
        igbp = spec.classes == CLASSES
        kinds = (  # per output: its bands' descriptions, dtype and no-data value
            (spec.classes, dtype, np.nan if dtype == "float32" else None),  # uint8: an internal mask
            (["simplified IGBP " * igbp + "class: " + ", ".join(spec.classes)], "uint8", CLASS_NODATA),
            (["share of the window's pixels found cloudy"], "float32", np.nan),
        )
        written: list[Any] = [
            None if path is None else stack.enter_context(_output(path, profile, tags, *kind))
            for path, kind in zip(outputs, kinds, strict=True)
        ]
        if dtype == "uint8":
            written[0].scales = (1 / 255,) * len(spec.classes)
        if igbp and written[1] is not None:
            written[1].write_colormap(1, {c.index: (*c.rgb, 255) for c in SIMPLIFIED_IGBP})
        bar = stack.enter_context(Progress(grid.rows * grid.cols, f"map {spec.name}", "window", enabled=progress))
        skipped, level_2a, count = 0, None, len(spec.classes)
        row = np.full((count + 1, grid.cols), np.nan, dtype=np.float32)  # + the cloud share
        read_files = {s: f for s, f in files.items() if s == "s1" or reads.s2_bands_used}
        for cells, batch in _prefetch(read_files, grid, batch_size):
            try:
                probabilities, found = predict_batch(model, batch, options, parameter)
            except InputUnitsError as error:
                names = ", ".join(f"{sensor}={f.name}" for sensor, f in files.items())
                raise InputUnitsError(f"map_scene({names}), windows by their top-left (row, col): {error!s}") from None
            if found.level_2a and level_2a is None:
                warn_level_2a(level_2a := found.level_2a)
            clouds = found.cloud_fraction if found.cloud_fraction is not None else np.zeros(len(cells))
            clouds = np.where(clouds + found.valid_fraction > 0, clouds, np.nan)  # NaN: no data at all
            for (r, c), probability, cloud in zip(cells, probabilities.numpy(), clouds, strict=True):
                row[:count, c], row[count, c] = probability, cloud
                if c == grid.cols - 1:
                    _write_row(written, row, r * repeat, min((r + 1) * repeat, height), repeat, width)
            skipped += int(probabilities[:, 0].isnan().sum())
            bar.update(len(cells), postfix=lambda: f"{skipped} no-data")  # noqa: B023 (called at once)
    return SceneMap(
        out=Path(out),
        class_map=outputs[1],
        cloud_map=outputs[2],
        crs=reference.crs,
        transform=transform,
        height=height,
        width=width,
        windows=grid.rows * grid.cols,
        skipped=skipped,
        seconds=time.perf_counter() - started,
        corrections=(
            *(f"{f.name}: {n}" for f in read_files.values() for n in f.corrections),
            *(batch_notes(options) if reads.s2_bands_used else ()),
        ),
    )


def _open_inputs(
    stack: contextlib.ExitStack,
    s2: PathLike | None,
    s1: PathLike | None,
    options: InputOptions,
    reads: Sen12msTransform,
) -> dict[str, SensorFile]:
    """The scene files, georeferenced, at least one window large, S1 read on the S2 grid."""
    reads.check_given(s1=s1, s2=s2)
    files: dict[str, SensorFile] = {}
    if s2 is not None:
        files["s2"] = stack.enter_context(SensorFile(s2, "s2", options.s2_bands))
    if s1 is not None:
        files["s1"] = stack.enter_context(SensorFile(s1, "s1", options.s1_bands))
    for f in files.values():
        if f.crs is None or f.transform == Affine.identity():
            raise PatchFileError(f"{f.name}: has no CRS or geotransform; a land-cover map needs a georeferenced scene")
        if f.height < PATCH_SIZE or f.width < PATCH_SIZE:
            raise PatchFileError(
                f"{f.name}: {f.height}x{f.width} pixels, smaller than one {PATCH_SIZE}x{PATCH_SIZE} window"
            )
    ref, other = files.get("s2"), files.get("s1")
    if ref is None or other is None:
        return files
    same_size = (other.crs, other.height, other.width) == (ref.crs, ref.height, ref.width)
    if not same_size or not other.transform.almost_equals(ref.transform):
        s1_bounds = transform_bounds(other.crs, ref.crs, *other.bounds, densify_pts=21)
        if disjoint_bounds(s1_bounds, ref.bounds):
            raise PatchFileError(
                f"{other.name} does not overlap {ref.name}: S1 covers {tuple(round(v) for v in s1_bounds)}, "
                f"the S2 grid {tuple(round(v) for v in ref.bounds)} (in {ref.crs})"
            )
        other.reproject(ref.crs, ref.transform, ref.height, ref.width)
    return files


def _prefetch(
    files: dict[str, SensorFile], grid: WindowGrid, batch_size: int
) -> Iterator[tuple[list[tuple[int, int]], dict[str, SensorBatch]]]:
    """Batches of windows (row-major), each read by a second thread while the one before is predicted."""
    cells = grid.cells()

    def read(batch: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], dict[str, SensorBatch]]:
        at = [grid.window(*cell) for cell in batch]
        names = [f"window ({w.row_off}, {w.col_off})" for w in at]
        return batch, {
            s: SensorBatch(np.stack([f.read(w) for w in at]), f.bands, [f"{s} {n}" for n in names])
            for s, f in files.items()
        }

    with ThreadPoolExecutor(1, thread_name_prefix="sen12ms-map-reader") as pool:
        ahead = pool.submit(read, cells[:batch_size])
        for start in range(batch_size, len(cells), batch_size):
            done, ahead = ahead.result(), pool.submit(read, cells[start : start + batch_size])
            yield done
        yield ahead.result()


def check_outputs(outputs: Sequence[PathLike | None], inputs: Sequence[PathLike | None]) -> None:
    """``ValueError``/``FileNotFoundError`` unless the outputs go to existing folders and overwrite neither an
    input nor each other (the CLI checks before the weights load)."""
    given = [Path(path).resolve() for path in outputs if path is not None]
    if len(set(given)) != len(given):
        raise ValueError(f"two outputs are the same file: {given}")
    for path in given:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"output folder {path.parent} does not exist")
        if any(source is not None and Path(os.fspath(source)).resolve() == path for source in inputs):
            raise ValueError(f"output {path} would overwrite an input scene")


@contextlib.contextmanager
def _output(
    path: Path, profile: dict[str, Any], tags: dict[str, Any], descriptions: Sequence[str], dtype: str, nodata: Any
) -> Iterator[Any]:
    """A GeoTIFF written as ``.<name>.partial``: renamed to ``path`` once complete, else removed."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with rasterio.open(partial, "w", count=len(descriptions), dtype=dtype, nodata=nodata, **profile) as file:
            file.update_tags(**tags)
            file.descriptions = tuple(descriptions)
            yield file
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _write_row(files: list[Any], values: np.ndarray, top: int, bottom: int, repeat: int, width: int) -> None:
    """Write rows ``top:bottom`` from a ``(classes + 1, cols)`` row of probabilities and cloud shares."""
    probabilities, valid = values[:-1], ~np.isnan(values[0])
    uint8 = files[0].dtypes[0] == "uint8"
    classes = np.where(valid, np.nan_to_num(probabilities).argmax(axis=0), CLASS_NODATA)[None].astype(np.uint8)
    layers = [  # (how to write it, or None, and a (bands, cols) or (cols,) layer)
        (files[0].write, np.round(np.nan_to_num(probabilities) * 255).astype(np.uint8) if uint8 else probabilities),
        (files[0].write_mask if uint8 else None, valid * np.uint8(255)),
        (files[1] and files[1].write, classes),
        (files[2] and files[2].write, values[-1:]),
    ]
    step = max(1, _CHUNK_BYTES // (len(probabilities) * width * 4))
    for write, layer in layers:
        layer = np.repeat(layer, repeat, axis=-1)[..., :width]
        for y in range(top, bottom, step) if write else ():
            height = min(step, bottom - y)
            block = np.broadcast_to(layer[..., None, :], (*layer.shape[:-1], height, width))
            write(np.ascontiguousarray(block), window=Window(0, y, width, height))
