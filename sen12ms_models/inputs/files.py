"""Sentinel-1/2 GeoTIFFs (paths, URLs, GDAL paths) read with rasterio in SEN12MS units and band order:
band descriptions naming every band decide which band is which and a declared scale/offset brings S2 to
DN and S1 to dB, each reported in ``corrections``; a declared ``nodata`` becomes the sensor's fill."""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from sen12ms_models._types import PathLike
from sen12ms_models.bands import LC_BANDS, S1_BANDS, S2_BANDS, S2_QUANTIFICATION, S2_SATURATED, canonical_band
from sen12ms_models.errors import PatchFileError

Sensor = Literal["s1", "s2", "lc"]
SENSORS: tuple[Sensor, ...] = ("s1", "s2", "lc")

#: Largest raster ``read_patch`` reads whole (a tiny file can declare a huge one); scenes: ``map_scene``.
MAX_PATCH_PIXELS = 4096 * 4096
#: SEN12MS file names (Schmitt et al., 2019): ``<season>_<sensor>_<scene>_p<patch>.tif``.
FILE_NAME = re.compile(r"^(ROIs\d{4}_[a-z]+)_(s1|s2|lc)_(\d+)_p(\d+)\.tif$")
#: A scene folder of a sensor: ``s2_63``.
SCENE_DIR = re.compile(r"^(s1|s2|lc)_(\d+)$")
_L2A = re.compile(r"L2A|LEVEL-2A|BOA_ADD_OFFSET", re.IGNORECASE)
_OFFSET_TAG = re.compile(r"(RADIO|BOA)_ADD_OFFSET", re.IGNORECASE)
_L2A_HINT = "; for a 12-band Level-2A file: s2_bands=bands.L2A_BANDS"


@dataclass(frozen=True, order=True)
class SceneId:
    """A SEN12MS scene: season folder plus scene number (the sensor tag does not matter)."""

    season: str
    scene: int

    def __str__(self) -> str:
        return f"{self.season}/{self.scene}"

    @classmethod
    def parse(cls, text: str) -> SceneId:
        """Parse a published scene-list line such as ``ROIs1158_spring/s1_63``."""
        season, _, folder = text.strip().partition("/")
        match = SCENE_DIR.match(folder)
        if not season.startswith("ROIs") or match is None:
            raise ValueError(f"not a SEN12MS scene folder: {text!r} (expected e.g. 'ROIs1158_spring/s1_63')")
        return cls(season, int(match.group(2)))


@dataclass(frozen=True, order=True)
class PatchId:
    """One SEN12MS triplet: season folder, scene number and patch number."""

    season: str
    scene: int
    patch: int

    @property
    def scene_id(self) -> SceneId:
        return SceneId(self.season, self.scene)

    @classmethod
    def from_path(cls, path: PathLike) -> PatchId:
        """The patch of a SEN12MS file name (any sensor), e.g. ``ROIs1158_spring_s2_63_p100.tif``."""
        return parse_file_name(path)[0]

    def file_name(self, sensor: Sensor) -> str:
        return f"{self.season}_{sensor}_{self.scene}_p{self.patch}.tif"

    def relative_path(self, sensor: Sensor) -> Path:
        """Path of this patch's ``sensor`` file below the dataset root."""
        return Path(self.season, f"{sensor}_{self.scene}", self.file_name(sensor))

    def __str__(self) -> str:
        return f"{self.season}_{self.scene}_p{self.patch}"


def parse_file_name(path: PathLike) -> tuple[PatchId, Sensor]:
    """The patch and sensor of a SEN12MS file name; ``PatchFileError`` for any other name."""
    match = FILE_NAME.match(posixpath.basename(os.fspath(path)))
    if match is None:
        raise PatchFileError(f"{os.fspath(path)!r} is not a SEN12MS file name (e.g. ROIs1158_spring_s2_63_p100.tif)")
    season, sensor, scene, patch = match.groups()
    return PatchId(season, int(scene), int(patch)), sensor  # type: ignore[return-value]


def sibling_path(path: PathLike, sensor: Sensor) -> PathLike:
    """The ``sensor`` file of the same triplet: in the tree (``.../s2_63/`` -> ``.../s1_63/``), else
    beside ``path`` (URLs and GDAL paths as written)."""
    patch, own = parse_file_name(path)
    if _is_remote(text := os.fspath(path)):
        return text[: text.rindex("/") + 1] + patch.file_name(sensor)
    path = Path(path)
    if path.parent.name == f"{own}_{patch.scene}":
        return path.parent.parent / f"{sensor}_{patch.scene}" / patch.file_name(sensor)
    return path.with_name(patch.file_name(sensor))


def patch_files(paths: Sequence[PathLike], sensor: str | None = None) -> list[PathLike]:
    """SEN12MS files (the ``sensor`` ones when given) from files, URLs and folders (searched recursively),
    one per patch, in patch order; ``FileNotFoundError`` when there are none."""
    found: dict[PatchId, PathLike] = {}
    for path in paths:
        for file in sorted(Path(path).rglob("*.tif")) if os.path.isdir(path) else [path]:
            patch, own = parse_file_name(file)
            if sensor in (None, own):
                found.setdefault(patch, file)
    if not found:
        raise FileNotFoundError(f"no SEN12MS {sensor or ''} .tif file in {', '.join(os.fspath(p) for p in paths)}")
    return [found[key] for key in sorted(found)]


@dataclass(frozen=True)
class Patch:
    """One GeoTIFF's pixels ``(bands, H, W)`` with its georeferencing and what reading corrected."""

    array: np.ndarray
    bands: tuple[str, ...]
    crs: CRS | None
    transform: Affine
    path: str
    corrections: tuple[str, ...] = ()
    level: str | None = None  # "L2A" when the file's metadata says so
    named: bool = False  # its band descriptions named its bands (their order is known)


class SensorFile:
    """An open S1, S2 or LC GeoTIFF whose bands (``bands`` as for ``read_patch``), units and fill are resolved once."""

    def __init__(self, path: PathLike, sensor: Sensor, bands: Sequence[str] | None = None) -> None:
        self.name, self.sensor = os.fspath(path), sensor
        if not (_is_remote(self.name) or Path(self.name).is_file()):
            raise PatchFileError(f"{self.name}: no such file")
        try:
            self._file = self._dataset = rasterio.open(self.name)
        except RasterioError as error:
            raise PatchFileError(f"{self.name}: not a readable GeoTIFF ({error})") from error
        try:
            self._resolve(bands)
        except BaseException:
            self._file.close()
            raise

    def _resolve(self, bands: Sequence[str] | None) -> None:
        file, sensor, notes = self._file, self.sensor, []
        self.crs, self.transform, self.bounds = file.crs, file.transform, file.bounds
        self.height, self.width, self.nodata = file.height, file.width, file.nodata
        known = {"s1": S1_BANDS, "s2": S2_BANDS, "lc": LC_BANDS}[sensor]
        dtype = np.dtype(file.dtypes[0])  # S1 and S2 may come as any real numbers
        if (sensor != "lc" and dtype.kind not in "iuf") or (sensor == "lc" and dtype != np.uint16):
            raise PatchFileError(
                f"{self.name}: holds {dtype}, a SEN12MS {sensor} file holds {'float32' if sensor == 's1' else 'uint16'}"
                + ("" if sensor == "lc" else "; convert it to real numbers (S1: backscatter in dB, not complex SLC)")
            )
        numbered = [f"BAND {i}" for i in range(1, file.count + 1)]  # positions, not band names
        by_position = sensor == "lc" or [(d or "").upper().replace("_", " ") for d in file.descriptions] == numbered
        described = [] if by_position else [canonical_band(d, sensor) for d in file.descriptions]
        if sensor == "s1" and {"HH", "HV"} & set(described):
            raise PatchFileError(
                f"{self.name}: holds bands {described} (its band descriptions); the models were trained on VV, VH "
                "(HH/HV polar-region products do not fit them)"
            )
        if by_description := len(set(described) - {None}) == file.count:  # each band named, none twice
            file_bands, origin = tuple(map(str, described)), "its band descriptions"
        elif any(described) and bands is None:
            raise PatchFileError(
                f"{self.name}: its band descriptions {list(file.descriptions)} name only some bands, or one twice; "
                f"say the order of its bands with {sensor}_bands= (CLI: --{sensor}-bands), or fix the descriptions"
            )
        else:
            file_bands, origin = (known, f"a SEN12MS {sensor} file") if bands is None else (tuple(bands), "bands=")
            if file.count != len(file_bands):
                said = f"{origin} has" if bands is None else "but bands= names"
                hint = _L2A_HINT if sensor == "s2" and file.count == 12 else ""
                raise PatchFileError(
                    f"{self.name}: has {file.count} bands, {said} {len(file_bands)} ({', '.join(file_bands)}){hint}"
                )
        if unknown := [b for b in file_bands if b not in known]:
            raise PatchFileError(f"{self.name}: bands {unknown} (from {origin}) are not {sensor} bands {list(known)}")
        if sensor == "s1" and set(file_bands) != set(S1_BANDS):
            raise PatchFileError(f"{self.name}: holds {list(file_bands)} (from {origin}); an S1 file holds VV and VH")
        self.named, self.bands = by_description, tuple(b for b in known if b in file_bands)
        self.indexes = [file_bands.index(b) + 1 for b in self.bands]
        if by_description and file_bands != self.bands:
            notes.append(f"bands taken by their descriptions ({', '.join(file_bands)}) as {', '.join(self.bands)}")
        self.scale, self.offset = self._declared_scaling(notes)
        self.masked = any({MaskFlags.per_dataset, MaskFlags.alpha} & set(f) for f in file.mask_flag_enums)
        tags = " ".join(f"{k}={v}" for t in self._tags(range(1, file.count + 1)) for k, v in t.items())
        l2a = _L2A.search(tags) or "MSIL2A" in posixpath.basename(self.name)
        self.level: Literal["L2A"] | None = "L2A" if sensor == "s2" and l2a else None
        self.corrections = tuple(notes)

    def _declared_scaling(self, notes: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(scale, offset)`` per read band that bring raw values to DN/dB, or ``(None, None)``."""
        if self.sensor == "lc":
            return None, None
        scale = np.array([self._file.scales[i - 1] or 1.0 for i in self.indexes])
        offset = np.array([self._file.offsets[i - 1] or 0.0 for i in self.indexes])
        declared = f"scale {_fmt(scale)}, offset {_fmt(offset)}"
        if (scale == 1).all() and (offset == 0).all() and self.sensor == "s2":
            offset = np.array([self._tag_offset(i) for i in self.indexes])
            declared = f"offset {_fmt(offset)} of its RADIO_ADD_OFFSET / BOA_ADD_OFFSET tag"
        if (scale == 1).all() and (offset == 0).all():
            return None, None
        if self.sensor == "s2" and np.allclose(scale, 1 / S2_QUANTIFICATION, rtol=1e-3):
            scale, offset = scale * S2_QUANTIFICATION, offset * S2_QUANTIFICATION
            declared += " (reflectance x 10000 = DN)"
        elif self.sensor == "s2" and not (scale == 1).all():
            raise PatchFileError(
                f"{self.name}: declares {declared}; only scale 1 (DN) or 1e-4 (reflectance) is known for "
                "Sentinel-2. Convert the file to DN (reflectance x 10000) first"
            )
        notes.append(f"applied the declared {declared} (GeoTIFF metadata)")
        return scale[:, None, None], offset[:, None, None]

    def _tags(self, indexes: Sequence[int]) -> list[dict[str, str]]:
        """The tags of bands ``indexes``, then the file's: where a product states its offset and level."""
        return [*(self._file.tags(i) for i in indexes), self._file.tags()]

    def _tag_offset(self, index: int) -> float:
        """The DN offset (baseline 04.00: -1000) a product tag of band ``index``, else of the file, declares."""
        for tags in self._tags([index]):
            if len(values := {float(v) for k, v in tags.items() if _OFFSET_TAG.search(k)}) == 1:
                return values.pop()
        return 0.0

    def read(self, window: Window | None = None) -> np.ndarray:
        """``(len(bands), H, W)`` of ``window`` (default: all) in DN / dB, fill marked (S1 NaN, S2 0)."""
        try:
            raw = self._dataset.read(self.indexes, window=window)
        except RasterioError as error:
            where = f" {window}" if window is not None else ""
            raise PatchFileError(f"{self.name}: not a readable GeoTIFF (reading{where} failed: {error})") from error
        if self.sensor == "lc":
            return raw
        fill = (raw == 0).all(axis=0) if self.sensor == "s2" else np.zeros(raw.shape[1:], bool)  # L1C NODATA
        if self.nodata is not None and not math.isnan(self.nodata):  # in every band: a clear B10 may be 0
            fill |= (raw == np.asarray(self.nodata).astype(raw.dtype)).all(axis=0)
        if self.masked:  # a GDAL mask or alpha band
            fill |= self._dataset.dataset_mask(window=window) == 0
        if self.scale is not None:
            values = (raw * self.scale + self.offset).astype(np.float32)
            if self.sensor == "s2":  # SATURATED is a raw value: kept, for the fill rule of the bands read
                values[raw >= S2_SATURATED] = S2_SATURATED
        else:
            values = raw.astype(np.float32) if self.sensor == "s1" else raw
        values[:, fill] = np.nan if self.sensor == "s1" else 0
        return values

    def reproject(self, crs: CRS, transform: Affine, height: int, width: int) -> None:
        """Read from now on on this grid (bilinear, NaN outside the file's footprint): S1 on the S2 grid."""
        self._dataset = WarpedVRT(
            self._file,
            crs=crs,
            transform=transform,
            height=height,
            width=width,
            resampling=Resampling.bilinear,
            src_nodata=math.nan if self.nodata is None else self.nodata,
            nodata=math.nan,
            dtype="float32",
        )

    def close(self) -> None:
        if self._dataset is not self._file:
            self._dataset.close()
        self._file.close()

    def __enter__(self) -> SensorFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_patch(path: PathLike, sensor: Sensor | None = None, *, bands: Sequence[str] | None = None) -> Patch:
    """Read a whole S1, S2 or LC GeoTIFF in SEN12MS units and band order.

    Args:
        path: a local path, URL or GDAL path.
        sensor: ``s1``, ``s2`` or ``lc``; default: the one in the SEN12MS file name.
        bands: the file's bands in order when its descriptions do not name them (default: the
            SEN12MS ones; e.g. ``bands.L2A_BANDS`` for a 12-band Level-2A file).

    Returns:
        The ``Patch``: S2 in DN (bands in SEN12MS order), S1 in dB (VV, VH), LC as stored.

    Raises:
        PatchFileError: missing, unreadable, too large, or not the sensor's layout (naming the
            file and the remedy).
    """
    sensor = sensor or parse_file_name(path)[1]
    if sensor not in SENSORS:
        raise ValueError(f"sensor must be one of {SENSORS}, got {sensor!r}")
    with SensorFile(path, sensor, bands) as file:
        if file.width * file.height > MAX_PATCH_PIXELS:
            raise PatchFileError(
                f"{file.name}: declares {file.width}x{file.height} pixels, more than a patch "
                f"({MAX_PATCH_PIXELS} at most); map whole scenes with sen12ms_models.map_scene"
            )
        return Patch(
            file.read(), file.bands, file.crs, file.transform, file.name, file.corrections, file.level, file.named
        )


def check_same_ground(s1: Patch, s2: Patch) -> None:
    """Raise ``PatchFileError`` for S1 and S2 patches of other SEN12MS names or (georeferenced) grids."""
    ids = [_patch_id(p.path) for p in (s1, s2)]
    if None not in ids and ids[0] != ids[1]:
        differs = f"their SEN12MS names are different patches ({ids[0]} and {ids[1]})"
    elif s1.crs is None or s2.crs is None:
        return  # not georeferenced: nothing to compare
    elif s1.crs == s2.crs and s1.transform.almost_equals(s2.transform) and s1.array.shape[-2:] == s2.array.shape[-2:]:
        return
    else:
        grids = "; ".join(
            f"{name}: {p.crs}, origin {p.transform.c:.1f}, {p.transform.f:.1f}, pixel size {p.transform.a:g} x "
            f"{-p.transform.e:g}, {p.array.shape[-2:]} pixels"
            for name, p in (("S1", s1), ("S2", s2))
        )
        differs = f"they lie on different grids ({grids})"
    raise PatchFileError(
        f"s1={s1.path} and s2={s2.path} do not cover the same ground: {differs}; pair each S2 file with its own S1 file"
    )


def pair_by_name(s1: Sequence[PathLike], s2: Sequence[PathLike]) -> list[PathLike]:
    """``s1`` reordered to follow ``s2`` when both name the same SEN12MS patches, else as given."""
    ids1, ids2 = [_patch_id(p) for p in s1], [_patch_id(p) for p in s2]
    if None in ids1 or sorted(ids1) != sorted(ids2):  # type: ignore[type-var]
        return list(s1)
    by_id = dict(zip(ids1, s1, strict=True))
    return [by_id[i] for i in ids2]


def _is_remote(name: str) -> bool:
    """A URL or GDAL virtual path: rasterio reads it, ``pathlib`` would mangle it."""
    return "://" in name or name.startswith("/vsi")


def _patch_id(path: PathLike) -> PatchId | None:
    try:
        return parse_file_name(path)[0]
    except PatchFileError:
        return None


def _fmt(values: np.ndarray) -> str:
    distinct = sorted(set(values.ravel().tolist()))
    return f"{distinct[0]:g}" if len(distinct) == 1 else "(" + ", ".join(f"{v:g}" for v in values.ravel()) + ")"
