"""The SEN12MS folder tree: scene and patch names, sibling files, and an index from names alone.

The tree looks like ``ROIs1158_spring/s2_63/ROIs1158_spring_s2_63_p100.tif`` with ``s1_63`` and
``lc_63`` beside ``s2_63`` (Schmitt et al., 2019). Indexing lists directories only (no GeoTIFF
is opened), so the full 180,662-triplet dataset indexes in seconds.

>>> PatchId.from_path("ROIs1158_spring_s2_63_p100.tif").relative_path("s1").as_posix()
'ROIs1158_spring/s1_63/ROIs1158_spring_s1_63_p100.tif'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sen12ms_models._types import PathLike
from sen12ms_models.errors import PatchFileError

Sensor = Literal["s1", "s2", "lc"]
SENSORS: tuple[Sensor, ...] = ("s1", "s2", "lc")
SEASONS: tuple[str, ...] = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")

_FILE_NAME = re.compile(r"^(ROIs\d{4}_[a-z]+)_(s1|s2|lc)_(\d+)_p(\d+)\.tif$")
_SCENE_DIR = re.compile(r"^(s1|s2|lc)_(\d+)$")


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
        match = _SCENE_DIR.match(folder)
        if not season.startswith("ROIs") or match is None:
            raise ValueError(f"not a SEN12MS scene folder: {text!r} (expected e.g. 'ROIs1158_spring/s1_63')")
        return cls(season, int(match.group(2)))


@dataclass(frozen=True, order=True)
class PatchId:
    """One triplet of the dataset: season, scene number and patch number."""

    season: str
    scene: int
    patch: int

    @property
    def scene_id(self) -> SceneId:
        return SceneId(self.season, self.scene)

    @classmethod
    def from_path(cls, path: PathLike) -> PatchId:
        """Parse a SEN12MS file name (any sensor), e.g. ``ROIs1158_spring_s2_63_p100.tif``."""
        return parse_file_name(path)[0]

    def file_name(self, sensor: Sensor) -> str:
        return f"{self.season}_{sensor}_{self.scene}_p{self.patch}.tif"

    def relative_path(self, sensor: Sensor) -> Path:
        """Path of this patch's ``sensor`` file below the dataset root."""
        return Path(self.season, f"{sensor}_{self.scene}", self.file_name(sensor))

    def __str__(self) -> str:
        return f"{self.season}_{self.scene}_p{self.patch}"


#: Triplets known to be damaged (SAR), excluded from every split.
BROKEN_PATCHES: frozenset[PatchId] = frozenset({PatchId("ROIs1868_summer", 146, 202)})


def parse_file_name(path: PathLike) -> tuple[PatchId, Sensor]:
    """The patch and sensor a SEN12MS file name stands for; ``PatchFileError`` for any other name."""
    name = Path(path).name
    match = _FILE_NAME.match(name)
    if match is None:
        raise PatchFileError(
            f"{os.fspath(path)!r} is not a SEN12MS file name (expected e.g. ROIs1158_spring_s2_63_p100.tif)"
        )
    season, sensor, scene, patch = match.groups()
    return PatchId(season, int(scene), int(patch)), sensor  # type: ignore[return-value]


def sibling_path(path: PathLike, sensor: Sensor) -> Path:
    """The path of the ``sensor`` file of the same triplet, next to ``path`` in the tree."""
    patch_id, _ = parse_file_name(path)
    return Path(path).parent.parent / patch_id.relative_path(sensor).relative_to(patch_id.season)


@dataclass(frozen=True)
class Sen12msIndex:
    """The complete triplets of a SEN12MS tree (or of a list of file names), sorted.

    ``incomplete`` lists the patches that lack one of their three files; they are not in
    ``patches``. The known broken triplets stay in ``patches``: splits exclude them.
    """

    patches: tuple[PatchId, ...]
    root: Path | None = None
    incomplete: tuple[PatchId, ...] = field(default=(), repr=False)

    @classmethod
    def from_names(cls, names: Iterable[str], root: PathLike | None = None) -> Sen12msIndex:
        """Index from file names or paths (e.g. a published list); any sensor's name will do."""
        patches = {PatchId.from_path(name.strip()) for name in names}
        return cls(tuple(sorted(patches)), Path(root) if root else None)

    @classmethod
    def scan(cls, root: PathLike) -> Sen12msIndex:
        """Index the tree below ``root`` by listing its folders; opens no GeoTIFF."""
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"SEN12MS root {root} is not a directory")
        seen: dict[PatchId, set[str]] = {}
        for sensor, file_name in _walk_file_names(root):
            seen.setdefault(PatchId.from_path(file_name), set()).add(sensor)
        complete = sorted(pid for pid, sensors in seen.items() if len(sensors) == len(SENSORS))
        incomplete = sorted(pid for pid, sensors in seen.items() if len(sensors) < len(SENSORS))
        if not complete:
            raise FileNotFoundError(f"no SEN12MS triplet found below {root} (expected ROIs*_<season>/s2_<n>/*.tif)")
        return cls(tuple(complete), root, tuple(incomplete))

    def __len__(self) -> int:
        return len(self.patches)

    def scenes(self) -> tuple[SceneId, ...]:
        """The scenes present, sorted."""
        return tuple(sorted({p.scene_id for p in self.patches}))

    def path(self, patch: PatchId, sensor: Sensor) -> Path:
        """Absolute path of one file of ``patch``; needs an index built with a ``root``."""
        if self.root is None:
            raise ValueError("this index was built from names without a root folder")
        return self.root / patch.relative_path(sensor)


def _walk_file_names(root: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(sensor, file name)`` for every SEN12MS GeoTIFF below ``root``."""
    with os.scandir(root) as seasons:
        for season in seasons:
            if not (season.is_dir() and season.name.startswith("ROIs")):
                continue
            with os.scandir(season.path) as folders:
                for folder in folders:
                    match = _SCENE_DIR.match(folder.name)
                    if match is None or not folder.is_dir():
                        continue
                    with os.scandir(folder.path) as files:
                        for entry in files:
                            if _FILE_NAME.match(entry.name):
                                yield match.group(1), entry.name
