"""The one input pipeline of ``predict``, ``map_scene``, the CLI and the training dataset: ``options``,
``files`` (GeoTIFFs in SEN12MS units and band order), ``checks``. Each kind of input: docs/reliability.md."""
