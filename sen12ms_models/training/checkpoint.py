"""The trainer's own files: ``last.pt`` (everything needed to resume) and ``best.pt`` (weights).

Written with ``torch.save``, read only with ``torch.load(weights_only=True)``: they hold
nothing but tensors, numbers, strings, lists and dicts (RNG states are stored as tensors and
lists for that reason), so loading one never unpickles an arbitrary object. Writes go to a
temporary file first and are renamed into place, so a run killed while saving leaves the
previous checkpoint intact. Published weights are never these files: ``export`` turns
``best.pt`` into safetensors.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

FORMAT = "sen12ms-models/training-checkpoint"
VERSION = 1
LAST, BEST = "last.pt", "best.pt"


def rng_state() -> dict[str, Any]:
    """Every global RNG state (torch CPU and CUDA, numpy, Python) as weights_only-safe values."""
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
    """Restore the states ``rng_state`` returned (CUDA ones only where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state["numpy"]
    keys = saved["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, saved["position"], saved["has_gauss"], saved["gauss"]))
    random.setstate((3, tuple(state["python"]), None))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format marker) to ``path`` atomically."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **state}, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``, with ``weights_only=True``.

    Raises ``ValueError`` naming the file when it is missing, not loadable that way, or not a
    sen12ms-models training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise ValueError(f"{path}: not a loadable training checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a sen12ms-models training checkpoint (no {FORMAT!r} marker)")
    if state.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {state.get('version')}, this library reads {VERSION}")
    return state
