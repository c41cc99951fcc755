"""The one input pipeline of ``predict``, ``map_scene``, the CLI and the training dataset.

``options``: ``InputOptions`` and the thresholds of the checks; ``files``: GeoTIFFs (paths, URLs,
GDAL paths) in SEN12MS units and band order; ``checks``: units, no data, clouds and Level-2A of a
batch, then ``transforms.Sen12msTransform``. What happens to each kind of input: docs/reliability.md.
"""
