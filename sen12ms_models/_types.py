"""Type aliases shared across the package."""

from __future__ import annotations

import os

#: A file-system path as the public API accepts it.
PathLike = str | os.PathLike[str]
