"""The ``sen12ms-models`` command line: argument parsing only, each command calling the library.

- ``main``: the parser and the entry point (``sen12ms-models``, ``python -m sen12ms_models``);
- ``_common``: the arguments several commands share (model, real-data input options, device);
- ``models``: ``list``, ``info``, ``download``, ``convert``;
- ``predict``: ``predict``, ``map``;
- ``train``: ``prepare``, ``train``, ``reproduce``, ``evaluate``, ``export``, ``publish``.
"""
