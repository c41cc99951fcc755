"""The SEN12MS folder tree (Schmitt et al., 2019): an index of its triplets from names alone, and the
triplet reader.

>>> PatchId.from_path("ROIs1158_spring_s2_63_p100.tif").relative_path("s1").as_posix()
'ROIs1158_spring/s1_63/ROIs1158_spring_s1_63_p100.tif'
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sen12ms_models._types import PathLike
from sen12ms_models.errors import PatchFileError
from sen12ms_models.inputs.files import (
    FILE_NAME,
    SENSORS,
    Patch,
    PatchId,
    SceneId,
    Sensor,
    check_same_ground,
    read_patch,
    sibling_path,
)

SEASONS: tuple[str, ...] = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")

#: Triplets known to be damaged (SAR), excluded from every split.
BROKEN_PATCHES: frozenset[PatchId] = frozenset({PatchId("ROIs1868_summer", 146, 202)})


@dataclass(frozen=True)
class Sen12msIndex:
    """The complete triplets of a SEN12MS tree (or of a list of file names), sorted; ``incomplete``: the
    patches lacking one of their three files. The known broken triplets stay in ``patches``: splits exclude them.
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
        """Index the tree below ``root`` (``ROIs*/<sensor>_<scene>/*.tif``) by listing its folders;
        opens no GeoTIFF, so the 180,662 triplets of SEN12MS index in seconds."""
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"SEN12MS root {root} is not a directory")
        seen: dict[PatchId, set[str]] = {}
        for path in glob.iglob(os.path.join(glob.escape(str(root)), "ROIs*", "*", "*.tif")):
            if match := FILE_NAME.match(os.path.basename(path)):
                season, sensor, scene, patch = match.groups()
                seen.setdefault(PatchId(season, int(scene), int(patch)), set()).add(sensor)
        complete = sorted(pid for pid, sensors in seen.items() if len(sensors) == len(SENSORS))
        if not complete:
            raise FileNotFoundError(f"no SEN12MS triplet found below {root} (expected ROIs*_<season>/s2_<n>/*.tif)")
        incomplete = sorted(pid for pid, sensors in seen.items() if len(sensors) < len(SENSORS))
        return cls(tuple(complete), root, tuple(incomplete))

    def __len__(self) -> int:
        return len(self.patches)

    def usable(self) -> tuple[PatchId, ...]:
        """The patches less the known broken triplets (``BROKEN_PATCHES``): no split holds them, nor ``prepare``."""
        return tuple(p for p in self.patches if p not in BROKEN_PATCHES)

    def scenes(self) -> tuple[SceneId, ...]:
        """The scenes present, sorted."""
        return tuple(sorted({p.scene_id for p in self.patches}))

    def path(self, patch: PatchId, sensor: Sensor) -> Path:
        """Absolute path of one file of ``patch``; needs an index built with a ``root``."""
        if self.root is None:
            raise ValueError("this index was built from names without a root folder")
        return self.root / patch.relative_path(sensor)


@dataclass(frozen=True)
class Triplet:
    """The S1, S2 and LC patches of one ``PatchId`` (all on the same grid)."""

    id: PatchId
    s1: Patch
    s2: Patch
    lc: Patch


def check_triplet(patch: PatchId, read: Mapping[Sensor, Patch]) -> None:
    """``PatchFileError`` unless the patches ``read`` of ``patch`` (``lc`` among them) lie on the LC patch's
    pixel grid, and its S1 and S2 (if both were read) on the same ground (``check_same_ground``)."""
    lc = read["lc"]
    for sensor, found in read.items():
        if found.array.shape[1:] != lc.array.shape[1:]:
            raise PatchFileError(
                f"{patch}: {sensor} is {found.array.shape[1:]} pixels, its LC patch {lc.path} {lc.array.shape[1:]}"
            )
    if "s1" in read and "s2" in read:
        check_same_ground(read["s1"], read["s2"])


def read_triplet(path: PathLike) -> Triplet:
    """Read the S1, S2 and LC files of a triplet from the path of any one of them.

    Raises:
        PatchFileError: a file is missing or damaged, or the files do not share one grid (``check_triplet``).
    """
    patch_id = PatchId.from_path(path)
    read = {sensor: read_patch(sibling_path(path, sensor), sensor) for sensor in SENSORS}
    check_triplet(patch_id, read)
    return Triplet(patch_id, **read)
