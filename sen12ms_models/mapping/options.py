"""The choices of a scene map: output resolution and encoding, and the no-data rule's default."""

from __future__ import annotations

from typing import Literal

Resolution = Literal["window", "source"]
OutputDtype = Literal["float32", "uint8"]
#: ``window``: one pixel per window (the stride grid); ``source``: the S2 grid itself.
RESOLUTIONS: tuple[str, ...] = ("window", "source")
#: ``float32`` with NaN as no-data, or ``uint8`` holding ``round(p * 255)`` with a mask.
OUTPUT_DTYPES: tuple[str, ...] = ("float32", "uint8")
#: Windows with a larger fraction of no-data pixels are skipped and written as no-data.
DEFAULT_MAX_NODATA = 0.5
#: Windows per model call.
DEFAULT_BATCH_SIZE = 16
