"""Clear, real-looking input arrays: the synthetic class spectra (VH below VV, B10 near 0, no cloud)."""

from __future__ import annotations

import numpy as np

from sen12ms_models.classes import CLASSES
from sen12ms_models.synthetic import patch_arrays


def clear_patches(n: int = 1, size: int = 32, name: str = "Grassland", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches of class ``name``: S1 ``(n, 2, size, size)`` float32 dB, S2 ``(n, 13, size, size)`` uint16 DN."""
    rng = np.random.default_rng(seed)
    rows = [size if c == name else 0 for c in CLASSES]
    s1, s2 = zip(*(patch_arrays(rows, rng)[:2] for _ in range(n)), strict=True)
    return np.stack(s1), np.stack(s2)
