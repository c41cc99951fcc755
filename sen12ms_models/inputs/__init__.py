"""Input validation: every way raw Sentinel data reaches a model goes through here.

One job per module:

- ``identity``: band names from GeoTIFF descriptions and dataset band lists; ``split_stack``;
- ``declared``: scale/offset declared in GeoTIFF metadata, applied to reach SEN12MS units;
- ``units``: S2 DN vs reflectance or 8-bit images, S1 dB vs linear backscatter (refused);
- ``nodata``: fill pixels, each patch's valid fraction, mostly-fill patches (refused);
- ``arrays``: shape, band count and dtype of arrays as the user passed them;
- ``prepare``: the above on one batch, then the ``Sen12msTransform``; the corrections made.

``predict`` (arrays, tensors, GeoTIFF paths, the CLI), ``map_scene`` (and ``sen12ms-models map``)
and the training ``Sen12msDataset`` all go through ``datasets.readers.read_patch`` (files) and
``prepare`` (batches). ``docs/reliability.md`` lists what is checked, corrected or refused.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it (imported on first use: the CLI's --help stays light).
_EXPORTS = {
    "MIN_VALID": "defaults",
    "Scaling": "declared",
    "declared_scaling": "declared",
    "bands_from_descriptions": "identity",
    "canonical_band": "identity",
    "split_stack": "identity",
    "NoDataError": "nodata",
    "InputOptions": "prepare",
    "PreparedBatch": "prepare",
    "prepare": "prepare",
    "InputUnitsError": "units",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
