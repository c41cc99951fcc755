"""Arrays and tensors as the models' inputs: shape, band count and dtype, checked as the user passed them."""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def check_array(array: object, name: str, band_names: tuple[str, ...]) -> None:
    """Check ``array`` is a ``(C, H, W)``/``(N, C, H, W)`` array of ``len(band_names)`` bands.

    Errors name the argument and show the shape exactly as it was given.
    """
    if array is None:
        raise ValueError(f"{name} is required: this model reads its bands {list(band_names)}")
    if isinstance(array, np.ndarray):
        if array.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold numbers, got numpy dtype {array.dtype}")
    elif isinstance(array, torch.Tensor):
        if array.dtype == torch.bool or array.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(array).__name__}")
    shape = tuple(array.shape)
    if len(shape) not in (3, 4):
        hint = ""
        if len(shape) == 2:
            hint = " (one band? give it a band axis)"
        raise ValueError(f"{name} must be (C, H, W) or (N, C, H, W), got shape {shape}{hint}")
    if shape[-3] != len(band_names):
        hint = ""
        if shape[-1] == len(band_names):
            hint = " (it looks channels-last: move the band axis with np.moveaxis(x, -1, -3))"
        raise ValueError(
            f"{name} has {shape[-3]} bands on axis -3 (shape {shape}), expected {len(band_names)}: "
            f"{list(band_names)}{hint}"
        )
    if 0 in shape:
        raise ValueError(f"{name} is empty (shape {shape})")


def as_float_tensor(array: ArrayLike | None, name: str, band_names: tuple[str, ...]) -> torch.Tensor:
    """``array`` checked with ``check_array``, as a float32 tensor (on the input tensor's device)."""
    check_array(array, name, band_names)
    if isinstance(array, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return array.to(torch.float32)  # type: ignore[union-attr]


def is_uint8(array: ArrayLike) -> bool:
    """True for 8-bit unsigned arrays (an image format, not Sentinel DN or dB)."""
    return array.dtype == np.uint8 if isinstance(array, np.ndarray) else array.dtype == torch.uint8
