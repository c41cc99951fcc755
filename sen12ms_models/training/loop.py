"""The training loop: the paper's recipe, one process or DDP, resumable after a kill.

A run writes into its output folder (rank 0 only):

- ``run.json``: the config, the split (``Split.describe()`` plus the training scenes), the
  process count, device and speed settings, versions;
- ``metrics.jsonl``: one JSON line per epoch (steps, train loss, every validation score);
- ``last.pt``: the state to resume from (after each epoch, and every ``checkpoint_every``
  steps): model, optimizer, epoch and step within it, best score so far, RNG states;
- ``best.pt``: the weights of the epoch with the best validation micro F1 (``export`` input).

Resuming restores all of it and replays the sampler's order from the same position, so a
killed and resumed run ends with the weights of an uninterrupted one (bitwise on CPU with
``deterministic=True``).

>>> result = train(TrainConfig("/data/SEN12MS", "runs/r50-s1s2", arch="resnet50", modality="s1s2"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from sen12ms_models import __version__
from sen12ms_models.datasets.loader import make_batches, make_dataset
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import Split, make_split
from sen12ms_models.datasets.store import open_store
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.spec import get_weights
from sen12ms_models.training.checkpoint import BEST, LAST, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sen12ms_models.training.config import TrainConfig, default_workers
from sen12ms_models.training.distributed import Process, all_reduce_sum, broadcast_buffers, start, stop
from sen12ms_models.training.evaluation import evaluation_loader, score_loader
from sen12ms_models.training.metrics import Scores
from sen12ms_models.training.performance import Performance, configure_backends
from sen12ms_models.training.sampling import ResumableSampler

METRICS_LOG = "metrics.jsonl"
RUN_RECORD = "run.json"


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left: its folder, epochs done, the best epoch (1-based) and score.

    ``is_main`` is False on the other ranks of a DDP run (same values; they wrote nothing).
    """

    output_dir: Path
    epochs_done: int
    best_epoch: int | None
    best_f1_micro: float | None
    is_main: bool = True


@dataclass
class _Progress:
    """Where a run stands; saved in ``last.pt`` and restored from it."""

    epochs_done: int = 0
    batches_done: int = 0  # within the epoch in progress
    global_step: int = 0
    best_epoch: int | None = None
    best_f1_micro: float | None = None
    epochs_without_improvement: int = 0


def train(config: TrainConfig) -> TrainResult:
    """Train ``config``'s model (see the module docstring); returns where the best epoch is."""
    process = start(config.device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _Run(config, process).run()
    finally:
        torch.use_deterministic_algorithms(deterministic)
        stop(process)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    dataset: Sen12msDataset,
    batch: dict[str, Any],
    performance: Performance,
) -> torch.Tensor:
    """One optimizer step on a collated ``batch`` of raw bands; returns the (device) batch loss.

    The raw bands are standardized on the device, the forward pass runs under the chosen
    autocast and memory format, the loss in float32; the loss is not read back (no ``.item()``).
    """
    x = dataset.to_input(batch, performance.device, performance.memory_format)
    target = batch["target"].to(performance.device, non_blocking=True)
    with performance.autocast():
        logits = model(x)
    loss = criterion(logits.float(), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


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


class _Run:
    """One process's part of a run; rank 0 also writes the files."""

    def __init__(self, config: TrainConfig, process: Process) -> None:
        self.config, self.process = config, process
        configure_backends(process.device, config.deterministic)
        self.performance = Performance.choose(process.device, config.precision, config.channels_last)
        if config.batch_size % process.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} (global) must be divisible by the {process.world_size} processes"
            )
        self.rank_batch = config.batch_size // process.world_size
        self.index, self.split = load_split(config)
        store = open_store(config.store) if config.store else None
        self.train_set = make_dataset(self.index, self.split.train, config.modality, config.label_type, store)
        self.val_set = make_dataset(self.index, self.split.validation, config.modality, config.label_type, store)
        self.workers = config.workers if config.workers is not None else default_workers(process.world_size)
        self.sampler = ResumableSampler(self.train_set, process.world_size, process.rank, config.seed)
        self.train_loader = make_batches(self.train_set, self.sampler, self.rank_batch, self.workers, process.device)
        self.val_loader = evaluation_loader(self.val_set, self.rank_batch, self.workers, process)
        self.steps_per_epoch = math.ceil(self.sampler.num_samples / self.rank_batch)

        spec = get_weights(config.arch, config.modality, config.label_type)
        torch.manual_seed(config.seed)
        self.model: Sen12msClassifier = build_model(config.arch, spec.in_chans, spec.num_classes)
        self.model.to(process.device).to(memory_format=self.performance.memory_format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.criterion: nn.Module = nn.BCEWithLogitsLoss() if config.label_type == "multi" else nn.CrossEntropyLoss()
        self.progress = _Progress()
        self.partial_loss = torch.zeros(2, dtype=torch.float64)  # loss sum, samples of the epoch in progress
        self.history: list[dict[str, Any]] = []  # the metrics log's records, kept in last.pt
        self._restore()
        self.step_model: nn.Module = self.model
        if process.distributed:
            device_ids = [process.device.index] if process.device.type == "cuda" else None
            self.step_model = DistributedDataParallel(self.model, device_ids=device_ids)
        if config.compile:
            self.step_model = cast(nn.Module, torch.compile(self.step_model))

    # -- resume ---------------------------------------------------------------------------
    def _restore(self) -> None:
        path = self.config.output_dir / LAST
        if not path.exists():
            return
        if not self.config.resume:
            raise ValueError(
                f"{self.config.output_dir} already holds a run ({path}); pass --resume to continue it "
                "or choose another --output-dir"
            )
        state = load_checkpoint(path)
        mismatches = self.config.result_mismatches(state["config"])
        if state["world_size"] != self.process.world_size:
            mismatches.append(f"processes: checkpoint {state['world_size']}, now {self.process.world_size}")
        if mismatches:
            raise ValueError(f"cannot resume {path} with different settings: " + "; ".join(mismatches))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = _Progress(**state["progress"])
        self.history = state["history"]
        if self.process.is_main:
            self.partial_loss = state["partial_loss"].clone()
        set_rng_state(state["rng"])

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> TrainResult:
        if self.process.is_main:
            self.config.output_dir.mkdir(parents=True, exist_ok=True)
            self._write_run_record()
            # The log is rewritten from the checkpoint, so epochs redone after a kill appear once.
            (self.config.output_dir / METRICS_LOG).write_text(
                "".join(json.dumps(record) + "\n" for record in self.history), encoding="utf-8"
            )
        progress = self.progress
        while progress.epochs_done < self.config.epochs and not self._patience_exhausted():
            started = time.perf_counter()
            steps = self._train_epoch()
            train_loss = all_reduce_sum(self.partial_loss.to(self.process.device, copy=True), self.process).cpu()
            broadcast_buffers(self.model, self.process)
            scores = score_loader(
                self.model, self.val_set, self.val_loader, self.process, self.performance, self.config.progress
            )
            progress.epochs_done += 1
            progress.batches_done = 0
            improved = progress.best_f1_micro is None or scores.f1_micro > progress.best_f1_micro
            if improved:
                progress.best_epoch, progress.best_f1_micro = progress.epochs_done, scores.f1_micro
                progress.epochs_without_improvement = 0
            else:
                progress.epochs_without_improvement += 1
            self.partial_loss.zero_()
            record = {
                "epoch": progress.epochs_done,
                "steps": steps,
                "global_step": progress.global_step,
                "train_samples": int(train_loss[1]),
                "train_loss": float(train_loss[0] / train_loss[1]),
                "validation": scores.to_json(),
                "best_epoch": progress.best_epoch,
                "seconds": round(time.perf_counter() - started, 3),
            }
            self.history.append(record)
            if self.process.is_main:
                if improved:
                    self._save_best(scores)
                self._save_last()
                self._log(record)
        return TrainResult(
            self.config.output_dir,
            progress.epochs_done,
            progress.best_epoch,
            progress.best_f1_micro,
            self.process.is_main,
        )

    def _patience_exhausted(self) -> bool:
        patience = self.config.patience
        return patience is not None and self.progress.epochs_without_improvement >= patience

    def _train_epoch(self) -> int:
        """Train the rest of the current epoch; returns the optimizer steps taken in it in all."""
        progress = self.progress
        self.sampler.start_epoch(progress.epochs_done, skip=progress.batches_done * self.rank_batch)
        self.step_model.train()
        loss_sum = self.partial_loss.to(self.process.device, copy=True)
        bar = tqdm(
            self.train_loader,
            desc=f"epoch {progress.epochs_done + 1}/{self.config.epochs}",
            initial=progress.batches_done,
            total=self.steps_per_epoch,
            disable=self.process.bar_disabled(self.config.progress),
        )
        for batch in bar:
            loss = train_step(self.step_model, self.optimizer, self.criterion, self.train_set, batch, self.performance)
            loss_sum[0] += loss.double() * len(batch["target"])
            loss_sum[1] += len(batch["target"])
            progress.batches_done += 1
            progress.global_step += 1
            if progress.batches_done % 25 == 0:
                bar.set_postfix(loss=f"{float(loss_sum[0] / loss_sum[1]):.4f}", refresh=False)
            every = self.config.checkpoint_every
            if every and progress.global_step % every == 0 and progress.batches_done < self.steps_per_epoch:
                self._checkpoint_mid_epoch(loss_sum)
        bar.close()
        self.partial_loss = loss_sum.cpu()
        return progress.batches_done

    def _checkpoint_mid_epoch(self, loss_sum: torch.Tensor) -> None:
        """Save ``last.pt`` inside an epoch; the epoch's loss sums move to rank 0 first."""
        all_reduce_sum(loss_sum, self.process)
        if self.process.is_main:
            self.partial_loss = loss_sum.to("cpu", copy=True)
            self._save_last()
        else:
            loss_sum.zero_()  # rank 0 now carries this rank's share of the sums

    # -- files (rank 0) -------------------------------------------------------------------
    def _save_last(self) -> None:
        save_checkpoint(
            self.config.output_dir / LAST,
            {
                "config": self.config.to_json(),
                "world_size": self.process.world_size,
                "progress": dict(vars(self.progress)),
                "partial_loss": self.partial_loss.cpu(),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": rng_state(),
                "history": self.history,
            },
        )

    def _save_best(self, scores: Scores) -> None:
        save_checkpoint(
            self.config.output_dir / BEST,
            {
                "config": self.config.to_json(),
                "epoch": self.progress.epochs_done,
                "model": self.model.state_dict(),
                "validation": scores.to_json(),
            },
        )

    def _log(self, record: dict[str, Any]) -> None:
        with (self.config.output_dir / METRICS_LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        tqdm.write(
            f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, validation micro F1 "
            f"{record['validation']['f1_micro']:.4f} (best epoch {record['best_epoch']}), {record['seconds']:.1f}s"
        )

    def _write_run_record(self) -> None:
        split = self.split.describe()
        split["train_scenes"] = sorted({str(p.scene_id) for p in self.split.train})
        record: dict[str, Any] = {
            "model": self.config.name,
            "config": self.config.to_json(),
            "split": split,
            "world_size": self.process.world_size,
            "batch_per_process": self.rank_batch,
            "steps_per_epoch": self.steps_per_epoch,
            "workers_per_process": self.workers,
            "performance": self.performance.describe(),
            "resumed_at": {"epoch": self.progress.epochs_done + 1, "batch": self.progress.batches_done}
            if self.progress.global_step
            else None,
            "versions": {"sen12ms_models": __version__, "torch": torch.__version__},
        }
        (self.config.output_dir / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
