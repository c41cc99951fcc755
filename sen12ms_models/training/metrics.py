"""The scores of the SEN12MS paper and toolbox, computed from counts that add up across shards.

Every score derives from per-class true/false positives/negatives, per-sample sums and, for
single-label runs, a confusion matrix. Batches (and DDP ranks) therefore only add their counts:
``MetricCounts.update`` per batch on the device, one ``all_reduce`` of ``counts.tensor`` across
ranks, then ``compute()``. Pure torch, no sklearn at runtime (the tests check against it).

Conventions (ratios with a zero denominator are 0, as scikit-learn's ``zero_division=0``):

- ``f1_macro`` is the paper's "Average F1" (Table 4): the mean F1 over the classes present in
  the reference only, so Snow/Ice, absent from the test set, does not count (scikit-learn's
  ``f1_score(average="macro", labels=<classes present>)``). ``f1_micro`` is its "Overall F1".
- ``f1_macro_all_classes`` is the SEN12MS toolbox's ``macroF1``: scikit-learn's
  ``average="macro"`` over all 10 columns, an absent class counting as 0, so it is 0.9 x
  ``f1_macro`` when Snow/Ice is absent. It is reported for comparison with the toolbox only.
- A ratio with a zero denominator is 0; a class absent from both reference and prediction has
  no per-class score (``None``).

>>> counts = MetricCounts("multi")
>>> counts.update(torch.tensor([[True, False]]), torch.tensor([[True, True]]))  # doctest: +SKIP
>>> counts.compute().f1_micro                                                   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from sen12ms_models.classes import CLASSES, NUM_CLASSES
from sen12ms_models.labels import check_label_type

#: Per-sample quantities summed over samples (``errors``: wrong label entries, ``exact``: no error).
_PER_SAMPLE_SUMS = ("precision", "recall", "f1", "f2", "errors", "exact", "samples")


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` with 0 where the denominator is 0 (``zero_division=0``)."""
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator))


def _fbeta(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, beta: float) -> torch.Tensor:
    """F-beta from counts: ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``, 0 when undefined."""
    weight = 1.0 + beta**2
    return _ratio(weight * tp, weight * tp + beta**2 * fn + fp)


@dataclass(frozen=True)
class Scores:
    """All scores of one evaluation; per-class lists follow ``classes`` (the model's outputs).

    Ratios are fractions in [0, 1]; ``f1_macro`` is the paper's Average F1, ``f1_macro_all_classes``
    the toolbox's ``macroF1`` (see the module docstring). ``confusion_matrix`` is ``[true][predicted]`` counts for
    single-label runs and, per class, ``[[tn, fp], [fn, tp]]`` for multi-label runs.
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
        """Exact-match accuracy (for single-label runs the usual accuracy, equal to ``f1_micro``)."""
        return self.subset_accuracy

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every score, plus ``classes_present`` and ``accuracy``."""
        return {
            **asdict(self),
            "classes": list(self.classes),
            "classes_present": self.classes_present,
            "accuracy": self.accuracy,
        }


class MetricCounts:
    """Additive evaluation counts for ``label_type`` ``"multi"`` or ``"single"``.

    ``tensor`` is one float64 vector holding every count (exact for integers below 2**53), so
    distributed evaluation sums it with a single ``all_reduce``.
    """

    def __init__(self, label_type: str, num_classes: int = NUM_CLASSES, device: torch.device | str = "cpu") -> None:
        self.label_type = check_label_type(label_type)
        self.num_classes = num_classes
        k = num_classes
        self._sizes = {"tp": k, "fp": k, "fn": k, **dict.fromkeys(_PER_SAMPLE_SUMS, 1), "confusion": k * k}
        self.tensor = torch.zeros(sum(self._sizes.values()), dtype=torch.float64, device=device)

    def _parts(self, tensor: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views into a flat counts tensor (in-place updates reach ``tensor``)."""
        return dict(zip(self._sizes, torch.split(tensor, list(self._sizes.values())), strict=True))

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: boolean ``(N, K)`` masks (multi-label) or class indices ``(N,)`` (single)."""
        parts = self._parts(self.tensor)
        if self.label_type == "single":
            if predicted.ndim != 1 or target.shape != predicted.shape:
                raise ValueError(
                    f"single-label counts take class indices (N,), got {tuple(predicted.shape)} "
                    f"and {tuple(target.shape)}"
                )
            flat = target.long() * self.num_classes + predicted.long()
            parts["confusion"].add_(torch.bincount(flat, minlength=self.num_classes**2).double())
            predicted = torch.nn.functional.one_hot(predicted.long(), self.num_classes).bool()
            target = torch.nn.functional.one_hot(target.long(), self.num_classes).bool()
        elif predicted.shape != target.shape or predicted.ndim != 2 or predicted.shape[1] != self.num_classes:
            raise ValueError(
                f"multi-label counts take boolean masks (N, {self.num_classes}), got "
                f"{tuple(predicted.shape)} and {tuple(target.shape)}"
            )
        predicted, target = predicted.bool(), target.bool()
        tp = (predicted & target).double()
        fp = (predicted & ~target).double()
        fn = (~predicted & target).double()
        parts["tp"].add_(tp.sum(0))
        parts["fp"].add_(fp.sum(0))
        parts["fn"].add_(fn.sum(0))
        tp_s, fp_s, fn_s = tp.sum(1), fp.sum(1), fn.sum(1)
        per_sample = {
            "precision": _ratio(tp_s, tp_s + fp_s),
            "recall": _ratio(tp_s, tp_s + fn_s),
            "f1": _fbeta(tp_s, fp_s, fn_s, 1.0),
            "f2": _fbeta(tp_s, fp_s, fn_s, 2.0),
            "errors": fp_s + fn_s,
            "exact": (fp_s + fn_s == 0).double(),
            "samples": torch.ones_like(tp_s),
        }
        for name, values in per_sample.items():
            parts[name].add_(values.sum())

    def compute(self) -> Scores:
        """The scores of everything added so far (raises ``ValueError`` when nothing was)."""
        parts = self._parts(self.tensor.detach().cpu())
        n = int(parts["samples"].item())
        if n == 0:
            raise ValueError("no sample was evaluated: the evaluation set is empty")
        tp, fp, fn = parts["tp"], parts["fp"], parts["fn"]
        support, predicted = tp + fn, tp + fp
        present = support > 0
        defined = present | (predicted > 0)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1, f2 = _fbeta(tp, fp, fn, 1.0), _fbeta(tp, fp, fn, 2.0)

        def macro(values: torch.Tensor) -> float:
            return float(values[present].mean()) if bool(present.any()) else 0.0

        def per_class(values: torch.Tensor) -> list[float | None]:
            return [float(v) if ok else None for v, ok in zip(values.tolist(), defined.tolist(), strict=True)]

        def sample_mean(name: str) -> float:
            return float(parts[name].item()) / n

        tp_all, fp_all, fn_all = tp.sum(), fp.sum(), fn.sum()
        k = self.num_classes
        if self.label_type == "single":
            confusion: Any = parts["confusion"].reshape(k, k).long().tolist()
        else:
            tn = n - tp - fp - fn
            confusion = torch.stack([torch.stack([tn, fp], -1), torch.stack([fn, tp], -1)], 1).long().tolist()
        return Scores(
            label_type=self.label_type,
            classes=CLASSES if k == NUM_CLASSES else tuple(str(i) for i in range(k)),
            num_samples=n,
            support=support.long().tolist(),
            predicted=predicted.long().tolist(),
            f1_per_class=per_class(f1),
            precision_per_class=per_class(precision),
            recall_per_class=per_class(recall),
            f1_macro=macro(f1),
            f1_micro=float(_fbeta(tp_all, fp_all, fn_all, 1.0)),
            f1_macro_all_classes=float(f1.mean()),
            f1_samples=sample_mean("f1"),
            precision_macro=macro(precision),
            precision_micro=float(_ratio(tp_all, tp_all + fp_all)),
            precision_samples=sample_mean("precision"),
            recall_macro=macro(recall),
            recall_micro=float(_ratio(tp_all, tp_all + fn_all)),
            recall_samples=sample_mean("recall"),
            f2_macro=macro(f2),
            f2_micro=float(_fbeta(tp_all, fp_all, fn_all, 2.0)),
            f2_samples=sample_mean("f2"),
            hamming_loss=sample_mean("errors") / k,
            subset_accuracy=sample_mean("exact"),
            confusion_matrix=confusion,
            best_constant_f1_micro=best_constant_f1_micro(support.tolist(), n, self.label_type),
        )


def best_constant_f1_micro(support: list[float], num_samples: int, label_type: str) -> float:
    """Micro F1 of the best prediction that ignores its input: the bar a model must clear.

    Single-label: always the majority class (micro F1 = its share). Multi-label: always the
    same class set S, which scores ``2 A / (|S| n + T)`` with ``A`` the support of S and
    ``T`` the total support; for each size the most frequent classes are best, so the best S
    is a prefix of the classes sorted by support.
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
