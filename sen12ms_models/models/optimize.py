"""Fast inference: BatchNorm folded into convolutions, channels-last, and batches standardized and run
on the model's device in fp32, TF32 or bf16 (``predict_on_device``)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm import tqdm

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


def device_batches(
    arrays: dict[str, np.ndarray],
    batch_size: int,
    device: torch.device,
    threads: int = 8,
    stage: bool | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Consecutive ``batch_size`` slices of same-length raw ``arrays`` (uint16 DN, float32 dB), on ``device``.

    With ``stage`` (default: on CUDA), ``threads`` copy the next slice into a staging batch -
    pinned on CUDA, from torch's caching host allocator, so the blocks are reused - while the
    current one is copied and used, and the copy to the device does not wait. Without, the
    slices are views. Raw S2 is half the bytes of standardized float32.
    """
    length = len(next(iter(arrays.values())))
    starts = range(0, length, batch_size)
    pin = device.type == "cuda"
    if not (pin if stage is None else stage):
        for start in starts:
            yield {name: torch.from_numpy(a[start : start + batch_size]) for name, a in arrays.items()}
        return

    def start_copy(pool: ThreadPoolExecutor, start: int) -> tuple[dict[str, torch.Tensor], list[Future[None]]]:
        """Allocate the staging batch at ``start`` and start the threads copying into it."""
        pinned: dict[str, torch.Tensor] = {}
        futures: list[Future[None]] = []
        for name, array in arrays.items():
            part = array[start : start + batch_size]
            dtype = torch.from_numpy(part[:0]).dtype
            pinned[name] = torch.empty(part.shape, dtype=dtype, pin_memory=pin)
            target = pinned[name].numpy()
            for rows in np.array_split(np.arange(len(part)), min(threads, len(part))):
                futures.append(pool.submit(np.copyto, target[rows[0] : rows[-1] + 1], part[rows[0] : rows[-1] + 1]))
        return pinned, futures

    with ThreadPoolExecutor(threads, thread_name_prefix="device-batches") as pool:
        staged = start_copy(pool, 0)
        for start in starts:
            pinned, futures = staged
            for future in futures:
                future.result()
            if start + batch_size < length:
                staged = start_copy(pool, start + batch_size)
            yield {name: tensor.to(device, non_blocking=True) for name, tensor in pinned.items()}


@torch.inference_mode()
def predict_on_device(
    model: Sen12msClassifier,
    s1: np.ndarray | None = None,
    s2: np.ndarray | None = None,
    *,
    batch_size: int = 256,
    precision: str = "fp32",
    transform: Sen12msTransform | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Output probabilities ``(N, classes)`` float32, on the model's device, of raw patch batches.

    ``s1``: ``(N, 2, H, W)`` float32 dB; ``s2``: ``(N, 13, H, W)`` uint16 DN (``spec.transforms``'s
    bands), numpy arrays. Raw bands go to the device (``device_batches``) and are standardized
    there (``spec.transforms``); the model runs channels-last under
    ``inference_precision(precision)``; nothing is read back before the end, where
    ``RuntimeError`` reports non-finite outputs. ``model`` may be an ``optimize_for_inference``
    copy; it must carry a spec. ``transform`` overrides the spec's (e.g.
    ``spec.transforms.with_s2_bands(S2_SURFACE_BANDS)`` for a prepared store's 10 bands).
    ``progress``: a bar over the batches.
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
    finite = torch.empty(len(present), dtype=torch.bool, device=device)
    model.eval()
    arrays = {name: np.ascontiguousarray(a) for name, a in (("s1", s1), ("s2", s2)) if a is not None}
    with inference_precision(precision, device):
        batches = device_batches(arrays, batch_size, device)
        starts = range(0, len(present), batch_size)
        for start, raw in zip(
            starts, tqdm(batches, desc="predict", total=len(starts), disable=not progress), strict=True
        ):
            x = transform(**raw).contiguous(memory_format=torch.channels_last)
            logits = model(x).float()
            finite[start : start + len(x)] = torch.isfinite(logits).all(1)
            out[start : start + len(x)] = output_probabilities(logits, label_type)
    if not bool(finite.all()):  # the only read-back: no wait for the device per batch
        raise RuntimeError(f"the model gave non-finite outputs for patch {int((~finite).nonzero()[0])}")
    return out
