"""The proof of a conversion: the original network and ours give the same logits.

The original state dict is loaded into a re-statement of the toolbox's wrapper
(``toolbox_reference``), the converted one into this package's model; both run in eval mode
on the same seeded N(0, 1) batch (standardized inputs look like that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.convert.toolbox_reference import TOOLBOX_HEADS, build_toolbox_model
from sen12ms_models.errors import WeightsIntegrityError
from sen12ms_models.models._registry import build_model

#: Largest tolerated logit difference between original and converted network (float32).
TOLERANCE = 1e-6
#: Input side of the proof for ResNet50 (any size works; every weight takes part at 64x64).
RESNET_PROOF_SIZE = 64
PROOF_BATCH = 2
PROOF_SEED = 0


def on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """Build a network without allocating or initializing weights that will be replaced."""
    with torch.device("meta"):
        return factory()


def _loaded(factory: Callable[[], nn.Module], state: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    model = on_meta(factory)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        raise WeightsIntegrityError(f"the {what} state dict does not load into its network: {error}") from error
    return model.eval()


def logits_difference(original: Mapping[str, torch.Tensor], converted: Mapping[str, torch.Tensor], arch: str) -> float:
    """Max |logit difference| of the toolbox network with ``original`` and ours with ``converted``.

    Both run in eval mode on the same seeded N(0, 1) batch (standardized inputs look like that),
    256x256 for DenseNet121 (its head needs it), 64x64 for ResNet50.
    """
    in_chans, num_classes = original["encoder.0.weight"].shape[1], original[TOOLBOX_HEADS[arch][0]].shape[0]
    reference = _loaded(lambda: build_toolbox_model(arch, in_chans, num_classes), original, "original")
    ours = _loaded(lambda: build_model(arch, in_chans, num_classes), converted, "converted")
    size = PATCH_SIZE if arch == "densenet121" else RESNET_PROOF_SIZE
    generator = torch.Generator().manual_seed(PROOF_SEED)
    x = torch.randn(PROOF_BATCH, in_chans, size, size, generator=generator)
    with torch.no_grad():
        return (reference(x) - ours(x)).abs().max().item()
