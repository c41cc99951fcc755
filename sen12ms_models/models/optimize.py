"""Fast inference: BatchNorm folded into convolutions, channels-last, and batches standardized and run
on the model's device in fp32, TF32 or bf16 (``predict_on_device``)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from sen12ms_models.labels import output_probabilities
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.transforms import Sen12msTransform


def optimize_for_inference(model: Sen12msClassifier) -> Sen12msClassifier:
    """An inference-only copy of ``model``: BatchNorm folded into the convolution before it,
    channels-last memory, no gradients. Same outputs up to float rounding, about 1.3x faster
    on CPU for ResNet50 (see benchmarks/inference.py); not for training (its BNs are gone).

    >>> fast = optimize_for_inference(load_model("resnet50", "s1s2"))  # doctest: +SKIP
    """
    fused = copy.deepcopy(model).eval()
    for parent, conv_name, bn_name in fused.conv_bn_pairs():
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(parent, bn_name, nn.Identity())
    fused.requires_grad_(False)
    return fused.to(memory_format=torch.channels_last)


#: ``predict_on_device`` precisions: strict fp32, TF32 tensor cores (CUDA), bf16 autocast.
INFERENCE_PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16")


@contextlib.contextmanager
def inference_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the enclosed forward passes in ``precision`` on ``device`` (see ``INFERENCE_PRECISIONS``).

    ``fp32`` turns TF32 off in cuBLAS and cuDNN (torch lets cuDNN use TF32 by default), ``tf32``
    turns it on in both; both restore the previous flags. ``bf16`` autocasts. ``ValueError`` otherwise.
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}, got {precision!r}")
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    try:
        with autocast:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def to_device(array: np.ndarray | torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """Raw bands as they are (uint16 DN, float32 dB; an array or tensor) onto ``device``: through
    pinned memory and without waiting on CUDA. Half the bytes of standardized float32 for S2."""
    if array is None:
        return None
    tensor = torch.as_tensor(array).contiguous()
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


@torch.inference_mode()
def predict_on_device(
    model: Sen12msClassifier,
    s1: np.ndarray | None = None,
    s2: np.ndarray | None = None,
    *,
    batch_size: int = 256,
    precision: str = "fp32",
    transform: Sen12msTransform | None = None,
) -> torch.Tensor:
    """Output probabilities ``(N, classes)`` float32, on the model's device, of raw patch batches.

    ``s1``: ``(N, 2, H, W)`` float32 dB; ``s2``: ``(N, 13, H, W)`` uint16 DN (``spec.transforms``'s
    bands). Raw bands go to the device and are standardized there (``spec.transforms``); the
    model runs channels-last under ``inference_precision(precision)``; nothing is read back
    before the end, where ``RuntimeError`` reports non-finite outputs. ``model`` may be an
    ``optimize_for_inference`` copy; it must carry a spec. ``transform`` overrides the spec's
    (e.g. ``spec.transforms.with_s2_bands(S2_SURFACE_BANDS)`` for a prepared store's 10 bands).
    """
    if model.spec is None or model.spec.label_type is None:
        raise ValueError("predict_on_device needs a model with a WeightsSpec that names its label type")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    present = s2 if s2 is not None else s1
    if present is None:
        raise ValueError("give s1 and/or s2")
    device = next(model.parameters()).device
    transform, label_type = transform or model.spec.transforms, model.spec.label_type
    out = torch.empty((len(present), model.num_classes), device=device)
    finite = torch.ones((), dtype=torch.bool, device=device)
    model.eval()
    with inference_precision(precision, device):
        for start in range(0, len(present), batch_size):
            part = slice(start, start + batch_size)
            raw = {name: to_device(a[part] if a is not None else None, device) for name, a in (("s1", s1), ("s2", s2))}
            x = transform(**raw).contiguous(memory_format=torch.channels_last)
            logits = model(x).float()
            finite &= torch.isfinite(logits).all()
            out[part] = output_probabilities(logits, label_type)
    if not bool(finite):
        raise RuntimeError("the model gave non-finite outputs")
    return out
