"""The ``sen12ms-models`` command line: argument parsing only, each command calling the library.

- ``main``: the parser and the entry point (``sen12ms-models``, ``python -m sen12ms_models``);
- ``_common``: the arguments several commands share (model names, devices);
- ``models``: ``list``, ``info``, ``download``;
- ``predict``: ``predict``;  ``mapping``: ``map``;  ``convert``: ``convert``;
- ``train``: ``train``, ``evaluate``, ``export``, ``publish``.

Parsing imports no torch: each command imports what it needs when it runs, so ``--help``,
``--version``, ``list`` and ``info`` answer at once.
"""

from sen12ms_models.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
