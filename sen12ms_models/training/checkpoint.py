"""The trainer's ``last.pt`` (all a resume needs) and ``best.pt`` (weights), written atomically and read by
``models.api.load_checkpoint`` with ``weights_only=True``: tensors, numbers, strings, lists and dicts only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sen12ms_models.models.api import CHECKPOINT_FORMAT, CHECKPOINT_VERSION

LAST, BEST = "last.pt", "best.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with the format marker and version to ``path``, atomically."""
    temporary = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, temporary)
    os.replace(temporary, path)
