"""The trainer's ``last.pt`` (all a resume needs) and ``best.pt`` (weights), written atomically and read by
``models.api.load_checkpoint`` with ``weights_only=True``: tensors, numbers, strings, lists and dicts only."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from sen12ms_models.models.api import CHECKPOINT_FORMAT, CHECKPOINT_VERSION

LAST, BEST = "last.pt", "best.pt"


def rng_state() -> dict[str, Any]:
    """Every global RNG state (torch CPU and CUDA, numpy, Python) as weights-only-safe values."""
    _, keys, position, has_gauss, gauss = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": [int(v) for v in random.getstate()[1]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned (the CUDA states only where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state["numpy"]
    keys = saved["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, saved["position"], saved["has_gauss"], saved["gauss"]))
    random.setstate((3, tuple(state["python"]), None))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with the format marker and version to ``path``, atomically."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, temporary)
    os.replace(temporary, path)
