"""Reproduce Table 4 with one call: plan, train the baselines on one pass over the data, score, export.

``output_dir`` receives ``plan.json``, ``runs/<model>/`` (``train``'s files; the group's ``last.pt``, or
``last-pass<k>.pt`` with several passes), ``export/<model>/`` (``export_run``'s) and ``table4.json``/``.md``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from sen12ms_models.classes import CLASSES
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.paper import REFERENCE, TABLE4, paper_metrics
from sen12ms_models.training import loop
from sen12ms_models.training.checkpoint import LAST
from sen12ms_models.training.config import RECIPE_PRECISION, TrainConfig, default_workers
from sen12ms_models.training.distributed import Performance, Process, broadcast_object, session
from sen12ms_models.training.export import ExportResult, export_run, percent
from sen12ms_models.training.loop import Member, TrainResult
from sen12ms_models.weights import get_weights, known_models, parse_model_name

logger = logging.getLogger(__name__)

#: ``models`` shorthands: the paper's six multi-label models, or every model this package builds.
MODEL_SETS: dict[str, tuple[str, ...]] = {"table4": tuple(TABLE4), "all": known_models()}
PLAN, TABLE_JSON, TABLE_MD = "plan.json", "table4.json", "table4.md"
#: Images per timed step on a CPU (the time is scaled linearly to the batch).
CPU_TIMED_BATCH = 4
#: Share of a GPU's memory a pass may plan to use (the rest: allocator slack, CUDA context).
MEMORY_FRACTION = 0.9
#: Cost of an evaluation step relative to a training step (forward only).
EVALUATION_SHARE = 1 / 3
GIB = 2**30


def select_models(models: str) -> tuple[str, ...]:
    """``table4``, ``all`` or comma-separated model names -> full model names.

    Raises:
        ManifestError: an unknown model.
        ValueError: no model named.
    """
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
    score_precision: str = RECIPE_PRECISION,
    timed_steps: int = 3,
) -> ReproduceResult:
    """Plan, train ``models`` together with ``template``'s recipe, score and export them.

    Args:
        template: the recipe; its ``output_dir`` is the reproduction's folder, its model ignored.
        models: full model names (``select_models``).
        plan_only: log the plan and its estimate; write and train nothing.
        score_precision: precision of the test scores (``PRECISIONS``).
        timed_steps: optimizer steps timed per model for the estimate.

    Returns:
        The plan (``plan.json``'s content), the training results and the exports.

    Raises:
        ValueError: the folder holds a reproduction and ``template.resume`` is not set, or holds one
            of other models; and ``train``'s errors.
    """
    configs, output = member_configs(template, models), template.output_dir
    with session(template.device, template.deterministic) as process:
        plan = _plan(configs, output, process, timed_steps, write=not plan_only)
        if plan_only:
            return ReproduceResult(output, plan, (), ())
        passes, trained = plan["estimate"]["passes"], []
        for number, names in enumerate(passes, 1):
            state = output / "runs" / (LAST if len(passes) == 1 else f"last-pass{number}.pt")
            if process.is_main and len(passes) > 1:
                logger.info(f"pass {number} of {len(passes)}: {', '.join(names)}")
            trained += loop.train_group([c for c in configs if c.name in names], state, process, announce=False)
        if not process.is_main:
            return ReproduceResult(output, plan, tuple(trained), ())
        options: dict[str, Any] = {"batch_size": template.batch_size, "workers": default_workers(1, template.workers)}
        options |= {"device": template.device, "precision": score_precision, "progress": template.progress}
        exports = tuple(export_run(c.output_dir, output / "export" / c.name, **options) for c in configs)
        write_reproduction_tables(output, exports, plan["precision"]["training"], score_precision)
        return ReproduceResult(output, plan, tuple(trained), exports)


def _plan(configs: list[TrainConfig], output: Path, process: Process, timed_steps: int, write: bool) -> dict[str, Any]:
    """Log the plan and, if ``write``, record it in ``plan.json``; a resumed reproduction keeps its own."""
    template = configs[0]
    if (output / PLAN).exists():
        if not template.resume:
            raise ValueError(f"{output} already holds a reproduction ({output / PLAN}); pass --resume to continue it")
        recorded: dict[str, Any] = json.loads((output / PLAN).read_text(encoding="utf-8"))
        if recorded["models"] != [c.name for c in configs]:
            raise ValueError(
                f"cannot resume {output}: it reproduces {recorded['models']}, not {[c.name for c in configs]}"
            )
        if process.is_main:
            logger.info(f"plan: resuming {output} with its recorded passes {recorded['estimate']['passes']}")
        return recorded
    performance = Performance.choose(process.device, template.precision, template.channels_last)
    index, split, store = loop.load_split(template)
    shape = loop.run_shape(configs, split, process, performance)
    data = loop.group_dataset(index, split.train, [c.modality for c in configs], [c.label_type for c in configs], store)
    read_seconds, timed, costs = measure(configs, data, shape["batch_per_process"], performance, timed_steps)
    cuda = process.device.type == "cuda"
    budget = int(torch.cuda.get_device_properties(process.device).total_memory * MEMORY_FRACTION) if cuda else None
    passes = broadcast_object(split_passes(costs, budget), process)
    workers = default_workers(process.world_size, template.workers)
    estimate, lines = estimate_hours(shape, costs, passes, read_seconds, workers)
    plan = {**shape, "precision": {"training": performance.precision}, "estimate": {**estimate, "timed_batch": timed}}
    if process.is_main:
        scaled = f", scaled linearly to {shape['batch_per_process']}" if timed < shape["batch_per_process"] else ""
        reading = f"runs beside the steps in {workers} worker(s)" if workers else "adds to each step"
        lines.append(
            f"plan: the estimate assumes: the median of {timed_steps} step(s) timed after a warm-up on {timed} "
            f"image(s){scaled}; reading at the measured rate {reading}; an evaluation step costs "
            f"{EVALUATION_SHARE:.2g} of a training step; every epoch runs (early stopping only shortens it)"
        )
        for line in loop.plan_lines(shape) + lines:
            logger.info(line)
        if write:
            output.mkdir(parents=True, exist_ok=True)
            (output / PLAN).write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    return plan


@dataclass(frozen=True)
class ModelCost:
    """One model's seconds per training step of this process's batch and, on CUDA, the bytes it
    holds between steps (weights, gradients, Adam) and at its peak during one."""

    name: str
    step_seconds: float
    resident_bytes: int | None
    peak_bytes: int | None


def measure(
    configs: Sequence[TrainConfig], data: Sen12msDataset, batch_size: int, performance: Performance, steps: int = 3
) -> tuple[float, int, list[ModelCost]]:
    """Time reading, and ``steps`` training steps after a warm-up of a throwaway copy of each model (under a
    forked RNG) on ``data`` (a ``group_dataset``): on a CPU on ``CPU_TIMED_BATCH`` images, scaled to this
    process's ``batch_size``; on CUDA on the whole batch, measuring memory too.

    Returns:
        The median seconds to read one patch, the images per timed step, and each model's cost.
    """
    device, cuda = performance.device, performance.device.type == "cuda"
    timed = min(len(data), batch_size if cuda else min(batch_size, CPU_TIMED_BATCH))
    items, reads = [], []
    for position in range(timed):
        started = time.perf_counter()
        items.append(data[position])
        reads.append(time.perf_counter() - started)
    batch, costs = loop.to_device(default_collate(items), device), []
    for config in configs:
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        with torch.random.fork_rng(devices=[device] if cuda else []):
            member, seconds = Member(config, data, Process(0, 0, 1, device), performance), []
            for _ in range(steps + 1):  # the first warms up: allocations, autotuning
                started = time.perf_counter()
                member.step(batch, performance)
                if cuda:
                    torch.cuda.synchronize(device)
                seconds.append(time.perf_counter() - started)
        resident = torch.cuda.memory_allocated(device) - base if cuda else None
        peak = torch.cuda.max_memory_allocated(device) - base if cuda else None
        del member
        costs.append(ModelCost(config.name, statistics.median(seconds[1:]) * batch_size / timed, resident, peak))
    return statistics.median(reads), timed, costs


def split_passes(costs: Sequence[ModelCost], budget: int | None) -> list[list[str]]:
    """Pack the models, in order, into passes whose resident bytes plus the largest transient
    (peak - resident) fit ``budget``; one pass without a budget or a measurement. A model that
    alone exceeds the budget gets a pass of its own."""
    if budget is None or any(c.resident_bytes is None or c.peak_bytes is None for c in costs):
        return [[c.name for c in costs]]

    def needs(group: Sequence[ModelCost]) -> int:
        resident = sum(c.resident_bytes or 0 for c in group)
        return resident + max((c.peak_bytes or 0) - (c.resident_bytes or 0) for c in group)

    passes: list[list[ModelCost]] = []
    for cost in costs:
        if passes and needs([*passes[-1], cost]) <= budget:
            passes[-1].append(cost)
        else:
            passes.append([cost])
    return [[c.name for c in group] for group in passes]


def estimate_hours(
    shape: dict[str, Any],
    costs: Sequence[ModelCost],
    passes: Sequence[Sequence[str]],
    read_seconds: float,
    workers: int,
) -> tuple[dict[str, Any], list[str]]:
    """``plan.json``'s ``estimate`` of a ``run_shape``: wall-clock hours of training (every epoch, with
    validation) and of test scoring, device-hours; and the plan lines that report them.

    Args:
        shape: the run (``run_shape``).
        costs: each model's measured cost (``measure``).
        passes: the models of each pass over the data (``split_passes``).
        read_seconds: seconds to read one patch in one process.
        workers: loader workers per process (0: reading in the main process, between steps).
    """
    batch, world, sizes = shape["batch_per_process"], shape["world_size"], shape["sizes"]
    read = read_seconds * batch

    def step(names: Sequence[str], share: float) -> float:
        compute = share * sum(c.step_seconds for c in costs if c.name in names)
        return compute + read if not workers else max(compute, read / workers)

    validation_steps = math.ceil(math.ceil(sizes["validation"] / world) / batch)
    epoch = sum(shape["steps_per_epoch"] * step(n, 1) + validation_steps * step(n, EVALUATION_SHARE) for n in passes)
    test = sum(math.ceil(sizes["test"] / batch) * step([c.name], EVALUATION_SHARE) for c in costs)
    hours = {"training_hours": shape["epochs"] * epoch / 3600, "test_hours": test / 3600}
    hours["device_hours"] = (hours["training_hours"] + hours["test_hours"]) * world
    readers = f"{workers} worker(s)" if workers else "the main process"
    lines = [f"plan: reading {1 / read_seconds:.0f} patches/s per reading process; reading in {readers}"]
    for c in costs:
        memory = "memory not measured on CPU"
        if c.resident_bytes is not None and c.peak_bytes is not None:
            memory = f"memory {c.resident_bytes / GIB:.2f} GiB held, {c.peak_bytes / GIB:.2f} GiB peak"
        lines.append(f"plan: {c.name}: {batch / c.step_seconds:.1f} images/s per training step; {memory}")
    if len(passes) > 1:
        lines.append(f"plan: the group does not fit the device's memory: {len(passes)} passes over the data")
    lines += [f"plan: pass {number}: {', '.join(names)}" for number, names in enumerate(passes, 1)]
    lines.append(
        f"plan: estimate for {shape['epochs']} epochs: {hours['training_hours']:.3g} h training + "
        f"{hours['test_hours']:.3g} h test scoring, {hours['device_hours']:.3g} "
        f"{'GPU' if 'cuda' in shape['performance']['device'] else 'CPU'}-hours ({world} process(es))"
    )
    models, estimate_passes = [dataclasses.asdict(c) for c in costs], [list(p) for p in passes]
    return {"read_patches_per_second": 1 / read_seconds, "models": models, "passes": estimate_passes, **hours}, lines


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
    paper_f1 = paper.get("per_class_f1", {})

    def compared(ours: float | None, theirs: float | None) -> dict[str, float | None]:
        mine = None if ours is None else percent(ours)
        gap = None if mine is None or theirs is None else round(mine - theirs, 2)
        return {"ours": mine, "paper": theirs, "difference": gap}

    f1 = dict(zip(CLASSES, scores.f1_per_class, strict=True))
    shown = [c for c, n in zip(CLASSES, scores.support, strict=True) if n > 0 or c in paper_f1]
    return {
        **record,
        "per_class_f1": {c: compared(f1[c], paper_f1.get(c)) for c in shown},
        "average_f1": compared(scores.f1_macro, paper.get("average_f1")),
        "overall_f1": compared(scores.f1_micro, paper.get("overall_f1")),
    }


def write_reproduction_tables(folder: Path, exports: Sequence[ExportResult], trained_in: str, scored_in: str) -> None:
    """Write ``table4.json`` and ``table4.md`` of ``exports`` into ``folder``."""
    metrics = exports[0].entry.metrics if exports else None
    document = {
        "reference": REFERENCE,
        "precision": {"training": trained_in, "scores": scored_in},
        "split": metrics["split"] if metrics else None,
        "average_f1": "mean F1 over the classes present in the test set (the paper's; f1_macro)",
        "f1_macro_all_classes": "scikit-learn macro F1 over all 10 classes (the toolbox's macroF1)",
        "models": {e.entry.name: reproduction_record(e) for e in exports},
    }
    (folder / TABLE_JSON).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (folder / TABLE_MD).write_text(_markdown(document), encoding="utf-8")


def _cell(value: dict[str, Any] | None) -> str:
    """``ours (paper, ours - paper)`` in %, as far as they are known."""
    ours, paper, difference = ((value or {}).get(k) for k in ("ours", "paper", "difference"))
    shown = "-" if ours is None else f"{ours:.1f}"
    if paper is None:
        return shown
    return f"{shown} ({paper:.1f})" if difference is None else f"{shown} ({paper:.1f}, {difference:+.1f})"


def _markdown(document: dict[str, Any]) -> str:
    def row(*cells: str) -> str:
        return "| " + " | ".join(cells) + " |"

    models, precision = document["models"], document["precision"]
    multi = {n: r for n, r in models.items() if r["label_type"] == "multi"}
    single = {n: r for n, r in models.items() if r["label_type"] == "single"}
    lines = [
        "# Table 4, reproduced",
        "",
        f"Test split: {document['split']}. Trained in {precision['training']}, scored in {precision['scores']}. "
        f"Reference: {document['reference']}.",
    ]
    if multi:
        lines += [
            "",
            "Multi-label F1 in %: ours (paper, ours - paper). Average F1 = mean over the classes present "
            "(the paper's); macro F1 over 10 = the toolbox's macroF1.",
            "",
            row("class", *multi),
            row(*["---"] * (len(multi) + 1)),
        ]
        classes = sorted({c for r in multi.values() for c in r["per_class_f1"]}, key=CLASSES.index)
        lines += [row(c, *(_cell(r["per_class_f1"].get(c)) for r in multi.values())) for c in classes]
        lines += [row("Average F1", *(_cell(r["average_f1"]) for r in multi.values()))]
        lines += [row("Overall F1", *(_cell(r["overall_f1"]) for r in multi.values()))]
        lines += [row("macro F1 over 10", *(f"{r['f1_macro_all_classes']:.1f}" for r in multi.values()))]
    if single:
        lines += ["", "Single-label, in %:", "", row("model", "accuracy", "macro F1", "macro F1 over 10")]
        lines += [row(*["---"] * 4)]
        lines += [
            row(n, *(f"{r[k]:.1f}" for k in ("accuracy", "f1_macro", "f1_macro_all_classes")))
            for n, r in single.items()
        ]
    return "\n".join(lines) + "\n"
