"""The simplified IGBP land-cover scheme of SEN12MS: 10 classes, their IGBP sources, colours.

The model's output index ``i`` is ``CLASSES[i]``. IGBP classes 1-17 map onto them through
``IGBP_TO_SIMPLIFIED``; any other value (0, fill values) maps to ``-1`` and is not counted.
Colours follow the SEN12MS paper, with the DFC2020 palette where the paper leaves a class blank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LandCoverClass:
    """One simplified-IGBP class: output ``index``, ``name``, source ``igbp`` codes, ``colour``."""

    index: int
    name: str
    igbp: tuple[int, ...]
    colour: str  # "#rrggbb"

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as an (r, g, b) tuple of 0-255 integers."""
        return tuple(int(self.colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


SIMPLIFIED_IGBP: tuple[LandCoverClass, ...] = (
    LandCoverClass(0, "Forest", (1, 2, 3, 4, 5), "#009900"),
    LandCoverClass(1, "Shrubland", (6, 7), "#c6b044"),
    LandCoverClass(2, "Savanna", (8, 9), "#fbff13"),
    LandCoverClass(3, "Grassland", (10,), "#b6ff05"),
    LandCoverClass(4, "Wetlands", (11,), "#27ff87"),
    LandCoverClass(5, "Croplands", (12, 14), "#c24f44"),
    LandCoverClass(6, "Urban/Built-up", (13,), "#a5a5a5"),
    LandCoverClass(7, "Snow/Ice", (15,), "#69fff8"),
    LandCoverClass(8, "Barren", (16,), "#f9ffa4"),
    LandCoverClass(9, "Water", (17,), "#1c0dff"),
)

#: Class names in model output order.
CLASSES: tuple[str, ...] = tuple(c.name for c in SIMPLIFIED_IGBP)
NUM_CLASSES: int = len(CLASSES)

#: Lookup table for IGBP codes 0-17: ``IGBP_TO_SIMPLIFIED[code]`` is the simplified index,
#: -1 for code 0. Codes above 17 are invalid too (see ``labels.simplify_igbp``).
IGBP_TO_SIMPLIFIED: np.ndarray = np.array(
    [next((c.index for c in SIMPLIFIED_IGBP if code in c.igbp), -1) for code in range(18)], dtype=np.int64
)
IGBP_TO_SIMPLIFIED.setflags(write=False)
