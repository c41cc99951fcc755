"""What a training run is: the paper's recipe as defaults, plus the knobs that only change speed.

``RESULT_FIELDS`` decide the trained weights; a resumed run must agree with its checkpoint on
them. The others (workers, precision, compile, ...) change how fast a run goes, not what it
learns, except ``precision``: bf16 autocast rounds differently from fp32 (the usual GPU choice).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sen12ms_models.bands import modality_bands
from sen12ms_models.datasets.splits import SPLITS, SplitName
from sen12ms_models.labels import LABEL_TYPES
from sen12ms_models.models.spec import ARCHITECTURE_NAMES, model_name

#: ``--precision`` choices: auto (bf16 on CUDA, else fp32), fp32, bf16.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
#: The published baselines' precision: the SEN12MS toolbox trained and scored in fp32 (no autocast).
#: ``reproduce`` trains in it, and test scores for tables, cards and the manifest use it, by default.
RECIPE_PRECISION = "fp32"

#: Fields that determine the result; resuming with other values is refused.
RESULT_FIELDS: tuple[str, ...] = (
    "arch",
    "modality",
    "label_type",
    "split",
    "split_seed",
    "num_validation_scenes",
    "batch_size",
    "lr",
    "weight_decay",
    "seed",
)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults: Schmitt & Wu (2021) - Adam, lr 1e-3, weight decay 1e-5,
    batch 64 (global, over all processes), up to 100 epochs, best epoch by validation micro F1.

    >>> TrainConfig("/data/SEN12MS", "runs/r50-s1s2", arch="resnet50", modality="s1s2")  # doctest: +SKIP
    """

    data_dir: Path
    output_dir: Path
    arch: str = "resnet50"
    modality: str = "s1s2"
    label_type: str = "multi"
    split: SplitName = "paper"
    split_seed: int = 0
    num_validation_scenes: int = 25
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    patience: int | None = None
    workers: int | None = None
    store: Path | None = None
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    checkpoint_every: int = 0
    resume: bool = False
    progress: bool | None = None
    log_every: int = 50

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "store", Path(self.store) if self.store is not None else None)
        choices = {"arch": ARCHITECTURE_NAMES, "label_type": LABEL_TYPES, "split": SPLITS, "precision": PRECISIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        modality_bands(self.modality)  # names the valid modalities when this one is not
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 epoch, got {self.patience}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.log_every < 0:
            raise ValueError(f"log_every must be >= 0 steps (0: no log lines), got {self.log_every}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0 steps, got {self.checkpoint_every}")

    @property
    def name(self) -> str:
        """The manifest name of the model this run trains, e.g. ``resnet50-s1s2-multi``."""
        return model_name(self.arch, self.modality, self.label_type)

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_json`` (unknown keys are refused by the constructor)."""
        return cls(**values)

    def result_mismatches(self, other: dict[str, Any]) -> list[str]:
        """``RESULT_FIELDS`` on which ``other`` (a ``to_json`` dict) differs from this config."""
        mine = self.to_json()
        return [f"{k}: checkpoint {other.get(k)!r}, now {mine[k]!r}" for k in RESULT_FIELDS if other.get(k) != mine[k]]


def default_workers(world_size: int) -> int:
    """DataLoader workers per process: the CPUs this process may use, shared between ranks."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, cpus // world_size - 1))
