"""The training loop: the paper's recipe for a group of models on one pass over the data.

Each batch is read once (the bands of every member's modality, ``group_data``) and every
member still training steps on its own channels of it; validation scores them all on one
pass too. Each member keeps its own Adam state, best epoch and early stopping, and writes its
own files (``member``). ``train`` is a group of one, ``train_group`` any group; both run as
one process or under ``torchrun`` (DDP).

The group's ``last.pt`` (after each epoch, and every ``checkpoint_every`` steps) holds the
shared position (epochs done, step within the epoch), every RNG state and each member's
state. Resuming restores all of it and replays the sampler's order from the same position,
so a killed and resumed group ends with the weights of an uninterrupted one (bitwise on CPU
with ``deterministic=True``), and each member with the weights of a run of it alone.

>>> result = train(TrainConfig("/data/SEN12MS", "runs/r50-s1s2", arch="resnet50", modality="s1s2"))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from sen12ms_models.datasets.loader import make_batches
from sen12ms_models.datasets.splits import Split, make_split
from sen12ms_models.datasets.store import open_store
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.training.checkpoint import LAST, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sen12ms_models.training.config import TrainConfig, default_workers
from sen12ms_models.training.distributed import Process, all_reduce_sum, broadcast_buffers, start, stop
from sen12ms_models.training.evaluation import evaluation_loader, score_models
from sen12ms_models.training.group_data import group_dataset, to_device
from sen12ms_models.training.member import METRICS_LOG, RUN_RECORD, Member, TrainResult, train_step
from sen12ms_models.training.performance import Performance, configure_backends
from sen12ms_models.training.plan import plan_lines
from sen12ms_models.training.sampling import ResumableSampler
from sen12ms_models.training.step_log import StepLog, wants_log_lines

__all__ = ["METRICS_LOG", "RUN_RECORD", "TrainResult", "load_split", "run_group", "train", "train_group", "train_step"]

#: Config fields a group's members may differ in; every other one is the group's.
MEMBER_FIELDS = ("arch", "modality", "label_type", "output_dir")


@dataclass
class _Progress:
    """Where the group stands in the data; saved in ``last.pt`` and restored from it."""

    epochs_done: int = 0
    batches_done: int = 0  # within the epoch in progress
    global_step: int = 0


def train(config: TrainConfig) -> TrainResult:
    """Train ``config``'s model (see the module docstring); returns where the best epoch is.

    Files: ``run.json``, ``metrics.jsonl``, ``best.pt`` and ``last.pt`` in ``config.output_dir``.
    """
    return train_group([config], config.output_dir / LAST)[0]


def train_group(configs: Sequence[TrainConfig], state_path: Path) -> list[TrainResult]:
    """Train the models of ``configs`` together, one pass over the data per epoch; ``state_path`` is
    the group's ``last.pt``. The configs may differ only in ``MEMBER_FIELDS``; ``ValueError`` otherwise.
    """
    process = start(configs[0].device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return run_group(configs, state_path, process)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        stop(process)


def run_group(
    configs: Sequence[TrainConfig], state_path: Path, process: Process, announce: bool = True
) -> list[TrainResult]:
    """``train_group`` in a process (group) that the caller started and will stop; ``announce``
    prints the plan (models, device, split sizes, steps per epoch) first."""
    return _GroupRun(configs, state_path, process).run(announce)


def load_split(config: TrainConfig) -> tuple[Sen12msIndex, Split]:
    """Index ``config.data_dir`` and split it as ``config`` says; refuses an empty train/validation set."""
    index = open_store(config.store).index(config.data_dir) if config.store else Sen12msIndex.scan(config.data_dir)
    split = make_split(index, config.split, seed=config.split_seed, num_validation_scenes=config.num_validation_scenes)
    if not split.train:
        raise ValueError(f"split {config.split!r} of {config.data_dir} has no training patch")
    if not split.validation:
        raise ValueError(
            f"split {config.split!r} of {config.data_dir} has no validation patch: none of its validation scenes "
            f"({', '.join(map(str, split.validation_scenes[:3]))}, ...) is there; use --split random for a partial tree"
        )
    return index, split


def check_group(configs: Sequence[TrainConfig]) -> None:
    """``ValueError`` unless ``configs`` name distinct models that share every other setting."""
    if not configs:
        raise ValueError("a training group needs at least one model")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"a training group names each model once, got {names}")
    shared = {k: v for k, v in configs[0].to_json().items() if k not in MEMBER_FIELDS}
    for config in configs[1:]:
        differ = [k for k, v in config.to_json().items() if k not in MEMBER_FIELDS and shared[k] != v]
        if differ:
            raise ValueError(f"{config.name} differs from {names[0]} in {differ}: a group shares all but the model")


class _GroupRun:
    """One process's part of a group run; rank 0 also writes the files."""

    def __init__(self, configs: Sequence[TrainConfig], state_path: Path, process: Process) -> None:
        check_group(configs)
        self.config, self.state_path, self.process = configs[0], state_path, process
        config = self.config
        configure_backends(process.device, config.deterministic)
        self.performance = Performance.choose(process.device, config.precision, config.channels_last)
        if config.batch_size % process.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} (global) must be divisible by the {process.world_size} processes"
            )
        self.rank_batch = config.batch_size // process.world_size
        self.index, self.split = load_split(config)
        modalities, label_types = [c.modality for c in configs], [c.label_type for c in configs]
        store = open_store(config.store) if config.store else None
        self.train_set = group_dataset(self.index, self.split.train, modalities, label_types, store)
        self.val_set = group_dataset(self.index, self.split.validation, modalities, label_types, store)
        self.workers = config.workers if config.workers is not None else default_workers(process.world_size)
        self.sampler = ResumableSampler(self.train_set, process.world_size, process.rank, config.seed)
        self.train_loader = make_batches(self.train_set, self.sampler, self.rank_batch, self.workers, process.device)
        self.val_loader = evaluation_loader(self.val_set, self.rank_batch, self.workers, process)
        self.steps_per_epoch = math.ceil(self.sampler.num_samples / self.rank_batch)
        self.members = [Member(c, self.train_set, process, self.performance) for c in configs]
        self.progress = _Progress()
        self._restore()
        for member in self.members:
            member.wrap(process)

    def _restore(self) -> None:
        path = self.state_path
        if not path.exists():
            return
        if not self.config.resume:
            raise ValueError(
                f"{path.parent} already holds a run ({path}); pass --resume to continue it "
                "or choose another --output-dir"
            )
        state = load_checkpoint(path)
        if "members" not in state:
            raise ValueError(f"{path} was written by an older sen12ms-models (one model per file); start a new run")
        saved = state["members"]
        mismatches = []
        if sorted(saved) != sorted(m.name for m in self.members):
            mismatches.append(f"models: checkpoint {sorted(saved)}, now {sorted(m.name for m in self.members)}")
        else:
            mismatches += [
                f"{m.name} {d}" for m in self.members for d in m.config.result_mismatches(saved[m.name]["config"])
            ]
        if state["world_size"] != self.process.world_size:
            mismatches.append(f"processes: checkpoint {state['world_size']}, now {self.process.world_size}")
        if mismatches:
            raise ValueError(f"cannot resume {path} with different settings: " + "; ".join(mismatches))
        for member in self.members:
            member.restore(saved[member.name], self.process)
        self.progress = _Progress(**state["progress"])
        set_rng_state(state["rng"])

    # -- the loop -------------------------------------------------------------------------
    def run(self, announce: bool) -> list[TrainResult]:
        progress, process = self.progress, self.process
        if process.is_main:
            facts = {
                "group": [m.name for m in self.members],
                "world_size": process.world_size,
                "batch_per_process": self.rank_batch,
                "steps_per_epoch": self.steps_per_epoch,
                "workers_per_process": self.workers,
                "performance": self.performance.describe(),
                "precision": {"training": self.performance.precision, "validation": self.performance.precision},
            }
            resumed = {"epoch": progress.epochs_done + 1, "batch": progress.batches_done}
            for member in self.members:
                member.write_run_record(self.split, facts, resumed if progress.global_step else None)
                member.write_log()
            if announce:
                for line in plan_lines(self._shape(), [m.name for m in self.members if m.active()]):
                    tqdm.write(line)
        while active := [m for m in self.members if m.active()]:
            started = time.perf_counter()
            steps = self._train_epoch(active)
            losses = [all_reduce_sum(m.loss_sum.to(process.device, copy=True), process).cpu() for m in active]
            for member in active:
                broadcast_buffers(member.model, process)
            scored = [(m.model, m.dataset, m.view) for m in active]
            scores = score_models(scored, self.val_loader, process, self.performance, self.config.progress)
            progress.epochs_done += 1
            progress.batches_done = 0
            seconds = time.perf_counter() - started
            improved = [m.end_epoch(s, steps, loss, seconds) for m, s, loss in zip(active, scores, losses, strict=True)]
            if process.is_main:
                for member, better in zip(active, improved, strict=True):
                    if better:
                        member.save_best()
                self._save_last()
                for member in active:
                    member.write_log()
                    self._report(member)
        return [m.result(process.is_main) for m in self.members]

    def _shape(self) -> dict[str, object]:
        return {
            "device": self.performance.describe(),
            "world_size": self.process.world_size,
            "batch_size": self.config.batch_size,
            "sizes": self.split.describe()["sizes"],
            "split": self.split.name,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.config.epochs,
        }

    def _train_epoch(self, active: list[Member]) -> int:
        """Train the rest of the current epoch; returns the optimizer steps taken in it in all."""
        progress, device = self.progress, self.process.device
        self.sampler.start_epoch(progress.epochs_done, skip=progress.batches_done * self.rank_batch)
        for member in active:
            member.step_model.train()
            member.loss_sum = member.partial_loss.to(device, copy=True)
        label = f"epoch {progress.epochs_done + 1}/{self.config.epochs}"
        bar = tqdm(
            self.train_loader,
            desc=label,
            initial=progress.batches_done,
            total=self.steps_per_epoch,
            disable=self.process.bar_disabled(self.config.progress),
        )
        enabled = wants_log_lines(self.config.log_every, self.process.is_main, self.config.progress)
        log = StepLog(label, self.steps_per_epoch, self.config.log_every, self.config.batch_size, enabled)
        for batch in bar:
            on_device = to_device(batch, device)
            for member in active:
                member.step(on_device, self.performance)
            progress.batches_done += 1
            progress.global_step += 1
            if progress.batches_done % 25 == 0 and not bar.disable:
                bar.set_postfix(loss=_mean_losses(active), refresh=False)
            log.step(progress.batches_done, lambda: _mean_losses(active))
            every = self.config.checkpoint_every
            if every and progress.global_step % every == 0 and progress.batches_done < self.steps_per_epoch:
                self._checkpoint_mid_epoch(active)
        bar.close()
        for member in active:
            member.partial_loss = member.loss_sum.cpu()
        return progress.batches_done

    def _checkpoint_mid_epoch(self, active: list[Member]) -> None:
        """Save ``last.pt`` inside an epoch; the epoch's loss sums move to rank 0 first."""
        for member in active:
            all_reduce_sum(member.loss_sum, self.process)
            if self.process.is_main:
                member.partial_loss = member.loss_sum.to("cpu", copy=True)
            else:
                member.loss_sum.zero_()  # rank 0 now carries this rank's share of the sums
        if self.process.is_main:
            self._save_last()

    # -- files (rank 0) -------------------------------------------------------------------
    def _save_last(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(
            self.state_path,
            {
                "world_size": self.process.world_size,
                "progress": dict(vars(self.progress)),
                "rng": rng_state(),
                "members": {m.name: m.state() for m in self.members},
            },
        )

    def _report(self, member: Member) -> None:
        record = member.history[-1]
        tqdm.write(
            f"{member.name} epoch {record['epoch']}: train loss {record['train_loss']:.4f}, validation micro F1 "
            f"{record['validation']['f1_micro']:.4f} (best epoch {record['best_epoch']}), {record['seconds']:.1f}s"
        )


def _mean_losses(members: list[Member]) -> str:
    """The epoch's running mean loss of each member, ``/``-separated (reads them back: a sync)."""
    return "/".join(f"{float(m.loss_sum[0] / m.loss_sum[1]):.4f}" for m in members)
