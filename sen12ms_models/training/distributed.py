"""Where and how a run computes: ``torchrun``'s process group, this process's device, speed settings.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; in a world of one there is no process
group and every collective here is a no-op. Backend: NCCL on CUDA, Gloo on CPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sen12ms_models._types import PRECISIONS
from sen12ms_models.models.api import resolve_device, tf32_flags


@dataclass(frozen=True)
class Process:
    """This process's place in the run and its device; rank 0 writes the files, logs and progress."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def progress(self, wanted: bool | None) -> bool | None:
        """``Progress``'s ``enabled`` for this rank: ``wanted`` on rank 0, nothing elsewhere."""
        return wanted if self.is_main else False


@contextlib.contextmanager
def session(device: str = "auto", deterministic: bool = False) -> Iterator[Process]:
    """This process, in the ``torchrun`` process group if any, on its device, with ``configure_backends``;
    on exit, torch's determinism setting is restored and the group left (no barrier: a failed rank must
    not hang the others)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    process = Process(rank, local_rank, world_size, resolve_device(device, local_rank))
    if process.device.type == "cuda":
        torch.cuda.set_device(process.device)
    if process.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if process.device.type == "cuda" else "gloo")
    before = torch.are_deterministic_algorithms_enabled()
    try:
        configure_backends(process.device, deterministic)
        yield process
    finally:
        torch.use_deterministic_algorithms(before)
        if process.distributed and dist.is_initialized():
            dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, process: Process) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place and return it."""
    if process.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_buffers(model: nn.Module, process: Process) -> None:
    """Rank 0's buffers (BatchNorm statistics, which each rank's training updated) on every rank."""
    if process.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


@dataclass(frozen=True)
class Performance:
    """How this process runs a model: on ``device``, in ``precision`` (``PRECISIONS``), in which memory format
    (losses and metrics are float32)."""

    device: torch.device
    precision: str
    channels_last: bool

    @classmethod
    def choose(cls, device: torch.device, precision: str = "fp32", channels_last: bool | None = None) -> Performance:
        """``tf32`` off CUDA is ``fp32`` (nothing else exists there); ``channels_last`` ``None`` turns it on for CUDA
        only (it trains slower on CPUs). ``ValueError`` for a precision not in ``PRECISIONS``."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        cuda = device.type == "cuda"
        precision = "fp32" if precision == "tf32" and not cuda else precision
        return cls(device, precision, cuda if channels_last is None else channels_last)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> torch.autocast:
        """bf16 autocast for ``bf16``, for forward passes only."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def arithmetic(self) -> contextlib.AbstractContextManager[None]:
        """``tf32_flags`` of ``precision``, to hold over forward and backward passes alike."""
        return tf32_flags(self.precision)


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """Deterministic algorithms when asked (bitwise-reproducible runs), else cuDNN autotuning."""
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for determinism
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
