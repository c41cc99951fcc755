"""Windows of a scene, read into batches by a background thread so reading overlaps inference.

Each batch holds ``batch_size`` consecutive windows (row-major). A window with more than
``max_nodata`` of its pixels no-data (see ``mapping_inputs``) is skipped: it is read but never
shown to the model. In the windows that are kept, no-data S2 pixels hold the fill 0, which
``inputs.prepare`` (through ``predict``) sets to the band's training mean, i.e. to 0 after
standardization, so fill values do not pass for reflectance.
``_threads.prefetch`` runs it in a thread a bounded number of batches ahead, so memory stays
constant whatever the scene size.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from sen12ms_models.mapping.grid import WindowGrid
from sen12ms_models.mapping.inputs import SceneInputs
from sen12ms_models.transforms import Sen12msTransform


@dataclass(frozen=True)
class WindowBatch:
    """Consecutive windows: their output pixels, which were kept, and the kept ones' inputs."""

    cells: list[tuple[int, int]]  # output (row, col) of every window, row-major
    valid: np.ndarray  # (len(cells),) bool; False: skipped as no-data
    s2: np.ndarray | None  # (valid.sum(), C, 256, 256) float32, or None
    s1: np.ndarray | None  # (valid.sum(), 2, 256, 256) float32, or None


def read_batches(
    inputs: SceneInputs,
    grid: WindowGrid,
    preprocess: Sen12msTransform,
    *,
    batch_size: int,
    max_nodata: float,
) -> Generator[WindowBatch, None, None]:
    """Read every window of ``grid`` from ``inputs`` into ``WindowBatch``es, in order."""
    with inputs.open() as reader:
        cells: list[tuple[int, int]] = []
        valid: list[bool] = []
        s2: list[np.ndarray] = []
        s1: list[np.ndarray] = []
        for cell in grid.cells():
            data = reader.read(grid.window(*cell))
            keep = bool(data.nodata.mean() <= max_nodata)
            cells.append(cell)
            valid.append(keep)
            if keep and data.s2 is not None:
                s2.append(data.s2)  # no-data pixels hold 0: inputs.prepare sets them to the band means
            if keep and data.s1 is not None:
                s1.append(data.s1)
            if len(cells) == batch_size:
                yield _batch(cells, valid, s2, s1)
                cells, valid, s2, s1 = [], [], [], []
        if cells:
            yield _batch(cells, valid, s2, s1)


def _batch(cells: list[tuple[int, int]], valid: list[bool], s2: list[np.ndarray], s1: list[np.ndarray]) -> WindowBatch:
    return WindowBatch(cells, np.array(valid), np.stack(s2) if s2 else None, np.stack(s1) if s1 else None)
