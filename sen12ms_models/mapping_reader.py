"""Windows of a scene, read into batches by a background thread so reading overlaps inference.

Each batch holds ``batch_size`` consecutive windows (row-major). A window with more than
``max_nodata`` of its pixels no-data (see ``mapping_inputs``) is skipped: it is read but never
shown to the model. In the windows that are kept, no-data S2 pixels are set to the band's
training mean, i.e. to 0 after standardization, so fill values do not pass for reflectance.
A bounded queue of ``depth`` batches keeps memory constant whatever the scene size.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from .mapping_grid import WindowGrid
from .mapping_inputs import SceneInputs
from .transforms import Sen12msTransform

T = TypeVar("T")


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
    band_mean = dict(zip(preprocess.bands, preprocess.mean, strict=True))
    s2_fill = np.array([band_mean[b] for b in preprocess.s2_bands_used], dtype=np.float32)[:, None]
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
                data.s2[:, data.nodata] = s2_fill
                s2.append(data.s2)
            if keep and data.s1 is not None:
                s1.append(data.s1)
            if len(cells) == batch_size:
                yield _batch(cells, valid, s2, s1)
                cells, valid, s2, s1 = [], [], [], []
        if cells:
            yield _batch(cells, valid, s2, s1)


def _batch(cells: list[tuple[int, int]], valid: list[bool], s2: list[np.ndarray], s1: list[np.ndarray]) -> WindowBatch:
    return WindowBatch(cells, np.array(valid), np.stack(s2) if s2 else None, np.stack(s1) if s1 else None)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def in_background(produce: Callable[[], Generator[T, None, None]], depth: int = 2) -> Generator[T, None, None]:
    """Run the generator ``produce()`` in a thread, ``depth`` items ahead of the consumer.

    An exception in the thread is raised in the consumer; when the consumer stops early (an
    error, ``close()``), the thread is told to stop and joined, so no reader outlives the loop.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            with contextlib.closing(produce()) as iterator:
                for item in iterator:
                    if not put(item):
                        return
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failed(error))
            return
        put(_END)

    thread = threading.Thread(target=run, name="sen12ms-map-reader", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
