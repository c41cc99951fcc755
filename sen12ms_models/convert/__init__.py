"""The SEN12MS toolbox's released checkpoints as verified safetensors weights.

- ``checkpoint``: reading a ``*.pth`` with ``weights_only=True`` and inferring what it holds;
- ``keymap``: the toolbox's key names -> this package's;
- ``proof``: the same logits from the original network and the converted one;
- ``toolbox_reference``: the toolbox's two wrappers, restated from their documented structure;
- ``card``: the converted model card with the toolbox's licence;
- ``release``: ``convert_checkpoint``, which does all of it and writes the folder.
"""

from typing import TYPE_CHECKING

from sen12ms_models._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Conversion": ".release",
        "TOLERANCE": ".proof",
        "ToolboxCheckpoint": ".checkpoint",
        "convert_checkpoint": ".release",
        "logits_difference": ".proof",
        "read_toolbox_checkpoint": ".checkpoint",
    },
)
__all__ = [
    "TOLERANCE",
    "Conversion",
    "ToolboxCheckpoint",
    "convert_checkpoint",
    "logits_difference",
    "read_toolbox_checkpoint",
]

if TYPE_CHECKING:
    from sen12ms_models.convert.checkpoint import ToolboxCheckpoint, read_toolbox_checkpoint
    from sen12ms_models.convert.proof import TOLERANCE, logits_difference
    from sen12ms_models.convert.release import Conversion, convert_checkpoint
