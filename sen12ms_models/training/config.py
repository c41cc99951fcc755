"""A training run's settings: the paper's recipe as defaults, and knobs that change only its speed.

``RESULT_FIELDS`` decide the trained weights (``precision`` too: bf16 and TF32 round differently), so a resumed
run must match its checkpoint on them; the others change speed only. Loads no torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sen12ms_models._types import PRECISIONS
from sen12ms_models.bands import modality_bands
from sen12ms_models.datasets.splits import SPLITS, SplitName
from sen12ms_models.labels import LABEL_TYPES
from sen12ms_models.weights import ARCHITECTURES, model_name

#: The recipe's arithmetic (``PRECISIONS``). The toolbox trained and scored in float32 without autocast; training
#: keeps float32 with TF32 tensor cores in cuBLAS and cuDNN where a GPU has them (torch's own default already runs
#: cuDNN convolutions in TF32), the test scores are strict fp32, as ``predict``'s default.
TRAIN_PRECISION, SCORE_PRECISION = "tf32", "fp32"
RESULT_FIELDS: tuple[str, ...] = (
    *("arch", "modality", "label_type", "split", "split_seed", "num_validation_scenes"),
    *("batch_size", "lr", "weight_decay", "seed", "precision"),
)


@dataclass(frozen=True)
class TrainConfig:
    """One training run; defaults: Schmitt & Wu (2021), Adam, batch 64 (global, over all processes).

    Attributes:
        data_dir: the SEN12MS root (with ``store``: the tree the store was prepared from); it,
            ``output_dir`` (the run's folder) and ``store`` are made absolute.
        patience: stop after this many epochs without a better validation micro F1.
        workers: loader workers per process (``None``: ``default_workers``).
        store: a prepared store (``datasets.store``) to read instead of the GeoTIFFs.
        precision: ``fp32``, ``tf32`` or ``bf16`` (``_types.PRECISIONS``); default the recipe's ``tf32``.
        checkpoint_every: also save ``last.pt`` every this many steps (0: after each epoch only).
        progress, log_every: ``Progress``'s ``enabled`` and ``log_every``.
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
    precision: str = TRAIN_PRECISION
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    checkpoint_every: int = 0
    resume: bool = False
    progress: bool | None = None
    log_every: int = 50

    def __post_init__(self) -> None:
        for name in ("data_dir", "output_dir", "store"):
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, Path(os.path.abspath(value)))
        choices = {"arch": ARCHITECTURES, "label_type": LABEL_TYPES, "split": SPLITS, "precision": PRECISIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        modality_bands(self.modality)  # names the valid modalities when this one is not
        least = {"epochs": 1, "batch_size": 1, "patience": 1, "workers": 0, "log_every": 0, "checkpoint_every": 0}
        for name, bound in least.items():
            if (value := getattr(self, name)) is not None and value < bound:
                raise ValueError(f"{name} must be >= {bound}, got {value}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")

    @property
    def name(self) -> str:
        """The model this run trains, e.g. ``resnet50-s1s2-multi``."""
        return model_name(self.arch, self.modality, self.label_type)

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values (paths as absolute strings); ``TrainConfig(**values)`` inverts it."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


def default_workers(world_size: int, workers: int | None = None) -> int:
    """``workers`` if given, else the CPUs this process may use shared between the ranks, less one (1 to 16)."""
    if workers is not None:
        return workers
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, cpus // world_size - 1))
