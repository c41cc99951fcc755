"""The scores of the SEN12MS paper and toolbox, from counts that add up across batches and ranks.

A ratio with a zero denominator is 0 (scikit-learn's ``zero_division=0``); a class absent from
reference and prediction has no per-class score. ``f1_macro`` is the paper's "Average F1" (over the
classes present in the reference), ``f1_micro`` its "Overall F1"; ``f1_macro_all_classes`` is the
toolbox's ``macroF1`` (over all 10 classes). See docs/training.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from sen12ms_models.classes import CLASSES, NUM_CLASSES
from sen12ms_models.labels import check_label_type

#: Per-sample quantities summed over samples (``errors``: wrong label entries, ``exact``: no error).
_PER_SAMPLE_SUMS = ("precision", "recall", "f1", "f2", "errors", "exact", "samples")


def _ratios(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall, F1 and F2 of the counts (0/0 is 0)."""
    fractions = {
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
        "f1": (2 * tp, 2 * tp + fn + fp),
        "f2": (5 * tp, 5 * tp + 4 * fn + fp),
    }
    return {name: (a / b).nan_to_num(0.0) for name, (a, b) in fractions.items()}


@dataclass(frozen=True)
class Scores:
    """All scores of one evaluation, as fractions in [0, 1]; per-class lists follow ``classes``.

    Precision, recall, F1 and F2 each come ``_macro`` (over the classes present), ``_micro`` and
    ``_samples`` (mean over samples). ``confusion_matrix``: ``[true][predicted]`` counts
    (single-label) or, per class, ``[[tn, fp], [fn, tp]]`` (multi-label).
    """

    label_type: str
    classes: tuple[str, ...]
    num_samples: int
    support: list[int]
    predicted: list[int]
    f1_per_class: list[float | None]
    precision_per_class: list[float | None]
    recall_per_class: list[float | None]
    f1_macro: float
    f1_micro: float
    f1_macro_all_classes: float
    f1_samples: float
    precision_macro: float
    precision_micro: float
    precision_samples: float
    recall_macro: float
    recall_micro: float
    recall_samples: float
    f2_macro: float
    f2_micro: float
    f2_samples: float
    hamming_loss: float
    subset_accuracy: float
    confusion_matrix: list[list[int]] | list[list[list[int]]]
    best_constant_f1_micro: float

    @property
    def classes_present(self) -> list[str]:
        """Classes with at least one reference sample: those the macro averages cover."""
        return [name for name, n in zip(self.classes, self.support, strict=True) if n > 0]

    @property
    def accuracy(self) -> float:
        """Exact-match accuracy (single-label: the usual accuracy, equal to ``f1_micro``)."""
        return self.subset_accuracy

    def to_json(self) -> dict[str, Any]:
        """Every score, plus ``classes_present`` and ``accuracy``, JSON-ready."""
        extra = {"classes": list(self.classes), "classes_present": self.classes_present, "accuracy": self.accuracy}
        return asdict(self) | extra


class MetricCounts:
    """Additive evaluation counts for ``label_type`` ``"multi"`` or ``"single"``: ``update`` per batch,
    in one float64 vector ``tensor`` (exact below 2**53) that one ``all_reduce`` sums, then ``compute``."""

    def __init__(self, label_type: str, device: torch.device | str = "cpu") -> None:
        self.label_type, k = check_label_type(label_type), NUM_CLASSES
        self._sizes = {"tp": k, "fp": k, "fn": k, **dict.fromkeys(_PER_SAMPLE_SUMS, 1), "confusion": k * k}
        self.tensor = torch.zeros(sum(self._sizes.values()), dtype=torch.float64, device=device)

    def _parts(self, tensor: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self._sizes, torch.split(tensor, list(self._sizes.values())), strict=True))

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: boolean ``(N, K)`` masks (multi-label) or class indices ``(N,)`` (single); ``ValueError``
        for other shapes."""
        parts, k = self._parts(self.tensor), NUM_CLASSES
        shapes = f"got {tuple(predicted.shape)} and {tuple(target.shape)}"
        if self.label_type == "single":
            if predicted.ndim != 1 or target.shape != predicted.shape:
                raise ValueError(f"single-label counts take class indices (N,), {shapes}")
            parts["confusion"].add_(torch.bincount(target.long() * k + predicted.long(), minlength=k * k).double())
            predicted = torch.nn.functional.one_hot(predicted.long(), k)
            target = torch.nn.functional.one_hot(target.long(), k)
        elif predicted.shape != target.shape or predicted.ndim != 2 or predicted.shape[1] != k:
            raise ValueError(f"multi-label counts take boolean masks (N, {k}), {shapes}")
        predicted, target = predicted.bool(), target.bool()
        tp, fp, fn = (predicted & target).double(), (predicted & ~target).double(), (~predicted & target).double()
        for name, count in (("tp", tp), ("fp", fp), ("fn", fn)):
            parts[name].add_(count.sum(0))
        tp_s, fp_s, fn_s = tp.sum(1), fp.sum(1), fn.sum(1)
        per_sample = _ratios(tp_s, fp_s, fn_s) | {"errors": fp_s + fn_s, "exact": (fp_s + fn_s == 0).double()}
        for name, values in (per_sample | {"samples": torch.ones_like(tp_s)}).items():
            parts[name].add_(values.sum())

    def compute(self) -> Scores:
        """The scores of everything added so far; ``ValueError`` when nothing was."""
        parts, k = self._parts(self.tensor.detach().cpu()), NUM_CLASSES
        n = int(parts["samples"])
        if n == 0:
            raise ValueError("no sample was evaluated: the evaluation set is empty")
        tp, fp, fn = parts["tp"], parts["fp"], parts["fn"]
        support, defined = tp + fn, (tp + fp + fn > 0).tolist()
        per_class, micro = _ratios(tp, fp, fn), _ratios(tp.sum(), fp.sum(), fn.sum())
        averages: dict[str, Any] = {}
        for name, values in per_class.items():
            averages[f"{name}_macro"] = float(values[support > 0].mean().nan_to_num(0.0))  # no class present: 0
            averages[f"{name}_micro"] = float(micro[name])
            averages[f"{name}_samples"] = float(parts[name]) / n
            if name != "f2":  # Scores has no per-class F2
                listed = zip(values.tolist(), defined, strict=True)
                averages[f"{name}_per_class"] = [v if ok else None for v, ok in listed]
        if self.label_type == "single":
            confusion: Any = parts["confusion"].reshape(k, k).long().tolist()
        else:
            tn = n - tp - fp - fn
            confusion = torch.stack([torch.stack([tn, fp], -1), torch.stack([fn, tp], -1)], 1).long().tolist()
        return Scores(
            label_type=self.label_type,
            classes=CLASSES,
            num_samples=n,
            support=support.long().tolist(),
            predicted=(tp + fp).long().tolist(),
            f1_macro_all_classes=float(per_class["f1"].mean()),
            hamming_loss=float(parts["errors"]) / n / k,
            subset_accuracy=float(parts["exact"]) / n,
            confusion_matrix=confusion,
            best_constant_f1_micro=best_constant_f1_micro(support.tolist(), n, self.label_type),
            **averages,
        )


def best_constant_f1_micro(support: list[float], num_samples: int, label_type: str) -> float:
    """Micro F1 of the best prediction that ignores its input: the bar a model must clear.

    Single-label: the majority class's share. Multi-label: a constant class set S scores
    ``2 A / (|S| n + T)`` (``A``: the support of S, ``T``: the total support, ``n``: ``num_samples``),
    so the best S is a prefix of the classes sorted by support.
    """
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if label_type == "single":
        return max(support) / num_samples
    total, best, chosen = sum(support), 0.0, 0.0
    for size, count in enumerate(sorted(support, reverse=True), start=1):
        chosen += count
        best = max(best, 2 * chosen / (size * num_samples + total))
    return best
