"""Label types and decision rules: scene labels from IGBP patches, and labels from model outputs.

A patch's reference label is the share of each simplified-IGBP class in it: the single label is its
argmax (first index on ties), the multi label every class with a share of at least 10 %. A model's
outputs become labels the same two ways (``decide``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

from sen12ms_models.classes import IGBP_TO_SIMPLIFIED, NUM_CLASSES

if TYPE_CHECKING:
    import torch

#: ``multi``: every class covering >= 10 % of the patch; ``single``: the dominant class.
LABEL_TYPES: tuple[str, ...] = ("multi", "single")

#: Minimum class share for a class to belong to the multi label (SEN12MS toolbox, Schmitt & Wu 2021:
#: the toolbox uses ``>=``, the paper says "larger than 10%").
MULTI_LABEL_THRESHOLD: float = 0.1
#: Sigmoid output at or above which a multi-label model predicts a class (SEN12MS toolbox).
DECISION_THRESHOLD: float = 0.5

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def check_label_type(label_type: str) -> str:
    """Return ``label_type`` if it is ``multi`` or ``single``; else ``ValueError`` naming both."""
    if label_type not in LABEL_TYPES:
        raise ValueError(f"label_type must be one of {', '.join(LABEL_TYPES)}, got {label_type!r}")
    return label_type


def check_threshold(threshold: float, label_type: str | None) -> float:
    """``threshold`` if it can decide ``label_type`` labels: a multi-label rule, in [0, 1]; else ``ValueError``
    (a single-label head decides by argmax)."""
    if label_type != "multi" or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold} for label_type={label_type!r}: it is a multi-label rule, in [0, 1]")
    return float(threshold)


def output_probabilities(logits: torch.Tensor, label_type: str) -> torch.Tensor:
    """``(N, K)`` logits -> sigmoid (multi-label) or softmax over classes (single-label)."""
    return logits.sigmoid() if check_label_type(label_type) == "multi" else logits.softmax(1)


def decide(probabilities: Array, label_type: str, threshold: float = DECISION_THRESHOLD) -> Array:
    """A model's decision: boolean ``(N, K)`` mask (multi: ``p >= threshold``) or ``(N,)`` argmax (single).

    ``probabilities`` are sigmoid (multi) or softmax (single) outputs, numpy or torch.
    """
    if check_label_type(label_type) == "multi":
        return probabilities >= threshold
    return probabilities.argmax(1)


def simplify_igbp(igbp: np.ndarray) -> np.ndarray:
    """Map IGBP codes (any integer array) to simplified indices 0-9, and -1 outside 1..17."""
    codes = np.asarray(igbp)
    if not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(f"IGBP codes must be integers, got dtype {codes.dtype}")
    in_range = (codes >= 1) & (codes <= 17)
    return np.where(in_range, IGBP_TO_SIMPLIFIED[np.where(in_range, codes, 0)], -1)


def class_probabilities(igbp: np.ndarray, name: str = "patch") -> np.ndarray:
    """Share of each simplified class in a dense IGBP patch ``(H, W)`` or batch ``(N, H, W)``.

    Returns float64 ``(10,)`` or ``(N, 10)`` summing to 1. Pixels outside IGBP 1..17 are not
    counted; a patch without any valid pixel raises ``ValueError`` naming ``name`` (and the
    batch index). Example: ``class_probabilities(lc[0])`` with ``lc`` read from an LC file.
    """
    codes = np.asarray(igbp)
    if codes.ndim not in (2, 3):
        raise ValueError(f"{name}: expected an IGBP patch (H, W) or batch (N, H, W), got shape {codes.shape}")
    simplified = simplify_igbp(codes.reshape(-1, codes.shape[-2] * codes.shape[-1]))  # (N or 1, pixels)
    n = len(simplified)
    offsets = np.arange(n)[:, None] * NUM_CLASSES
    counts = np.bincount((simplified + offsets)[simplified >= 0], minlength=n * NUM_CLASSES).reshape(n, NUM_CLASSES)
    totals = counts.sum(axis=1, keepdims=True)
    if (empty := np.flatnonzero(totals[:, 0] == 0)).size:
        where = f" (batch index {empty[0]})" if codes.ndim == 3 else ""
        raise ValueError(
            f"{name}{where}: no pixel has a valid IGBP code (1-17); cannot label it. The file is damaged: "
            "download it again, or remove its triplet from the tree"
        )
    probabilities = counts / totals
    return probabilities if codes.ndim == 3 else probabilities[0]


def label_target(probabilities: Array, label_type: str) -> Array:
    """The reference label of class shares ``(..., 10)`` (numpy or torch), the baselines' training target:
    multi-label float32 0/1 ``(..., 10)`` (shares >= ``MULTI_LABEL_THRESHOLD``), single-label the int64 index
    ``(...)`` of the largest share (first on ties). ``ValueError`` unless the last axis holds the 10 classes."""
    if probabilities.shape[-1:] != (NUM_CLASSES,):
        raise ValueError(f"expected class probabilities with last axis {NUM_CLASSES}, got shape {probabilities.shape}")
    if check_label_type(label_type) == "multi":
        mask = probabilities >= MULTI_LABEL_THRESHOLD
        return mask.astype(np.float32) if isinstance(mask, np.ndarray) else mask.float()
    index = probabilities.argmax(-1)
    return np.asarray(index, dtype=np.int64) if isinstance(probabilities, np.ndarray) else index
