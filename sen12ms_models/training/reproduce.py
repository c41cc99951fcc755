"""Reproduce Table 4 with one call: plan, train every baseline on one pass over the data, score, export.

``reproduce`` (the ``sen12ms-models reproduce`` command) writes into ``output_dir``:

- ``plan.json``: models, split sizes, steps per epoch, measured rates and memory, passes, hours;
- ``runs/<model>/``: each model's ``run.json``, ``metrics.jsonl`` and ``best.pt`` (as ``train``
  writes them), and the group's ``last.pt`` (``last-pass<k>.pt`` when it needs several passes);
- ``export/<model>/``: each best checkpoint exported exactly as ``export`` does (safetensors,
  model card, manifest entry, test scores), ready for ``publish``;
- ``table4.json`` and ``table4.md``: every model's test scores beside the paper's (``report``).

Test scores are computed in fp32 unless ``score_precision`` says otherwise (the toolbox had
no autocast); the precisions used for training and scoring are written into the tables.

>>> reproduce(TrainConfig("/data/SEN12MS", "table4", precision="fp32"), select_models("table4"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from sen12ms_models.datasets.store import open_store
from sen12ms_models.models.spec import known_models, parse_model_name
from sen12ms_models.paper import TABLE4
from sen12ms_models.training.checkpoint import LAST
from sen12ms_models.training.config import RECIPE_PRECISION, TrainConfig, default_workers
from sen12ms_models.training.distributed import Process, broadcast_object, start, stop
from sen12ms_models.training.export import ExportResult, export_run
from sen12ms_models.training.group_data import group_dataset
from sen12ms_models.training.loop import load_split, run_group
from sen12ms_models.training.member import TrainResult
from sen12ms_models.training.performance import Performance, configure_backends
from sen12ms_models.training.plan import Estimate, measure, memory_budget, plan_lines, split_passes
from sen12ms_models.training.report import write_reproduction_tables

#: ``--models`` shorthands: the paper's six multi-label models, or every model this package builds.
MODEL_SETS: dict[str, tuple[str, ...]] = {"table4": tuple(TABLE4), "all": known_models()}
PLAN = "plan.json"


def select_models(models: str) -> tuple[str, ...]:
    """``table4``, ``all`` or comma-separated model names -> full model names (``ManifestError`` if unknown)."""
    if models in MODEL_SETS:
        return MODEL_SETS[models]
    names = tuple(parse_model_name(name.strip()) for name in models.split(",") if name.strip())
    if not names:
        raise ValueError(f"--models names no model: give table4, all or NAME,NAME..., got {models!r}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ReproduceResult:
    """The plan, each model's training result and export (empty with ``plan_only`` and on ranks > 0)."""

    output_dir: Path
    plan: dict[str, Any]
    trained: tuple[TrainResult, ...]
    exports: tuple[ExportResult, ...]


def member_configs(template: TrainConfig, names: Sequence[str]) -> list[TrainConfig]:
    """``template`` for each model, each in ``<template.output_dir>/runs/<name>``."""
    configs = []
    for name in names:
        arch, modality, label_type = name.split("-")
        folder = template.output_dir / "runs" / name
        configs.append(
            dataclasses.replace(template, arch=arch, modality=modality, label_type=label_type, output_dir=folder)
        )
    return configs


def reproduce(
    template: TrainConfig,
    models: Sequence[str],
    *,
    plan_only: bool = False,
    score_precision: str = RECIPE_PRECISION,
    timed_steps: int = 3,
) -> ReproduceResult:
    """Plan, train ``models`` together with ``template``'s recipe, score and export them (module docstring).

    ``template.output_dir`` is the reproduction's folder; its model fields are ignored.
    ``timed_steps``: optimizer steps timed per model for the estimate. Raises ``ValueError``
    when the folder already holds a reproduction and ``template.resume`` is not set.
    """
    configs = member_configs(template, models)
    output = template.output_dir
    process = start(template.device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        configure_backends(process.device, template.deterministic)
        plan = _plan(configs, template, process, timed_steps, write=not plan_only)
        if plan_only:
            return ReproduceResult(output, plan, (), ())
        passes = plan["estimate"]["passes"]
        trained: list[TrainResult] = []
        for number, names in enumerate(passes, 1):
            state = output / "runs" / (LAST if len(passes) == 1 else f"last-pass{number}.pt")
            if process.is_main and len(passes) > 1:
                tqdm.write(f"pass {number} of {len(passes)}: {', '.join(names)}")
            trained += run_group([c for c in configs if c.name in names], state, process, announce=False)
        if not process.is_main:
            return ReproduceResult(output, plan, tuple(trained), ())
        exports = tuple(_export(config, score_precision) for config in configs)
        write_reproduction_tables(output, exports, plan["precision"]["training"], score_precision)
        return ReproduceResult(output, plan, tuple(trained), exports)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        stop(process)


def _plan(
    configs: list[TrainConfig], template: TrainConfig, process: Process, timed_steps: int, write: bool
) -> dict[str, Any]:
    """Print the plan and, if ``write``, record it in ``plan.json`` (rank 0); a resumed reproduction
    keeps its recorded plan (and passes)."""
    output = template.output_dir
    if (output / PLAN).exists():
        if not template.resume:
            raise ValueError(f"{output} already holds a reproduction ({output / PLAN}); pass --resume to continue it")
        recorded: dict[str, Any] = json.loads((output / PLAN).read_text(encoding="utf-8"))
        if recorded["models"] != [c.name for c in configs]:
            raise ValueError(
                f"cannot resume {output}: it reproduces {recorded['models']}, not {[c.name for c in configs]}"
            )
        if process.is_main:
            tqdm.write(f"plan: resuming {output} with its recorded passes {recorded['estimate']['passes']}")
        return recorded
    performance = Performance.choose(process.device, template.precision, template.channels_last)
    rank_batch = template.batch_size // process.world_size
    index, split = load_split(template)
    modalities, label_types = [c.modality for c in configs], [c.label_type for c in configs]
    store = open_store(template.store) if template.store else None
    train_set = group_dataset(index, split.train, modalities, label_types, store)
    read_seconds, costs = measure(configs, train_set, rank_batch, performance, timed_steps)
    passes = broadcast_object(split_passes(costs, memory_budget(process.device)), process)
    workers = template.workers if template.workers is not None else default_workers(process.world_size)
    sizes = split.describe()["sizes"]

    def steps(patches: int) -> int:  # each rank's batches over its ceil(patches / world) samples
        return math.ceil(math.ceil(patches / process.world_size) / rank_batch)

    estimate = Estimate(
        read_seconds=read_seconds,
        costs=tuple(costs),
        passes=tuple(tuple(p) for p in passes),
        workers=workers,
        world_size=process.world_size,
        rank_batch=rank_batch,
        steps_per_epoch=steps(sizes["train"]),
        validation_steps=steps(sizes["validation"]),
        test_steps=math.ceil(sizes["test"] / template.batch_size),
        epochs=template.epochs,
    )
    shape = {
        "device": performance.describe(),
        "world_size": process.world_size,
        "batch_size": template.batch_size,
        "sizes": sizes,
        "split": split.name,
        "steps_per_epoch": estimate.steps_per_epoch,
        "epochs": template.epochs,
    }
    plan = {
        "models": [c.name for c in configs],
        **shape,
        "precision": {"training": performance.precision},
        "estimate": estimate.to_json(),
    }
    if process.is_main:
        for line in plan_lines(shape, plan["models"]) + estimate.lines(process.device):
            tqdm.write(line)
    if process.is_main and write:
        output.mkdir(parents=True, exist_ok=True)
        (output / PLAN).write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    return plan


def _export(config: TrainConfig, score_precision: str) -> ExportResult:
    folder = config.output_dir.parent.parent / "export" / config.name
    workers = config.workers if config.workers is not None else default_workers(1)
    return export_run(
        config.output_dir,
        folder,
        batch_size=config.batch_size,
        workers=workers,
        device=config.device,
        precision=score_precision,
        progress=config.progress,
    )
