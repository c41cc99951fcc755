"""Fast inference: BatchNorm folded into convolutions, channels-last, and the precision ``predict``
runs in (fp32, TF32 or bf16)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from sen12ms_models.models.base import Sen12msClassifier


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


#: ``predict``'s precisions: strict fp32, TF32 tensor cores (CUDA), bf16 autocast.
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
