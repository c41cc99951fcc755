"""Training a group of models on one pass over the data (``train``: a group of one), resumable, DDP.

Each member steps on its own bands and target of every batch with its own Adam state and early stopping,
and writes ``run.json``, ``metrics.jsonl`` and ``best.pt`` (rank 0); the group's ``last.pt`` resumes a
killed run bit for bit (docs/training.md)."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from sen12ms_models._progress import Progress
from sen12ms_models.bands import MODALITIES, modality_bands
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import Split, make_split
from sen12ms_models.datasets.store import Batch, PreparedStore, StoreDataset, make_batches, open_store
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.labels import label_target
from sen12ms_models.models.api import build_model, load_checkpoint
from sen12ms_models.training.checkpoint import BEST, LAST, save_checkpoint
from sen12ms_models.training.config import RESULT_FIELDS, TrainConfig, default_workers
from sen12ms_models.training.distributed import Performance, Process, all_reduce_sum, broadcast_buffers, session
from sen12ms_models.training.evaluation import evaluation_loader, score_models
from sen12ms_models.training.metrics import Scores
from sen12ms_models.weights import get_weights

logger = logging.getLogger(__name__)

METRICS_LOG, RUN_RECORD = "metrics.jsonl", "run.json"
#: Config fields a group's members may differ in; every other one is the group's.
MEMBER_FIELDS = ("arch", "modality", "label_type", "output_dir")


class ResumableSampler(DistributedSampler):
    """torch's ``DistributedSampler`` (order from ``seed + epoch``; ``ceil(n / world)`` samples per rank,
    padded) whose epoch can skip the samples a killed run already trained on."""

    def __init__(self, dataset: Sized, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)  # type: ignore[arg-type]
        self.skip = 0

    def start_epoch(self, epoch: int, skip: int = 0) -> None:
        """Shuffle for ``epoch`` and leave out this rank's first ``skip`` samples of it."""
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return self.num_samples - self.skip


def covering_modality(modalities: Sequence[str]) -> str:
    """The modality with the fewest bands that holds every band of ``modalities``."""
    needed = {band for modality in modalities for band in modality_bands(modality)}
    return min((m for m in MODALITIES if needed <= set(modality_bands(m))), key=lambda m: len(modality_bands(m)))


def group_dataset(
    index: Sen12msIndex,
    patches: Sequence[PatchId],
    modalities: Sequence[str],
    label_types: Sequence[str],
    store: PreparedStore | None = None,
) -> Sen12msDataset:
    """Items of ``covering_modality(modalities)`` from ``store`` if given, else the GeoTIFFs; their
    ``shares`` give each member its target (``Member.part``)."""
    args = (patches, covering_modality(modalities), label_types[0])
    return Sen12msDataset(index, *args) if store is None else StoreDataset(store, *args)


def to_device(batch: Batch, device: torch.device) -> Batch:
    """The tensors of a batch on ``device`` (non-blocking)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def load_split(config: TrainConfig) -> tuple[Sen12msIndex, Split, PreparedStore | None]:
    """The index of ``config.data_dir`` (of ``config.store`` if given), its split and the store; ``ValueError``
    for a store of another tree or a split without training or validation patches."""
    store = open_store(config.store) if config.store else None
    if store is not None and os.path.realpath(store.source) != os.path.realpath(config.data_dir):
        raise ValueError(
            f"the store {store.path} holds the SEN12MS tree {store.source}, not the data dir {config.data_dir}: "
            f"give --data-dir {store.source} with this store (the run records it, and export scores on it)"
        )
    index = store.index(config.data_dir) if store is not None else Sen12msIndex.scan(config.data_dir)
    split = make_split(index, config.split, seed=config.split_seed, num_validation_scenes=config.num_validation_scenes)
    where = f"split {config.split!r} of {config.data_dir}"
    if not split.train:
        raise ValueError(f"{where} has no training patch")
    if not split.validation:
        raise ValueError(
            f"{where} has no validation patch: none of its validation scenes "
            f"({', '.join(map(str, split.validation_scenes[:3]))}, ...) is there; use --split random for a partial tree"
        )
    return index, split, store


def run_shape(
    configs: Sequence[TrainConfig], split: Split, process: Process, performance: Performance
) -> dict[str, Any]:
    """What a group run is: models, device and precision, processes, batches, split sizes, steps."""
    config, rank_batch = configs[0], configs[0].batch_size // process.world_size
    return {
        "models": [c.name for c in configs],
        "performance": {
            "device": str(performance.device),
            "precision": performance.precision,
            "channels_last": performance.channels_last,
        },
        "world_size": process.world_size,
        "batch_size": config.batch_size,
        "batch_per_process": rank_batch,
        "split": split.name,
        "sizes": split.describe()["sizes"],
        "steps_per_epoch": math.ceil(math.ceil(len(split.train) / process.world_size) / rank_batch),
        "epochs": config.epochs,
    }


def plan_lines(shape: dict[str, Any]) -> list[str]:
    """A ``run_shape`` as log lines."""
    device, sizes, names = shape["performance"], shape["sizes"], shape["models"]
    return [
        f"plan: {len(names)} model(s): {', '.join(names)}",
        f"plan: device {device['device']} ({device['precision']}), {shape['world_size']} process(es), "
        f"global batch {shape['batch_size']}",
        f"plan: split {shape['split']}: train {sizes['train']}, validation {sizes['validation']}, "
        f"test {sizes['test']} patches; {shape['steps_per_epoch']} steps per epoch, up to {shape['epochs']} epochs",
    ]


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    dataset: Sen12msDataset,
    batch: Batch,
    performance: Performance,
) -> torch.Tensor:
    """One optimizer step on a batch of raw bands (standardized on the device, forward pass under
    ``performance``, loss in float32); returns the loss, on the device, not read back."""
    x = dataset.to_input(batch, performance.device, performance.memory_format)
    target = batch["target"].to(performance.device, non_blocking=True)
    with performance.autocast():
        logits = model(x)
    loss = criterion(logits.float(), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@dataclass(frozen=True)
class TrainResult:
    """A model's run folder, epochs done, best epoch (1-based) and its validation micro F1;
    ``is_main``: False on the other ranks of a DDP run (which wrote nothing)."""

    output_dir: Path
    epochs_done: int
    best_epoch: int | None
    best_f1_micro: float | None
    is_main: bool = True


@dataclass
class MemberProgress:
    """Where one model stands; saved in the group's ``last.pt``."""

    epochs_done: int = 0
    global_step: int = 0
    best_epoch: int | None = None
    best_f1_micro: float | None = None
    epochs_without_improvement: int = 0


class Member:
    """One model of a group, built exactly as a run of it alone would build it."""

    def __init__(self, config: TrainConfig, data: Sen12msDataset, process: Process, performance: Performance) -> None:
        self.config, self.name = config, config.name
        # never read: its to_input takes this model's bands out of the group's batches
        self.dataset = Sen12msDataset(data.index, data.patches, config.modality, config.label_type)
        self.dataset.transform = self.dataset.transform.replace(s2_bands=data.transform.s2_bands)
        torch.manual_seed(config.seed)
        self.model = build_model(config.arch, get_weights(config.name).in_chans)
        self.model.to(performance.device).to(memory_format=performance.memory_format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.criterion = nn.BCEWithLogitsLoss() if config.label_type == "multi" else nn.CrossEntropyLoss()
        self.progress = MemberProgress()
        self.history: list[dict[str, Any]] = []  # the metrics log's records
        #: Loss sum and samples of the epoch in progress, on the device.
        self.loss_sum = torch.zeros(2, dtype=torch.float64, device=performance.device)
        self.stepped: nn.Module = self.model
        if process.distributed:
            device_ids = [process.device.index] if process.device.type == "cuda" else None
            self.stepped = DistributedDataParallel(self.model, device_ids=device_ids)
        if config.compile:
            self.stepped = cast(nn.Module, torch.compile(self.stepped))

    def part(self, batch: Batch) -> Batch:
        """A group batch with this model's ``target`` (from the batch's ``shares``)."""
        return {**batch, "target": label_target(batch["shares"], self.config.label_type)}

    def active(self) -> bool:
        patience, progress = self.config.patience, self.progress
        stopped = patience is not None and progress.epochs_without_improvement >= patience
        return progress.epochs_done < self.config.epochs and not stopped

    def step(self, batch: Batch, performance: Performance) -> None:
        part = self.part(batch)
        loss = train_step(self.stepped, self.optimizer, self.criterion, self.dataset, part, performance)
        self.loss_sum[0] += loss.double() * len(part["target"])
        self.loss_sum[1] += len(part["target"])
        self.progress.global_step += 1

    def end_epoch(self, scores: Scores, steps: int, train_loss: torch.Tensor, seconds: float, write: bool) -> None:
        """Record an epoch's validation scores; with ``write`` (rank 0), write the files and log the epoch."""
        progress = self.progress
        progress.epochs_done += 1
        improved = progress.best_f1_micro is None or scores.f1_micro > progress.best_f1_micro
        if improved:
            progress.best_epoch, progress.best_f1_micro = progress.epochs_done, scores.f1_micro
        progress.epochs_without_improvement = 0 if improved else progress.epochs_without_improvement + 1
        self.loss_sum = torch.zeros_like(self.loss_sum)
        loss = float(train_loss[0] / train_loss[1])
        self.history.append(
            {
                "epoch": progress.epochs_done,
                "steps": steps,
                "global_step": progress.global_step,
                "train_samples": int(train_loss[1]),
                "train_loss": loss,
                "validation": scores.to_json(),
                "best_epoch": progress.best_epoch,
                "seconds": round(seconds, 3),
            }
        )
        if write:
            self.write(improved)
            logger.info(
                f"{self.name} epoch {progress.epochs_done}: train loss {loss:.4f}, validation micro F1 "
                f"{scores.f1_micro:.4f} (best epoch {progress.best_epoch}), {seconds:.1f}s"
            )

    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "progress": dict(vars(self.progress)),
            "partial_loss": self.loss_sum.cpu(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
        }

    def restore(self, state: dict[str, Any], process: Process) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = MemberProgress(**state["progress"])
        self.history = state["history"]
        if process.is_main:  # rank 0 carries every rank's share of the sums (_save_last)
            self.loss_sum = state["partial_loss"].to(self.loss_sum.device)

    def write(self, best: bool) -> None:
        """Rewrite ``metrics.jsonl`` (an epoch redone after a kill appears once) and, if ``best``, ``best.pt``."""
        if best:
            state = {"config": self.config.to_json(), "epoch": self.progress.epochs_done}
            state |= {"model": self.model.state_dict(), "validation": self.history[-1]["validation"]}
            save_checkpoint(self.config.output_dir / BEST, state)
        lines = "".join(json.dumps(record) + "\n" for record in self.history)
        (self.config.output_dir / METRICS_LOG).write_text(lines, encoding="utf-8")


def train(config: TrainConfig) -> TrainResult:
    """Train ``config``'s model into ``config.output_dir`` (a group of one; see ``train_group``).

    Args:
        config: the model, data, recipe and run folder (``TrainConfig``).

    Returns:
        The run: its folder, best epoch and validation scores (``TrainResult``).

    Raises:
        ValueError: a folder holding a run without ``resume``, a resume with another recipe, a store
            of another tree, an empty split, a batch not divisible by the processes.
    """
    return train_group([config], config.output_dir / LAST)[0]


def train_group(
    configs: Sequence[TrainConfig], state_path: Path, process: Process | None = None, *, announce: bool = True
) -> list[TrainResult]:
    """Train ``configs`` (differing only in ``MEMBER_FIELDS``) together, one pass over the data per epoch,
    resumable from ``state_path`` (the group's ``last.pt``), in ``process`` (default: a ``session`` of its own)."""
    with contextlib.nullcontext(process) if process else session(configs[0].device, configs[0].deterministic) as held:
        return _GroupRun(configs, state_path, held).run(announce)


@dataclass
class _Position:
    """Where the group stands in the data; saved in ``last.pt``."""

    epochs_done: int = 0
    batches_done: int = 0  # within the epoch in progress
    global_step: int = 0


class _GroupRun:
    """One process's part of a group run; rank 0 also writes the files."""

    def __init__(self, configs: Sequence[TrainConfig], state_path: Path, process: Process) -> None:
        names = [c.name for c in configs]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a training group names one model or more, each once, got {names}")
        shared = {k: v for k, v in configs[0].to_json().items() if k not in MEMBER_FIELDS}
        for other in configs[1:]:
            if differ := [k for k, v in other.to_json().items() if k not in MEMBER_FIELDS and shared[k] != v]:
                raise ValueError(f"{other.name} differs from {names[0]} in {differ}: a group shares all but the model")
        config = self.config = configs[0]
        if config.batch_size % process.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} (global) must be divisible by the {process.world_size} processes"
            )
        self.state_path, self.process = state_path, process
        self.performance = Performance.choose(process.device, config.precision, config.channels_last)
        index, self.split, store = load_split(config)
        self.shape = run_shape(configs, self.split, process, self.performance)
        self.rank_batch = self.shape["batch_per_process"]
        modalities, label_types = [c.modality for c in configs], [c.label_type for c in configs]
        train_set = group_dataset(index, self.split.train, modalities, label_types, store)
        val_set = group_dataset(index, self.split.validation, modalities, label_types, store)
        self.workers = default_workers(process.world_size, config.workers)
        self.sampler = ResumableSampler(train_set, process.world_size, process.rank, config.seed)
        self.train_loader = make_batches(train_set, self.sampler, self.rank_batch, self.workers, process.device)
        self.val_loader = evaluation_loader(val_set, self.rank_batch, self.workers, process)
        self.members = [Member(c, train_set, process, self.performance) for c in configs]
        self.position = _Position()
        if state_path.exists():
            self._restore()

    def _restore(self) -> None:
        path = self.state_path
        if not self.config.resume:
            raise ValueError(
                f"{path.parent} already holds a run ({path}); pass --resume to continue it, or another --output-dir"
            )
        state = load_checkpoint(path)
        then = _settings({name: member["config"] for name, member in state["members"].items()}, state["world_size"])
        now = _settings({m.name: m.config.to_json() for m in self.members}, self.process.world_size)
        if mismatches := [f"{k}: checkpoint {then[k]!r}, now {now[k]!r}" for k in now if then.get(k, now[k]) != now[k]]:
            raise ValueError(f"cannot resume {path} with different settings: " + "; ".join(mismatches))
        for member in self.members:
            member.restore(state["members"][member.name], self.process)
        self.position = _Position(**state["progress"])
        torch.set_rng_state(state["rng"]["torch"])
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def run(self, announce: bool) -> list[TrainResult]:
        position, process, shape = self.position, self.process, self.shape
        if process.is_main:
            resumed = {"epoch": position.epochs_done + 1, "batch": position.batches_done}
            facts = {
                "split": {**self.split.describe(), "train_scenes": sorted({str(p.scene_id) for p in self.split.train})},
                "group": shape["models"],
                **{k: shape[k] for k in ("world_size", "batch_per_process", "steps_per_epoch", "performance")},
                "workers_per_process": self.workers,
                "precision": dict.fromkeys(("training", "validation"), self.performance.precision),
                "resumed_at": resumed if position.global_step else None,
                "versions": {"sen12ms_models": version("sen12ms-models"), "torch": torch.__version__},
            }
            for member in self.members:
                record = {"model": member.name, "config": member.config.to_json(), **facts}
                member.config.output_dir.mkdir(parents=True, exist_ok=True)
                (member.config.output_dir / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n", "utf-8")
                member.write(best=False)
            if announce:
                for line in plan_lines({**shape, "models": [m.name for m in self.members if m.active()]}):
                    logger.info(line)
        with self.performance.arithmetic():
            while active := [m for m in self.members if m.active()]:
                self._epoch(active)
        done = [(m.config.output_dir, m.progress) for m in self.members]
        return [TrainResult(d, p.epochs_done, p.best_epoch, p.best_f1_micro, process.is_main) for d, p in done]

    def _epoch(self, active: list[Member]) -> None:
        """Train the rest of the current epoch, validate, and (rank 0) write the files."""
        position, process, config = self.position, self.process, self.config
        started, steps, every = time.perf_counter(), self.shape["steps_per_epoch"], config.checkpoint_every
        self.sampler.start_epoch(position.epochs_done, skip=position.batches_done * self.rank_batch)
        for member in active:
            member.stepped.train()
        with Progress(
            steps,
            f"epoch {position.epochs_done + 1}/{config.epochs}",
            "step",
            enabled=process.progress(config.progress),
            log_every=config.log_every,
            per_step=config.batch_size,
            rate_unit="images",
            initial=position.batches_done,
        ) as shown:
            for batch in self.train_loader:
                on_device = to_device(batch, process.device)
                for member in active:
                    member.step(on_device, self.performance)
                position.batches_done += 1
                position.global_step += 1
                shown.update(
                    postfix=lambda: "loss " + "/".join(f"{float(m.loss_sum[0] / m.loss_sum[1]):.4f}" for m in active)
                )
                if every and position.global_step % every == 0 and position.batches_done < steps:
                    self._save_last(active)
        losses = [all_reduce_sum(m.loss_sum, process).cpu() for m in active]
        for member in active:
            broadcast_buffers(member.model, process)
        scored = [(m.model, m.dataset) for m in active]
        scores = score_models(scored, self.val_loader, process, self.performance, config.progress)
        done, seconds = position.batches_done, time.perf_counter() - started
        position.epochs_done, position.batches_done = position.epochs_done + 1, 0
        for member, member_scores, loss in zip(active, scores, losses, strict=True):
            member.end_epoch(member_scores, done, loss, seconds, write=process.is_main)
        self._save_last(active)  # after the files: a run killed in between redoes the epoch

    def _save_last(self, active: list[Member]) -> None:
        """Save ``last.pt`` (rank 0), once rank 0 carries every rank's loss sums of the epoch in progress."""
        for member in active:
            all_reduce_sum(member.loss_sum, self.process)
            if not self.process.is_main:
                member.loss_sum.zero_()
        if self.process.is_main:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            members = {m.name: m.state() for m in self.members}
            # the only RNG training draws from: the sampler and the loader's workers have generators of their own
            rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all()}
            state = {"world_size": self.process.world_size, "progress": dict(vars(self.position)), "rng": rng}
            save_checkpoint(self.state_path, {**state, "members": members})


def _settings(configs: dict[str, dict[str, Any]], world_size: int) -> dict[str, Any]:
    """What a resume must match: the models, the processes and each model's ``RESULT_FIELDS``."""
    fields = {f"{name} {k}": config.get(k) for name, config in configs.items() for k in RESULT_FIELDS}
    return {"models": sorted(configs), "processes": world_size} | fields
