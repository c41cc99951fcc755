"""Scale and offset declared in a GeoTIFF's metadata, applied so the values become SEN12MS units.

GDAL's convention: ``physical = raw * scale + offset``, per band. Two Sentinel-2 forms are known
(DOMAIN.md, "Sentinel data as users bring it"):

- DN with an offset (processing baseline 04.00 and later, when the archive declares it):
  scale 1, offset -1000. Then ``DN = raw - 1000``.
- Reflectance: scale 1e-4 (and offset -0.1 after baseline 04.00). SEN12MS models read DN =
  reflectance x 10000, so ``DN = (raw * 1e-4 - 0.1) * 10000 = raw - 1000``.

Any other S2 scale is refused (its units are unknown). For Sentinel-1 the declared form is
applied as is (the unit check then decides whether the result is dB). Fill pixels (no-data)
are left at the fill value, so an offset never turns fill into data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Reflectance scale: DN = reflectance x 10000 (the SEN12MS / L1C quantification value).
REFLECTANCE_SCALE = 1e-4


@dataclass(frozen=True)
class Scaling:
    """``value = raw * scale + offset`` per band, in the units the models read."""

    scale: tuple[float, ...]
    offset: tuple[float, ...]
    note: str

    def apply(self, raw: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
        """``raw`` ``(C, H, W)`` as float32 in model units; pixels where ``fill`` is True stay 0."""
        scale = np.asarray(self.scale, dtype=np.float64)[:, None, None]
        offset = np.asarray(self.offset, dtype=np.float64)[:, None, None]
        out = (raw.astype(np.float64) * scale + offset).astype(np.float32)
        if fill is not None and fill.any():
            out[:, fill] = 0.0
        return out


def declared_scaling(
    scales: Sequence[float | None], offsets: Sequence[float | None], sensor: str, where: str
) -> Scaling | None:
    """The conversion a file's declared ``scales``/``offsets`` ask for, or ``None`` if none.

    Raises ``ValueError`` naming ``where`` for an S2 scale that is neither 1 (DN) nor 1e-4
    (reflectance).
    """
    scale = tuple(1.0 if s is None else float(s) for s in scales)
    offset = tuple(0.0 if o is None else float(o) for o in offsets)
    if all(s == 1.0 for s in scale) and all(o == 0.0 for o in offset):
        return None
    declared = f"scale {_fmt(scale)}, offset {_fmt(offset)}"
    if sensor != "s2":
        return Scaling(scale, offset, f"applied the declared {declared} (GeoTIFF metadata)")
    if all(s == 1.0 for s in scale):
        return Scaling(scale, offset, f"applied the declared {declared} (GeoTIFF metadata): DN = raw + offset")
    if all(np.isclose(s, REFLECTANCE_SCALE, rtol=1e-3) for s in scale):
        to_dn = 1.0 / REFLECTANCE_SCALE
        return Scaling(
            tuple(s * to_dn for s in scale),
            tuple(o * to_dn for o in offset),
            f"applied the declared {declared} (GeoTIFF metadata): reflectance x 10000 = DN",
        )
    raise ValueError(
        f"{where}: declares {declared}; only scale 1 (DN) or 1e-4 (reflectance) is known for Sentinel-2. "
        "Convert the file to DN (reflectance x 10000) first"
    )


def _fmt(values: tuple[float, ...]) -> str:
    distinct = sorted(set(values))
    return f"{distinct[0]:g}" if len(distinct) == 1 else "(" + ", ".join(f"{v:g}" for v in values) + ")"
