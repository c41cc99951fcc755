"""The process group of a run: one process, or ``torchrun``'s N with DistributedDataParallel.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; with a world of one (plain
``python -m`` or ``--nproc-per-node=1``) no process group is created, and every helper here is
a no-op. Backend: NCCL on CUDA, Gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


@dataclass(frozen=True)
class Process:
    """This process's place in the run and the device it computes on."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def bar_disabled(self, progress: bool | None) -> bool | None:
        """tqdm's ``disable`` for a progress bar: off on other ranks; ``None`` lets tqdm ask the terminal."""
        if progress is False or not self.is_main:
            return True
        return None if progress is None else False


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this rank's GPU if CUDA is available, else the CPU; ``cuda`` -> this rank's GPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
        if resolved.index is None:
            resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    return resolved


def start(device: str = "auto") -> Process:
    """Join the ``torchrun`` process group if there is one, and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return Process(rank, local_rank, world_size, resolved)


def stop(process: Process) -> None:
    """Leave the process group (no barrier: a rank that failed must not hang the others)."""
    if process.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, process: Process) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place and return it."""
    if process.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(value: T, process: Process) -> T:
    """Rank 0's ``value`` on every rank (a picklable object: lists, dicts, numbers, strings)."""
    if not process.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(model: nn.Module, process: Process) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics) before evaluating.

    DDP broadcasts them at the start of each training forward pass, but the last pass then
    updates each rank's copy with its own batch; this makes all ranks score the saved model.
    """
    if process.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
