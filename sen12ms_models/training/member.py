"""One model of a training run: its network, Adam state, best epoch, early stopping and files.

A run trains a group of such members on one pass over the data (``loop``); ``train`` is a
group of one. Each member writes into its own ``config.output_dir`` (rank 0 only):

- ``run.json``: the config, the split (``Split.describe()`` plus the training scenes), the
  process count, device, precision and speed settings, versions;
- ``metrics.jsonl``: one JSON line per epoch (steps, train loss, every validation score);
- ``best.pt``: the weights of its epoch with the best validation micro F1 (``export`` input).

Its resumable state (``state()``) goes into the group's ``last.pt``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sen12ms_models import __version__
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import Split
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.models.spec import get_weights
from sen12ms_models.training.checkpoint import BEST, save_checkpoint
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.distributed import Process
from sen12ms_models.training.group_data import AnyGroupDataset, MemberView
from sen12ms_models.training.metrics import Scores
from sen12ms_models.training.performance import Performance

METRICS_LOG = "metrics.jsonl"
RUN_RECORD = "run.json"


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left for one model: its folder, epochs done, the best epoch (1-based) and score.

    ``is_main`` is False on the other ranks of a DDP run (same values; they wrote nothing).
    """

    output_dir: Path
    epochs_done: int
    best_epoch: int | None
    best_f1_micro: float | None
    is_main: bool = True


@dataclass
class MemberProgress:
    """Where one model stands; saved in the group's ``last.pt`` and restored from it."""

    epochs_done: int = 0
    global_step: int = 0
    best_epoch: int | None = None
    best_f1_micro: float | None = None
    epochs_without_improvement: int = 0


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


class Member:
    """One model of a group: built from ``config.seed`` exactly as a run of it alone would be."""

    def __init__(
        self, config: TrainConfig, train_set: AnyGroupDataset, process: Process, performance: Performance
    ) -> None:
        self.config = config
        #: The model's own dataset over the same patches: never read, it standardizes its channels.
        self.dataset = Sen12msDataset(train_set.index, train_set.patches, config.modality, config.label_type)
        self.view = MemberView.of(train_set, self.dataset)
        spec = get_weights(config.name)
        torch.manual_seed(config.seed)
        self.model: Sen12msClassifier = build_model(config.arch, spec.in_chans, spec.num_classes)
        self.model.to(process.device).to(memory_format=performance.memory_format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.criterion: nn.Module = nn.BCEWithLogitsLoss() if config.label_type == "multi" else nn.CrossEntropyLoss()
        self.progress = MemberProgress()
        self.partial_loss = torch.zeros(2, dtype=torch.float64)  # loss sum, samples of the epoch in progress
        self.history: list[dict[str, Any]] = []  # the metrics log's records
        self.step_model: nn.Module = self.model
        self.loss_sum = self.partial_loss  # on the device while an epoch runs

    @property
    def name(self) -> str:
        return self.config.name

    def wrap(self, process: Process) -> None:
        """DistributedDataParallel across the ranks, and ``torch.compile`` when the config asks."""
        if process.distributed:
            device_ids = [process.device.index] if process.device.type == "cuda" else None
            self.step_model = DistributedDataParallel(self.model, device_ids=device_ids)
        if self.config.compile:
            self.step_model = cast(nn.Module, torch.compile(self.step_model))

    def active(self) -> bool:
        """Still training: epochs left and patience not exhausted."""
        patience, progress = self.config.patience, self.progress
        stopped = patience is not None and progress.epochs_without_improvement >= patience
        return progress.epochs_done < self.config.epochs and not stopped

    def step(self, batch: dict[str, Any], performance: Performance) -> torch.Tensor:
        """One optimizer step on this model's part of a group batch; adds the loss to the epoch's sums."""
        part = self.view(batch)
        loss = train_step(self.step_model, self.optimizer, self.criterion, self.dataset, part, performance)
        self.loss_sum[0] += loss.double() * len(part["target"])
        self.loss_sum[1] += len(part["target"])
        self.progress.global_step += 1
        return loss

    def end_epoch(self, scores: Scores, steps: int, train_loss: torch.Tensor, seconds: float) -> bool:
        """Record an epoch's validation; returns whether it is the best so far."""
        progress = self.progress
        progress.epochs_done += 1
        improved = progress.best_f1_micro is None or scores.f1_micro > progress.best_f1_micro
        if improved:
            progress.best_epoch, progress.best_f1_micro = progress.epochs_done, scores.f1_micro
            progress.epochs_without_improvement = 0
        else:
            progress.epochs_without_improvement += 1
        self.partial_loss = torch.zeros(2, dtype=torch.float64)
        self.history.append(
            {
                "epoch": progress.epochs_done,
                "steps": steps,
                "global_step": progress.global_step,
                "train_samples": int(train_loss[1]),
                "train_loss": float(train_loss[0] / train_loss[1]),
                "validation": scores.to_json(),
                "best_epoch": progress.best_epoch,
                "seconds": round(seconds, 3),
            }
        )
        return improved

    def result(self, is_main: bool) -> TrainResult:
        progress = self.progress
        return TrainResult(
            self.config.output_dir, progress.epochs_done, progress.best_epoch, progress.best_f1_micro, is_main
        )

    # -- the resumable state --------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What ``restore`` needs: config, progress, the epoch's loss sums, model, Adam, history."""
        return {
            "config": self.config.to_json(),
            "progress": dict(vars(self.progress)),
            "partial_loss": self.partial_loss.cpu(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
        }

    def restore(self, state: dict[str, Any], process: Process) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = MemberProgress(**state["progress"])
        self.history = state["history"]
        if process.is_main:
            self.partial_loss = state["partial_loss"].clone()

    # -- files (rank 0) -------------------------------------------------------------------
    def save_best(self) -> None:
        save_checkpoint(
            self.config.output_dir / BEST,
            {
                "config": self.config.to_json(),
                "epoch": self.progress.epochs_done,
                "model": self.model.state_dict(),
                "validation": self.history[-1]["validation"],
            },
        )

    def write_log(self) -> None:
        """Rewrite ``metrics.jsonl`` from the history, so epochs redone after a kill appear once."""
        (self.config.output_dir / METRICS_LOG).write_text(
            "".join(json.dumps(record) + "\n" for record in self.history), encoding="utf-8"
        )

    def write_run_record(self, split: Split, facts: dict[str, Any], resumed_at: dict[str, int] | None) -> None:
        """``run.json``: this model, its config and ``split``, plus the run's shared ``facts``."""
        described = split.describe()
        described["train_scenes"] = sorted({str(p.scene_id) for p in split.train})
        record: dict[str, Any] = {
            "model": self.name,
            "config": self.config.to_json(),
            "split": described,
            **facts,
            "resumed_at": resumed_at,
            "versions": {"sen12ms_models": __version__, "torch": torch.__version__},
        }
        self.config.output_dir.mkdir(parents=True, exist_ok=True)
        (self.config.output_dir / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
