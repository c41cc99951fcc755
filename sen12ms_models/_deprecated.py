"""The module paths of 0.1, kept importable for one release with a ``DeprecationWarning``.

0.2 grouped the flat modules into subpackages (``sen12ms_models.io`` shadowed the standard
library's ``io``). ``import sen12ms_models.io`` and the other old paths still work and return
the new module, saying where it moved.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module -> the module that now holds its public names.
RENAMED: dict[str, str] = {
    "sen12ms_models.io": "sen12ms_models.datasets",
    "sen12ms_models.splits": "sen12ms_models.datasets.splits",
    "sen12ms_models.synthetic": "sen12ms_models.testing.synthetic",
    "sen12ms_models.weights": "sen12ms_models.models.spec",
    "sen12ms_models.loading": "sen12ms_models.models",
    "sen12ms_models.download": "sen12ms_models.hub.download",
    "sen12ms_models.registry": "sen12ms_models.hub.registry",
    "sen12ms_models.toolbox_reference": "sen12ms_models.convert.toolbox_reference",
    "sen12ms_models.training.dataset": "sen12ms_models.datasets.sen12ms",
    "sen12ms_models.training.publish": "sen12ms_models.hub.publish",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in RENAMED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {RENAMED[spec.name]} in sen12ms-models 0.2; the old path goes away in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(RENAMED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module returned by ``create_module`` is already executed."""


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
