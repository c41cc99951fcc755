"""Defaults of the input checks that the command line needs without importing torch."""

from __future__ import annotations

#: Smallest valid fraction ``predict`` labels a patch from: the complement of ``map_scene``'s
#: ``max_nodata`` 0.5. Below half, the label would describe the fill more than the land (an
#: edge-of-swath patch that is 69 % fill comes out "Water 1.00" from zeros alone).
MIN_VALID = 0.5
