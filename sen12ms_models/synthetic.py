"""Synthetic SEN12MS trees in the exact real format, for tests and demos: S1 float32 dB (VV, VH), S2 uint16 DN
(13 bands), LC uint16 (IGBP in band 1), UTM at 10 m, official folder and file names. Land cover is a known class
mixture (whole rows per class) and S1/S2 pixels follow class spectra plus noise, so the labels are known exactly and
a model can learn them. Nothing here is real imagery: ``write_tree("/tmp/SEN12MS", patches_per_scene=2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from sen12ms_models._types import PathLike
from sen12ms_models.classes import NUM_CLASSES, SIMPLIFIED_IGBP
from sen12ms_models.inputs.files import PatchId, SceneId

#: Mean S2 DN per simplified class for the 13 bands B1..B12 (plausible shapes, distinct).
CLASS_S2_DN: np.ndarray = np.array(
    [
        [1300, 1000, 800, 500, 900, 2200, 2800, 3000, 3200, 600, 20, 1400, 600],  # Forest
        [1400, 1200, 1100, 1200, 1500, 1900, 2100, 2200, 2300, 700, 20, 2300, 1500],  # Shrubland
        [1400, 1150, 1050, 1000, 1400, 2300, 2700, 2800, 2900, 700, 20, 2100, 1200],  # Savanna
        [1350, 1100, 1050, 900, 1400, 2600, 3100, 3300, 3400, 750, 20, 2200, 1100],  # Grassland
        [1250, 950, 850, 700, 900, 1400, 1600, 1700, 1800, 500, 15, 1200, 700],  # Wetlands
        [1450, 1250, 1250, 1350, 1700, 2300, 2600, 2800, 2900, 800, 25, 2600, 1800],  # Croplands
        [1600, 1500, 1500, 1600, 1750, 1900, 2000, 2100, 2150, 900, 30, 2400, 2100],  # Urban
        [5000, 5200, 5100, 5000, 5000, 4900, 4800, 4800, 4700, 2000, 100, 800, 600],  # Snow/Ice
        [1900, 1900, 2100, 2500, 2700, 2900, 3000, 3100, 3200, 1200, 40, 3900, 3300],  # Barren
        [1200, 900, 700, 450, 350, 300, 280, 250, 230, 150, 10, 120, 90],  # Water
    ],
    dtype=np.float64,
)
#: Mean S1 backscatter (VV, VH) in dB per simplified class.
CLASS_S1_DB: np.ndarray = np.array(
    [[-7, -13], [-9, -16], [-9, -15], [-10, -17], [-12, -20], [-9, -16], [-4, -10], [-14, -22], [-12, -21], [-20, -27]],
    dtype=np.float64,
)

#: Scenes of the default tree: two test (hold-out), two published validation, four training.
DEFAULT_SCENES: tuple[SceneId, ...] = (
    SceneId("ROIs1158_spring", 63),  # hold-out
    SceneId("ROIs1970_fall", 120),  # hold-out
    SceneId("ROIs1158_spring", 112),  # validation
    SceneId("ROIs2017_winter", 103),  # validation
    SceneId("ROIs1158_spring", 21),
    SceneId("ROIs1868_summer", 146),  # holds the known broken triplet's name at p202
    SceneId("ROIs1970_fall", 5),
    SceneId("ROIs2017_winter", 8),
)


@dataclass(frozen=True)
class SyntheticPatch:
    """A written triplet and the pixel count of each simplified class in its LC patch."""

    id: PatchId
    class_rows: tuple[int, ...]  # rows of each simplified class, sum = patch size

    @property
    def probabilities(self) -> np.ndarray:
        return np.asarray(self.class_rows, dtype=np.float64) / sum(self.class_rows)


def draw_class_rows(rng: np.random.Generator, size: int, max_classes: int = 3) -> tuple[int, ...]:
    """A random mixture of 1..max_classes classes (Snow/Ice excluded), as whole rows per class."""
    candidates = [c.index for c in SIMPLIFIED_IGBP if c.name != "Snow/Ice"]
    chosen = rng.choice(candidates, size=rng.integers(1, max_classes + 1), replace=False)
    cuts = np.sort(rng.choice(np.arange(1, size), size=len(chosen) - 1, replace=False))
    rows = np.diff(cuts, prepend=0, append=size)
    return tuple(int(n) for n in np.bincount(chosen, weights=rows, minlength=NUM_CLASSES))


def patch_arrays(
    class_rows: Sequence[int], rng: np.random.Generator, nan_fraction: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The S1 ``(2, H, W)`` float32 dB, S2 ``(13, H, W)`` uint16 DN and LC ``(4, H, W)`` uint16 arrays
    of a square patch whose rows follow ``class_rows`` (pixel rows of each class, summing to H)."""
    size = int(sum(class_rows))
    row_class = np.repeat(np.arange(NUM_CLASSES), class_rows)  # (size,)
    pixel_class = np.broadcast_to(row_class[:, None], (size, size))
    igbp = np.array([c.igbp[0] for c in SIMPLIFIED_IGBP], dtype=np.uint16)[pixel_class]
    lc = np.stack([igbp, igbp + 10, igbp + 20, igbp % 3 + 1]).astype(np.uint16)
    s2_mean = CLASS_S2_DN[pixel_class].transpose(2, 0, 1)
    s2 = np.clip(s2_mean * rng.normal(1.0, 0.08, s2_mean.shape), 1, 65534).astype(np.uint16)
    s1 = (CLASS_S1_DB[pixel_class].transpose(2, 0, 1) + rng.normal(0.0, 1.5, (2, size, size))).astype(np.float32)
    if nan_fraction:
        s1[rng.random(s1.shape) < nan_fraction] = np.nan
    return s1, s2, lc


def write_triplet(
    root: PathLike,
    patch_id: PatchId,
    class_rows: Sequence[int],
    *,
    rng: np.random.Generator,
    nan_fraction: float = 0.0,
    epsg: int = 32631,
) -> SyntheticPatch:
    """Write the S1, S2 and LC GeoTIFFs of one patch whose rows follow ``class_rows``."""
    s1, s2, lc = patch_arrays(class_rows, rng, nan_fraction)
    size = s2.shape[-1]
    # Each patch sits in its own 2.56 km cell of a UTM grid, as SEN12MS patches do.
    transform = from_origin(300000 + 10 * size * patch_id.patch, 5000000 + 10 * size * patch_id.scene, 10, 10)
    grid = {"width": size, "height": size, "crs": f"EPSG:{epsg}", "transform": transform}
    for sensor, array in (("s1", s1), ("s2", s2), ("lc", lc)):
        path = Path(root) / patch_id.relative_path(sensor)  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", count=len(array), dtype=array.dtype, **grid) as dataset:
            dataset.write(array)
    return SyntheticPatch(patch_id, tuple(int(n) for n in class_rows))


def write_tree(
    root: PathLike,
    *,
    scenes: Sequence[SceneId] = DEFAULT_SCENES,
    patches_per_scene: int = 3,
    size: int = 256,
    seed: int = 0,
    nan_fraction: float = 0.0,
) -> list[SyntheticPatch]:
    """Write a SEN12MS tree below ``root``: ``patches_per_scene`` triplets in each scene.

    Patch numbers start at 200, so the known broken triplet's name appears when its scene is
    among ``scenes`` and ``patches_per_scene`` >= 3. Returns what was written, with the exact
    class mixtures, sorted by patch id.
    """
    rng = np.random.default_rng(seed)
    written = []
    for scene in scenes:
        epsg = 32600 + 10 + scene.scene % 50  # a northern-hemisphere UTM zone per scene
        for patch in range(200, 200 + patches_per_scene):
            patch_id = PatchId(scene.season, scene.scene, patch)
            rows = draw_class_rows(rng, size)
            written.append(write_triplet(root, patch_id, rows, rng=rng, nan_fraction=nan_fraction, epsg=epsg))
    return sorted(written, key=lambda p: p.id)
