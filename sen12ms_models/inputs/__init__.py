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

from sen12ms_models.inputs.declared import Scaling, declared_scaling
from sen12ms_models.inputs.identity import bands_from_descriptions, canonical_band, split_stack
from sen12ms_models.inputs.nodata import MIN_VALID, NoDataError
from sen12ms_models.inputs.prepare import InputOptions, PreparedBatch, prepare
from sen12ms_models.inputs.units import InputUnitsError

__all__ = [
    "MIN_VALID",
    "InputOptions",
    "InputUnitsError",
    "NoDataError",
    "PreparedBatch",
    "Scaling",
    "bands_from_descriptions",
    "canonical_band",
    "declared_scaling",
    "prepare",
    "split_stack",
]
