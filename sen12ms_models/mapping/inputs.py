"""The input files of a scene to map: checked once, then read window by window on one grid.

The reference grid is the S2 file's (the S1 file's when no S2 is given). An S1 file on another
grid (CRS, transform or size) is reprojected onto it on the fly with a ``WarpedVRT`` (bilinear,
NaN outside its footprint); one that does not overlap the reference at all is an error naming
both files. Only the bands the model reads are read.

No-data rule: a pixel is no-data where a read S2 band holds the file's nodata value or NaN,
where all read S2 bands are 0 (Sentinel-2's fill value), or, for models that read S1, where
both S1 bands are NaN or the S1 file's nodata value (outside the S1 footprint). The remaining
scattered NaN of S1 follow the published preprocessing (NaN -> 0 dB).

Through ``sen12ms_models.inputs``: band descriptions that name every band decide the band
order; a declared scale/offset is applied to each window (S2 to DN, e.g. the -1000 of baseline
>= 04.00). Units are checked per batch of windows by ``inputs.prepare`` (through ``predict``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.coords import disjoint_bounds
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.transform import array_bounds
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sen12ms_models._types import PathLike
from sen12ms_models.bands import S1_BANDS
from sen12ms_models.datasets.readers import open_raster
from sen12ms_models.errors import PatchFileError
from sen12ms_models.inputs.declared import Scaling, declared_scaling
from sen12ms_models.inputs.identity import band_positions, bands_from_descriptions, canonical_band
from sen12ms_models.inputs.units import refuse_uint8
from sen12ms_models.mapping.grid import WINDOW_SIZE
from sen12ms_models.transforms import Sen12msTransform


@dataclass(frozen=True)
class WindowData:
    """One window's model inputs (float32, ``None`` if the model does not read the sensor)
    and its no-data pixels."""

    s2: np.ndarray | None  # (len(s2_bands_used), 256, 256)
    s1: np.ndarray | None  # (2, 256, 256), dB, NaN where missing
    nodata: np.ndarray  # (256, 256) bool


@dataclass(frozen=True)
class SceneInputs:
    """Checked input files and the reference grid (``crs``, ``transform``, ``height``, ``width``)."""

    s2: Path | None  # set when the model reads S2
    s1: Path | None  # set when the model reads S1
    s2_indexes: tuple[int, ...]  # 1-based S2 file bands, in the model's order
    s1_warp: bool  # S1 is not on the reference grid
    crs: CRS
    transform: Affine
    height: int
    width: int
    s1_indexes: tuple[int, ...] = (1, 2)  # 1-based S1 file bands of VV, VH
    s2_scaling: Scaling | None = None  # declared scale/offset of the read S2 bands
    s1_scaling: Scaling | None = None
    corrections: tuple[str, ...] = ()  # what the files' metadata made us correct

    @classmethod
    def inspect(
        cls,
        preprocess: Sen12msTransform,
        *,
        s2: PathLike | None,
        s1: PathLike | None,
        s2_bands: Sequence[str],
        check_units: bool = True,
    ) -> SceneInputs:
        """Check the files a model with ``preprocess`` needs; raise naming the file on a problem.

        ``s2_bands`` names the S2 file's bands in order (band descriptions naming every band
        win). Declared scale/offset are taken up (applied to each window read); an 8-bit S2 file
        is refused unless ``check_units`` is False (other units are checked per batch). Files the model
        does not read are not opened, except an S2 file that sets the grid for an S1-only model.
        """
        s2_path = _required(s2, "s2", preprocess.s2_bands_used)
        s1_path = _required(s1, "s1", preprocess.s1_bands_used)
        reference = Path(s2) if s2 is not None else s1_path
        assert reference is not None  # _required demands one of them
        with open_raster(reference) as ref:
            _check_georeferenced(ref, reference)
            if ref.height < WINDOW_SIZE or ref.width < WINDOW_SIZE:
                raise PatchFileError(
                    f"{reference}: {ref.height}x{ref.width} pixels, smaller than one {WINDOW_SIZE}x{WINDOW_SIZE} window"
                )
            crs, transform, height, width = ref.crs, ref.transform, ref.height, ref.width
            notes: list[str] = []
            s2_indexes: tuple[int, ...] = ()
            s2_scaling = None
            if s2_path:
                if check_units and np.dtype(ref.dtypes[0]) == np.uint8:
                    refuse_uint8(str(reference))
                s2_indexes = _s2_indexes(ref, reference, preprocess, s2_bands, notes)
                s2_scaling = _scaling(ref, reference, "s2", s2_indexes, notes)
        s1_warp = False
        s1_indexes: tuple[int, ...] = (1, 2)
        s1_scaling = None
        if s1_path is not None:
            with open_raster(s1_path) as s1_file:
                s1_indexes = _check_s1(s1_file, s1_path, notes)
                s1_scaling = _scaling(s1_file, s1_path, "s1", s1_indexes, notes)
                s1_warp = not (
                    s1_file.crs == crs
                    and s1_file.transform.almost_equals(transform)
                    and s1_file.shape == (height, width)
                )
                if s1_warp:
                    _check_overlap(s1_file, s1_path, array_bounds(height, width, transform), crs, reference)
        return cls(
            s2_path,
            s1_path,
            s2_indexes,
            s1_warp,
            crs,
            transform,
            height,
            width,
            s1_indexes,
            s2_scaling,
            s1_scaling,
            tuple(notes),
        )

    @contextlib.contextmanager
    def open(self) -> Iterator[WindowReader]:
        """Open the files (in the thread that will read them) and yield a ``WindowReader``."""
        with contextlib.ExitStack() as stack:
            s2 = stack.enter_context(open_raster(self.s2)) if self.s2 else None
            s1: DatasetReader | WarpedVRT | None = stack.enter_context(open_raster(self.s1)) if self.s1 else None
            if s1 is not None and self.s1_warp:
                s1 = stack.enter_context(
                    WarpedVRT(
                        s1,
                        crs=self.crs,
                        transform=self.transform,
                        height=self.height,
                        width=self.width,
                        resampling=Resampling.bilinear,
                        src_nodata=math.nan if s1.nodata is None else s1.nodata,
                        nodata=math.nan,
                        dtype="float32",
                    )
                )
            yield WindowReader(s2, self.s2_indexes, s1, self.s1_indexes, self.s2_scaling, self.s1_scaling)


class WindowReader:
    """Reads the model's bands of one 256x256 window in model units and finds its no-data pixels."""

    def __init__(
        self,
        s2: DatasetReader | None,
        s2_indexes: tuple[int, ...],
        s1: DatasetReader | WarpedVRT | None,
        s1_indexes: tuple[int, ...] = (1, 2),
        s2_scaling: Scaling | None = None,
        s1_scaling: Scaling | None = None,
    ) -> None:
        self._s2, self._s2_indexes, self._s1, self._s1_indexes = s2, list(s2_indexes), s1, list(s1_indexes)
        self._s2_scaling, self._s1_scaling = s2_scaling, s1_scaling

    def read(self, window: Window) -> WindowData:
        """The window's bands; no-data S2 pixels are set to 0 (the fill) in every band."""
        nodata = np.zeros((WINDOW_SIZE, WINDOW_SIZE), dtype=bool)
        s2 = s1 = None
        if self._s2 is not None:
            s2 = _read(self._s2, window, self._s2_indexes)
            nodata |= np.isnan(s2).any(axis=0) | (s2 == 0).all(axis=0)
            if self._s2.nodata is not None:
                nodata |= (s2 == self._s2.nodata).any(axis=0)
            if self._s2_scaling is not None:
                s2 = self._s2_scaling.apply(s2, nodata)
        if self._s1 is not None:
            s1 = _read(self._s1, window, self._s1_indexes)
            if self._s1.nodata is not None and not math.isnan(self._s1.nodata):
                s1[s1 == self._s1.nodata] = np.nan
            if self._s1_scaling is not None:
                s1 = self._s1_scaling.apply(s1)
            nodata |= np.isnan(s1).all(axis=0)
        if s2 is not None:
            s2[:, nodata] = 0.0
        return WindowData(s2, s1, nodata)


def _read(dataset: DatasetReader | WarpedVRT, window: Window, indexes: list[int] | None = None) -> np.ndarray:
    """``indexes`` (default: all bands) of ``window`` as float32; a read error names the file."""
    try:
        return dataset.read(indexes, window=window, out_dtype="float32")
    except RasterioError as error:
        raise PatchFileError(f"{dataset.name}: reading {window} failed ({error})") from error


def _required(path: PathLike | None, name: str, bands: tuple[str, ...]) -> Path | None:
    """The path of an input the model reads (``None`` if it reads none of its bands)."""
    if not bands:
        return None
    if path is None:
        raise ValueError(f"{name} is required: this model reads its bands {list(bands)}")
    return Path(path)


def _check_georeferenced(dataset: DatasetReader, path: Path) -> None:
    if dataset.crs is None or dataset.transform == Affine.identity():
        raise PatchFileError(f"{path}: has no CRS or geotransform; a land-cover map needs a georeferenced scene")


def _s2_indexes(
    dataset: DatasetReader, path: Path, preprocess: Sen12msTransform, s2_bands: Sequence[str], notes: list[str]
) -> tuple[int, ...]:
    """1-based indexes of the model's S2 bands in the file whose bands are ``s2_bands`` (or
    those its band descriptions name, when they name every band)."""
    described = bands_from_descriptions(dataset.descriptions, "s2")
    if described is not None:
        try:
            positions = band_positions(described, preprocess.s2_bands_used, str(path))
        except ValueError as error:
            raise PatchFileError(f"{error} (from its band descriptions)") from None
        if tuple(described) != tuple(s2_bands):
            notes.append(f"{path}: S2 bands taken by their descriptions ({', '.join(described)})")
        return tuple(p + 1 for p in positions)
    preprocess.with_s2_bands(s2_bands)  # raises naming any band the model needs but s2_bands lacks
    if len(set(s2_bands)) != len(s2_bands):
        raise ValueError(f"s2_bands names a band twice: {list(s2_bands)}")
    if dataset.count != len(s2_bands):
        raise PatchFileError(
            f"{path}: has {dataset.count} bands, but s2_bands names {len(s2_bands)} ({', '.join(s2_bands)}); "
            "pass the file's band names in order as s2_bands (ready-made lists: sen12ms_models.bands)"
        )
    return tuple(list(s2_bands).index(band) + 1 for band in preprocess.s2_bands_used)


def _check_s1(dataset: DatasetReader, path: Path, notes: list[str]) -> tuple[int, ...]:
    """Check an S1 scene; the 1-based indexes of VV, VH (by band descriptions when they name both)."""
    _check_georeferenced(dataset, path)
    if dataset.count != len(S1_BANDS):
        raise PatchFileError(
            f"{path}: has {dataset.count} bands, an S1 scene has {len(S1_BANDS)} ({', '.join(S1_BANDS)})"
        )
    if np.dtype(dataset.dtypes[0]).kind != "f":
        raise PatchFileError(f"{path}: holds {dataset.dtypes[0]}; S1 backscatter must be in dB as floating point")
    described = [canonical_band(d, "s1") for d in dataset.descriptions]
    if any(p in ("HH", "HV") for p in described):
        raise PatchFileError(
            f"{path}: its band descriptions name {described}; the models were trained on VV, VH "
            "(HH/HV polar-region products do not fit them)"
        )
    if set(described) == set(S1_BANDS):
        positions = band_positions(described, S1_BANDS, str(path))  # type: ignore[arg-type]
        if positions != [0, 1]:
            notes.append(f"{path}: S1 bands taken by their descriptions ({', '.join(described)})")  # type: ignore[arg-type]
        return tuple(p + 1 for p in positions)
    return (1, 2)


def _scaling(
    dataset: DatasetReader, path: Path, sensor: str, indexes: tuple[int, ...], notes: list[str]
) -> Scaling | None:
    """The declared scale/offset of the read bands (``inputs.declared``), noted in ``notes``."""
    try:
        scaling = declared_scaling(
            [dataset.scales[i - 1] for i in indexes], [dataset.offsets[i - 1] for i in indexes], sensor, str(path)
        )
    except ValueError as error:
        raise PatchFileError(str(error)) from None
    if scaling is not None:
        notes.append(f"{path}: {scaling.note}")
    return scaling


def _check_overlap(
    s1: DatasetReader, s1_path: Path, ref_bounds: tuple[float, float, float, float], ref_crs: CRS, ref_path: Path
) -> None:
    s1_bounds = transform_bounds(s1.crs, ref_crs, *s1.bounds, densify_pts=21)
    if disjoint_bounds(s1_bounds, ref_bounds):
        raise PatchFileError(
            f"{s1_path} does not overlap {ref_path}: S1 covers {tuple(round(v) for v in s1_bounds)}, "
            f"the S2 grid {tuple(round(v) for v in ref_bounds)} (in {ref_crs})"
        )
