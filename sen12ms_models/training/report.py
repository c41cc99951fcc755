"""Scores as people read them: a table shaped like the paper's Table 4, and the manifest's metrics.

Table 4 of Schmitt & Wu (2021) lists the per-class F1 of the classes present in the test set,
then "Average F1" (macro over those classes) and "Overall F1" (micro), in percent. The
manifest's ``metrics`` use the same keys as its ``paper_metrics``, so the two compare directly.
"""

from __future__ import annotations

from typing import Any

from sen12ms_models.training.metrics import Scores


def percent(value: float) -> float:
    """A [0, 1] score in percent, rounded to 0.01 (the paper prints 0.1)."""
    return round(100 * value, 2)


def table4(scores: Scores, title: str, paper: dict[str, Any] | None = None) -> str:
    """The per-class / Average / Overall F1 table, with the paper's column when ``paper`` is given.

    ``paper`` is a manifest entry's ``paper_metrics`` (Table 4 values, in percent).
    """
    paper_f1 = (paper or {}).get("per_class_f1", {})
    header = f"{'class (reference count)':<30}{'F1 %':>8}" + (f"{'paper':>8}" if paper else "")
    lines = [title, header, "-" * len(header)]

    def row(label: str, value: float | None, paper_value: Any) -> str:
        shown = f"{percent(value):>8.1f}" if value is not None else f"{'-':>8}"
        reference = f"{paper_value:>8}" if paper else ""
        return f"{label:<30}{shown}{reference}"

    for name, support, f1 in zip(scores.classes, scores.support, scores.f1_per_class, strict=True):
        if support > 0:
            lines.append(row(f"{name} ({support})", f1, paper_f1.get(name, "-")))
    lines.append(row("Average F1", scores.f1_macro, (paper or {}).get("average_f1", "-")))
    lines.append(row("Overall F1", scores.f1_micro, (paper or {}).get("overall_f1", "-")))
    lines += [
        "",
        f"samples {scores.num_samples}; sample F1 {percent(scores.f1_samples)}; "
        f"F2 micro/macro/samples {percent(scores.f2_micro)}/{percent(scores.f2_macro)}/{percent(scores.f2_samples)}",
        f"precision micro/macro/samples {percent(scores.precision_micro)}/{percent(scores.precision_macro)}/"
        f"{percent(scores.precision_samples)}; recall {percent(scores.recall_micro)}/{percent(scores.recall_macro)}/"
        f"{percent(scores.recall_samples)}",
        f"Hamming loss {percent(scores.hamming_loss)}; subset accuracy {percent(scores.subset_accuracy)}; "
        f"best constant prediction: Overall F1 {percent(scores.best_constant_f1_micro)}",
    ]
    return "\n".join(lines)


def manifest_metrics(scores: Scores, subset: str, split: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics`` of a manifest entry, shaped like its ``paper_metrics`` (percent)."""
    scenes = split["test_scenes"] if subset == "test" else split["validation_scenes"]
    return {
        "split": f"{subset} ({len(scenes)} scenes, {scores.num_samples} patches; split {split['name']!r})",
        "unit": "percent",
        "per_class_f1": {
            name: percent(f1)
            for name, n, f1 in zip(scores.classes, scores.support, scores.f1_per_class, strict=True)
            if n > 0 and f1 is not None
        },
        "average_f1": percent(scores.f1_macro),
        "overall_f1": percent(scores.f1_micro),
        "sample_f1": percent(scores.f1_samples),
        "precision_micro": percent(scores.precision_micro),
        "recall_micro": percent(scores.recall_micro),
        "f2_micro": percent(scores.f2_micro),
        "hamming_loss": percent(scores.hamming_loss),
        "subset_accuracy": percent(scores.subset_accuracy),
    }
