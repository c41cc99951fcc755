"""Type aliases shared across the package."""

import os

#: A file-system path as the public API accepts it.
PathLike = str | os.PathLike[str]
