"""Type aliases shared across the package."""

import os

#: A file-system path as the public API accepts it.
PathLike = str | os.PathLike[str]

#: The arithmetic of a forward pass or training step: ``fp32`` strict float32 (TF32 off in cuBLAS and cuDNN:
#: the published scores'), ``tf32`` float32 with TF32 tensor cores (CUDA; elsewhere it is fp32), ``bf16`` autocast.
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16")
