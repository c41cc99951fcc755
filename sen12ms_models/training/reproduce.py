"""Reproduce Table 4 with one call: plan, train the baselines on one pass over the data, score, export.

``output_dir`` receives ``plan.json``, ``runs/<model>/`` (``train``'s files) and the group's ``runs/last.pt``,
``export/<model>/`` (``export_run``'s) and ``table4.json``/``.md``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sen12ms_models.classes import CLASSES
from sen12ms_models.paper import REFERENCE, TABLE4, paper_metrics
from sen12ms_models.training import loop
from sen12ms_models.training.checkpoint import LAST
from sen12ms_models.training.config import SCORE_PRECISION, TrainConfig
from sen12ms_models.training.distributed import Performance, Process, session
from sen12ms_models.training.export import ExportResult, export_run, percent, table4, table4_classes
from sen12ms_models.training.loop import TrainResult
from sen12ms_models.weights import get_weights, known_models, parse_model_name

logger = logging.getLogger(__name__)

#: ``models`` shorthands: the paper's six multi-label models, or every model this package builds.
MODEL_SETS: dict[str, tuple[str, ...]] = {"table4": tuple(TABLE4), "all": known_models()}
PLAN, TABLE_JSON, TABLE_MD = "plan.json", "table4.json", "table4.md"


def select_models(models: str) -> tuple[str, ...]:
    """``table4``, ``all`` or comma-separated model names -> full model names; ``ManifestError`` for an unknown one."""
    if models in MODEL_SETS:
        return MODEL_SETS[models]
    names = tuple(parse_model_name(name.strip()) for name in models.split(",") if name.strip())
    if not names:
        raise ValueError(f"--models names no model: give table4, all or NAME,NAME..., got {models!r}")
    return tuple(dict.fromkeys(names))


def member_configs(template: TrainConfig, names: Sequence[str]) -> list[TrainConfig]:
    """``template`` for each model of ``names``, each in ``<template.output_dir>/runs/<name>``."""
    folder = template.output_dir / "runs"
    return [
        dataclasses.replace(
            template, arch=w.arch, modality=w.modality, label_type=w.label_type, output_dir=folder / w.value
        )
        for w in map(get_weights, names)
    ]


@dataclass(frozen=True)
class ReproduceResult:
    """The plan, each model's training result and export (empty with ``plan_only`` and on ranks > 0)."""

    output_dir: Path
    plan: dict[str, Any]
    trained: tuple[TrainResult, ...]
    exports: tuple[ExportResult, ...]


def reproduce(
    template: TrainConfig,
    models: Sequence[str],
    *,
    plan_only: bool = False,
    score_precision: str = SCORE_PRECISION,
) -> ReproduceResult:
    """Plan, train ``models`` together with ``template``'s recipe, score and export them.

    Args:
        template: the recipe; its ``output_dir`` is the reproduction's folder, its model ignored.
        models: full model names (``select_models``).
        plan_only: log the plan; write and train nothing.
        score_precision: precision of the test scores (``PRECISIONS``).

    Returns:
        The plan (``plan.json``'s content), the training results and the exports.

    Raises:
        ValueError: the folder holds a reproduction and ``template.resume`` is not set, or holds one
            of other models; and ``train``'s errors.
    """
    configs, output = member_configs(template, models), template.output_dir
    with session(template.device, template.deterministic) as process:
        plan = _plan(configs, output, process, write=not plan_only)
        if plan_only:
            return ReproduceResult(output, plan, (), ())
        trained = tuple(loop.train_group(configs, output / "runs" / LAST, process, announce=False))
        if not process.is_main:
            return ReproduceResult(output, plan, trained, ())
        options: dict[str, Any] = {"batch_size": template.batch_size, "workers": template.workers}
        options |= {"device": template.device, "precision": score_precision, "progress": template.progress}
        exports = tuple(export_run(c.output_dir, output / "export" / c.name, **options) for c in configs)
        write_reproduction_tables(output, exports, plan["performance"]["precision"], score_precision)
        return ReproduceResult(output, plan, trained, exports)


def _plan(configs: list[TrainConfig], output: Path, process: Process, write: bool) -> dict[str, Any]:
    """Log the plan and, if ``write``, record it in ``plan.json``; a resumed reproduction keeps its own."""
    template, names = configs[0], [c.name for c in configs]
    if (output / PLAN).exists():
        if not template.resume:
            raise ValueError(f"{output} already holds a reproduction ({output / PLAN}); pass --resume to continue it")
        recorded: dict[str, Any] = json.loads((output / PLAN).read_text(encoding="utf-8"))
        if recorded["models"] != names:
            raise ValueError(f"cannot resume {output}: it reproduces {recorded['models']}, not {names}")
        if process.is_main:
            logger.info(f"plan: resuming {output} with its recorded plan")
        return recorded
    performance = Performance.choose(process.device, template.precision, template.channels_last)
    plan = loop.run_shape(configs, loop.load_split(template)[1], process, performance)
    if process.is_main:
        for line in loop.plan_lines(plan):
            logger.info(line)
        if write:
            output.mkdir(parents=True, exist_ok=True)
            (output / PLAN).write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    return plan


def reproduction_record(export: ExportResult) -> dict[str, Any]:
    """One model's test scores for ``table4.json``, in percent: multi-label, per-class, Average and
    Overall F1 as ``ours``, ``paper``, ``difference``; single-label, accuracy and macro F1; both the
    toolbox's ``macroF1`` (``f1_macro_all_classes``)."""
    scores = export.scores
    record: dict[str, Any] = {
        "label_type": scores.label_type,
        "export": export.folder.name,
        "test_patches": scores.num_samples,
        "f1_macro_all_classes": percent(scores.f1_macro_all_classes),
    }
    if scores.label_type == "single":
        return {**record, "accuracy": percent(scores.accuracy), "f1_macro": percent(scores.f1_macro)}
    paper = paper_metrics(export.entry.name) or {}

    def compared(mine: float | None, theirs: float | None) -> dict[str, float | None]:
        gap = None if mine is None or theirs is None else round(mine - theirs, 2)
        return {"ours": mine, "paper": theirs, "difference": gap}

    f1 = {c: None if v is None else percent(v) for c, v in zip(CLASSES, scores.f1_per_class, strict=True)}
    paper_f1 = paper.get("per_class_f1", {})
    return {
        **record,
        "per_class_f1": {c: compared(f1[c], paper_f1.get(c)) for c in table4_classes(scores, paper)},
        "average_f1": compared(percent(scores.f1_macro), paper.get("average_f1")),
        "overall_f1": compared(percent(scores.f1_micro), paper.get("overall_f1")),
    }


def write_reproduction_tables(folder: Path, exports: Sequence[ExportResult], trained_in: str, scored_in: str) -> None:
    """Write ``table4.json`` and ``table4.md`` (each model's ``table4`` beside the paper's) into ``folder``."""
    split = exports[0].entry.metrics["split"] if exports and exports[0].entry.metrics else None
    document = {
        "reference": REFERENCE,
        "precision": {"training": trained_in, "scores": scored_in},
        "split": split,
        "average_f1": "mean F1 over the classes present in the test set (the paper's; f1_macro)",
        "f1_macro_all_classes": "scikit-learn macro F1 over all 10 classes (the toolbox's macroF1)",
        "models": {e.entry.name: reproduction_record(e) for e in exports},
    }
    (folder / TABLE_JSON).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    lines = ["# Table 4, reproduced", "", f"Test split: {split}. Trained in {trained_in}, scored in {scored_in}."]
    for e in exports:
        paper = paper_metrics(e.entry.name)
        title = f"{e.entry.name}, F1 in %" + (f" (paper: {REFERENCE})" if paper else "")
        lines += ["", "```text", table4(e.scores, title, paper), "```"]
    (folder / TABLE_MD).write_text("\n".join(lines) + "\n", encoding="utf-8")
