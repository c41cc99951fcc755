"""Where scene mapping reads its 256x256 windows and which ground each output pixel stands for.

The output grid is the source grid coarsened by ``stride``: output pixel ``(r, c)`` covers the
``stride x stride`` block of source pixels rows ``[r*stride, (r+1)*stride)``, columns
``[c*stride, (c+1)*stride)``, so its transform is the source transform scaled by ``stride``, with
the same origin. Its value is the prediction for the 256x256 window centred on that block (to
the nearest pixel). At the scene border the window is shifted inward until it lies inside the
scene, so the model never sees padding and the block still lies inside its window. The last
output row and column cover the scene's remaining ``height % stride`` / ``width % stride``
pixels; they reach past the scene edge by the rest of a block.

>>> grid = WindowGrid(height=10980, width=10980, stride=256)
>>> grid.rows, grid.cols, grid.window(0, 42).col_off   # the last window ends at the scene edge
(43, 43, 10724)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from affine import Affine
from rasterio.windows import Window

from sen12ms_models.bands import PATCH_SIZE

#: Side of the windows the models read: the SEN12MS patch size they were trained on.
WINDOW_SIZE = PATCH_SIZE


@dataclass(frozen=True)
class WindowGrid:
    """The windows of a ``height x width`` scene mapped with ``stride`` (1..256 pixels)."""

    height: int
    width: int
    stride: int

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= WINDOW_SIZE:
            raise ValueError(f"stride must be between 1 and {WINDOW_SIZE} pixels, got {self.stride}")
        if self.height < WINDOW_SIZE or self.width < WINDOW_SIZE:
            raise ValueError(
                f"a {self.height}x{self.width} scene is smaller than one {WINDOW_SIZE}x{WINDOW_SIZE} window"
            )

    @property
    def rows(self) -> int:
        """Output rows: enough ``stride`` blocks to cover every source row."""
        return math.ceil(self.height / self.stride)

    @property
    def cols(self) -> int:
        """Output columns: enough ``stride`` blocks to cover every source column."""
        return math.ceil(self.width / self.stride)

    def __len__(self) -> int:
        return self.rows * self.cols

    def window(self, row: int, col: int) -> Window:
        """The source window output pixel ``(row, col)`` is predicted from."""
        return Window(self._start(col, self.width), self._start(row, self.height), WINDOW_SIZE, WINDOW_SIZE)

    def cells(self) -> Iterator[tuple[int, int]]:
        """Output pixels ``(row, col)`` in row-major order, the order results are written in."""
        for row in range(self.rows):
            for col in range(self.cols):
                yield row, col

    def output_transform(self, source: Affine) -> Affine:
        """The transform of the window-resolution output, from the source grid's transform."""
        return source @ Affine.scale(self.stride)

    def _start(self, index: int, extent: int) -> int:
        centred = index * self.stride - (WINDOW_SIZE - self.stride) // 2
        return min(max(centred, 0), extent - WINDOW_SIZE)
