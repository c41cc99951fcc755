"""Speed settings that leave the recipe alone: bf16 autocast, channels-last, cuDNN autotuning.

``auto`` turns bf16 autocast and channels-last memory on for CUDA only: on CPU, channels-last
training of ResNet50 measured slower here, and bf16 there is a choice the user makes
explicitly (``--precision bf16``). Losses and metrics are always computed in float32.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from sen12ms_models.training.config import PRECISIONS


@dataclass(frozen=True)
class Performance:
    """How this process runs the model: ``device``, bf16 autocast or not, memory format."""

    device: torch.device
    bf16: bool
    channels_last: bool

    @classmethod
    def choose(cls, device: torch.device, precision: str = "auto", channels_last: bool | None = None) -> Performance:
        """Resolve ``precision`` (auto/fp32/bf16) and ``channels_last`` (None = auto) for ``device``."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        cuda = device.type == "cuda"
        return cls(
            device=device,
            bf16=precision == "bf16" or (precision == "auto" and cuda),
            channels_last=cuda if channels_last is None else channels_last,
        )

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """bf16 autocast on this device when enabled, else a no-op context."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    @property
    def precision(self) -> str:
        """``bf16`` (autocast) or ``fp32``: what the forward passes compute in."""
        return "bf16" if self.bf16 else "fp32"

    def describe(self) -> dict[str, object]:
        return {
            "device": str(self.device),
            "precision": self.precision,
            "bf16": self.bf16,
            "channels_last": self.channels_last,
        }


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """Deterministic algorithms when asked (bitwise-reproducible runs), else cuDNN autotuning."""
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for determinism
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
