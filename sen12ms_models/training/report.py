"""Scores as people read them: a table shaped like the paper's Table 4, and the manifest's metrics.

Table 4 of Schmitt & Wu (2021) lists the per-class F1 of the classes present in the test set,
then "Average F1" (macro over those classes) and "Overall F1" (micro), in percent. The
manifest's ``metrics`` use the same keys as its ``paper_metrics``, so the two compare directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sen12ms_models.classes import CLASSES
from sen12ms_models.paper import REFERENCE, paper_metrics
from sen12ms_models.training.metrics import Scores

if TYPE_CHECKING:
    from sen12ms_models.training.export import ExportResult

#: The files ``write_reproduction_tables`` writes into a reproduction's folder.
TABLE_JSON, TABLE_MD = "table4.json", "table4.md"


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


def _compared(ours: float | None, paper: float | None) -> dict[str, float | None]:
    mine = None if ours is None else percent(ours)
    difference = None if mine is None or paper is None else round(mine - paper, 2)
    return {"ours": mine, "paper": paper, "difference": difference}


def reproduction_record(export: ExportResult) -> dict[str, Any]:
    """One model's test scores for ``table4.json``: multi-label models per class, Average F1 and
    Overall F1 beside the paper's (percent, ``difference`` = ours - paper); single-label models
    accuracy and macro F1. Both carry ``f1_macro_all_classes``, the toolbox's ``macroF1``."""
    scores, name = export.scores, export.spec.name
    record: dict[str, Any] = {
        "label_type": scores.label_type,
        "export": export.folder.name,
        "test_patches": scores.num_samples,
        "f1_macro_all_classes": percent(scores.f1_macro_all_classes),
    }
    if scores.label_type == "single":
        return {**record, "accuracy": percent(scores.accuracy), "f1_macro": percent(scores.f1_macro)}
    paper = paper_metrics(name) or {}
    paper_f1 = paper.get("per_class_f1", {})
    shown = [c for c, n in zip(CLASSES, scores.support, strict=True) if n > 0 or c in paper_f1]
    f1 = dict(zip(CLASSES, scores.f1_per_class, strict=True))
    return {
        **record,
        "per_class_f1": {c: _compared(f1[c], paper_f1.get(c)) for c in shown},
        "average_f1": _compared(scores.f1_macro, paper.get("average_f1")),
        "overall_f1": _compared(scores.f1_micro, paper.get("overall_f1")),
    }


def write_reproduction_tables(
    folder: Path, exports: tuple[ExportResult, ...], trained_in: str, scored_in: str
) -> dict[str, Any]:
    """Write ``table4.json`` and ``table4.md`` into ``folder`` for ``exports``; returns the JSON document."""
    document = {
        "reference": REFERENCE,
        "precision": {"training": trained_in, "scores": scored_in},
        "split": exports[0].spec.metrics["split"] if exports and exports[0].spec.metrics else None,
        "average_f1": "mean F1 over the classes present in the test set (the paper's; f1_macro)",
        "f1_macro_all_classes": "scikit-learn macro F1 over all 10 classes (the toolbox's macroF1)",
        "models": {e.spec.name: reproduction_record(e) for e in exports},
    }
    (folder / TABLE_JSON).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (folder / TABLE_MD).write_text(_markdown(document), encoding="utf-8")
    return document


def _cell(value: dict[str, float | None]) -> str:
    ours, paper, difference = value["ours"], value["paper"], value["difference"]
    if paper is None:
        return "-" if ours is None else f"{ours:.1f}"
    if ours is None or difference is None:
        return f"- ({paper:.1f})"
    return f"{ours:.1f} ({paper:.1f}, {difference:+.1f})"


def _markdown(document: dict[str, Any]) -> str:
    models = document["models"]
    multi = {n: r for n, r in models.items() if r["label_type"] == "multi"}
    single = {n: r for n, r in models.items() if r["label_type"] == "single"}
    precision = document["precision"]
    lines = [
        "# Table 4, reproduced",
        "",
        f"Test split: {document['split']}. Trained in {precision['training']}, scored in {precision['scores']}. "
        f"Reference: {document['reference']}.",
    ]
    if multi:
        rows = sorted({c for r in multi.values() for c in r["per_class_f1"]}, key=CLASSES.index)
        lines += [
            "",
            "Multi-label F1 in %: ours (paper, ours - paper). Average F1 = mean over the classes present "
            "(the paper's); macro F1 over 10 = the toolbox's macroF1.",
            "",
            "| class | " + " | ".join(multi) + " |",
            "|---" * (len(multi) + 1) + "|",
        ]
        for c in rows:
            cells = [_cell(r["per_class_f1"][c]) if c in r["per_class_f1"] else "-" for r in multi.values()]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        for key, label in (("average_f1", "Average F1"), ("overall_f1", "Overall F1")):
            lines.append(f"| {label} | " + " | ".join(_cell(r[key]) for r in multi.values()) + " |")
        lines.append(
            "| macro F1 over 10 | " + " | ".join(f"{r['f1_macro_all_classes']:.1f}" for r in multi.values()) + " |"
        )
    if single:
        lines += [
            "",
            "Single-label, in %:",
            "",
            "| model | accuracy | macro F1 | macro F1 over 10 |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {n} | {r['accuracy']:.1f} | {r['f1_macro']:.1f} | {r['f1_macro_all_classes']:.1f} |"
            for n, r in single.items()
        ]
    return "\n".join(lines) + "\n"
