"""What both baselines share: the first convolution, Kaiming init, timm's interface (``forward_features``,
``forward_head``, ``get_classifier``...) and the ``ModelSpec`` each model carries and saves with its weights."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from safetensors.torch import save
from torch import nn

from sen12ms_models.bands import BAND_MEAN, MODALITY_BANDS, PATCH_SIZE
from sen12ms_models.classes import CLASSES
from sen12ms_models.labels import DECISION_THRESHOLD, check_label_type, check_threshold
from sen12ms_models.weights import Sen12msWeights, model_name

if TYPE_CHECKING:
    from sen12ms_models.transforms import Sen12msTransform

#: The safetensors header key holding a model's ``ModelSpec`` (as JSON).
SPEC_KEY = "sen12ms_models.spec"
#: What ``save_pretrained`` writes: the weights (the spec in their header) and timm's ``config.json``.
WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"


@dataclass(frozen=True)
class ModelSpec:
    """What a model reads and predicts.

    Attributes:
        arch: ``resnet50`` or ``densenet121``.
        in_chans: input channels.
        bands: the SEN12MS band of each input channel; ``None`` after ``adapt_in_chans`` without names.
        classes: the name of each output.
        label_type: ``multi`` (sigmoid >= ``decision_threshold``), ``single`` (argmax), or ``None`` for a
            new head whose rule was not said (``predict`` then asks for ``set_labels``).
        global_pool: DenseNet121's head: ``flatten`` (published, 256x256 only) or ``avg``.
        weights: the SEN12MS model the weights started from, if any.
        decision_threshold: the multi-label rule's threshold on sigmoid outputs (``set_labels``).
    """

    arch: str
    in_chans: int
    bands: tuple[str, ...] | None
    classes: tuple[str, ...]
    label_type: str | None
    global_pool: str = "avg"
    weights: str | None = None
    decision_threshold: float = DECISION_THRESHOLD

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def modality(self) -> str | None:
        """The SEN12MS modality whose bands are ``bands`` (``None`` for any other band list)."""
        return next((m for m, bands in MODALITY_BANDS.items() if bands == self.bands), None)

    @property
    def name(self) -> str:
        """``<arch>-<modality>-<label type>`` for a published model's inputs and outputs, else ``<arch>-custom``."""
        if self.modality is not None and self.classes == CLASSES and self.label_type is not None:
            return model_name(self.arch, self.modality, self.label_type)
        return f"{self.arch}-custom"

    @property
    def threshold(self) -> float | None:
        """Decision threshold on sigmoid outputs (multi-label); ``None`` for argmax."""
        return self.decision_threshold if self.label_type == "multi" else None

    @property
    def transforms(self) -> Sen12msTransform:
        """The preprocessing of the input bands: ``spec.transforms(s1=..., s2=...)``.

        Raises:
            ValueError: the channels have no band names.
        """
        from sen12ms_models.transforms import Sen12msTransform

        if self.bands is None:
            raise ValueError(
                f"this {self.arch} reads {self.in_chans} channels without band names, so no band statistics apply; "
                "name them with model.adapt_in_chans(in_chans, bands=[...]), or standardize yourself and call the model"
            )
        return Sen12msTransform.for_bands(self.bands)

    @classmethod
    def of(cls, weights: Sen12msWeights) -> ModelSpec:
        """The spec of the model ``weights`` are for."""
        pool = "flatten" if weights.arch == "densenet121" else "avg"
        return cls(
            weights.arch, weights.in_chans, weights.bands, weights.classes, weights.label_type, pool, weights.value
        )

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "name": self.name}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> ModelSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        known: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in fields}
        return cls(**known)


def stem_conv(in_chans: int) -> nn.Conv2d:
    """The baselines' first layer: a 7x7/2 convolution from ``in_chans`` channels, no bias."""
    if in_chans < 1:
        raise ValueError(f"in_chans must be >= 1, got {in_chans}")
    return nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)


class Sen12msClassifier(nn.Module):
    """What both architectures share: input checks, pooled features, head and stem replacement."""

    arch: str
    in_chans: int
    num_classes: int
    num_features: int
    spec: ModelSpec
    #: Where the first convolution and the classifier are (``get_submodule`` paths).
    first_conv_name: str
    classifier_name: str

    def _init_weights_and_spec(self, in_chans: int, num_classes: int, global_pool: str) -> None:
        """The baselines' init (Kaiming normal on every conv and linear weight) and a spec without bands."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
        self.in_chans, self.num_classes = in_chans, num_classes
        classes = CLASSES if num_classes == len(CLASSES) else tuple(map(str, range(num_classes)))
        self.spec = ModelSpec(self.arch, in_chans, None, classes, None, global_pool)

    def forward_feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map ``(N, C, h, w)``."""
        raise NotImplementedError

    def forward_head(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` from the output of ``forward_feature_map``."""
        raise NotImplementedError

    def conv_bn_pairs(self) -> list[tuple[nn.Module, str, str]]:
        """``(parent, conv name, bn name)`` wherever a BatchNorm directly follows a convolution."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Linear:
        return cast(nn.Linear, self.get_submodule(self.classifier_name))

    def first_conv(self) -> nn.Conv2d:
        """The first convolution (the one that reads the input bands)."""
        return cast(nn.Conv2d, self.get_submodule(self.first_conv_name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` of a standardized batch ``(N, in_chans, H, W)``."""
        return self.forward_head(self.forward_feature_map(self._check_input(x, head=True)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """A pooled embedding ``(N, num_features)``: the last feature map averaged over space."""
        return self.forward_feature_map(self._check_input(x, head=False)).mean(dim=(-2, -1))

    def reset_classifier(
        self, num_classes: int, *, label_type: str | None = None, classes: Sequence[str] | None = None
    ) -> None:
        """Replace the head by a freshly (Kaiming) initialized one (``set_labels`` describes a head).

        Args:
            num_classes: outputs of the new head.
            label_type: ``multi`` or ``single``; kept if the number of outputs is, else unknown unless given.
            classes: its output names (default: kept, or ``"0"``, ``"1"``...).
        """
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        head = nn.Linear(self._head_features(), num_classes)
        nn.init.kaiming_normal_(head.weight)
        weight = self.get_classifier().weight
        self.set_submodule(self.classifier_name, head.to(device=weight.device, dtype=weight.dtype))
        if num_classes != self.num_classes:
            self.num_classes = num_classes
            self.spec = dataclasses.replace(self.spec, classes=tuple(map(str, range(num_classes))), label_type=None)
        self.spec = dataclasses.replace(self.spec, decision_threshold=DECISION_THRESHOLD)  # a new head's rule
        self.set_labels(label_type or self.spec.label_type, classes)

    def set_labels(
        self, label_type: str | None, classes: Sequence[str] | None = None, *, threshold: float | None = None
    ) -> None:
        """Say how the head's outputs are read, without touching any weight.

        Args:
            label_type: ``multi`` (sigmoid >= threshold) or ``single`` (argmax).
            classes: a name per output (default: unchanged).
            threshold: the multi-label decision threshold, saved with the model and used by ``predict``
                unless it is given one (default: unchanged, at first 0.5).

        Raises:
            ValueError: an unknown label type, another number of names than outputs, or a threshold
                outside [0, 1] or for a single-label head.
        """
        names = self.spec.classes if classes is None else tuple(classes)
        if len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for a head of {self.num_classes} outputs")
        label_type = None if label_type is None else check_label_type(label_type)
        threshold = self.spec.decision_threshold if threshold is None else check_threshold(threshold, label_type)
        self.spec = dataclasses.replace(self.spec, label_type=label_type, classes=names, decision_threshold=threshold)

    def adapt_in_chans(self, in_chans: int, bands: Sequence[str] | None = None) -> None:
        """Make the first convolution read ``in_chans`` channels, keeping what it learned.

        Each new channel's kernel is the mean of the pretrained ones over their input channels, scaled by
        ``old_in_chans / in_chans`` so activations keep their expected magnitude (as timm adapts). Fine-tune after.

        Args:
            in_chans: the new number of input channels.
            bands: their SEN12MS band names, so ``spec.transforms`` standardizes them.

        Raises:
            ValueError: another number of band names than ``in_chans``, or a name without training statistics.
        """
        if bands is not None and len(bands) != in_chans:
            raise ValueError(f"{len(bands)} band names for {in_chans} input channels")
        if unknown := [b for b in bands or () if b not in BAND_MEAN]:
            raise ValueError(
                f"bands {unknown} are not SEN12MS bands with training statistics ({', '.join(BAND_MEAN)}), so "
                "spec.transforms could not standardize them; standardize them yourself and pass no band names"
            )
        old = self.first_conv().weight.detach()
        conv = stem_conv(in_chans).to(device=old.device, dtype=old.dtype)
        with torch.no_grad():
            conv.weight.copy_(old.mean(dim=1, keepdim=True).expand(-1, in_chans, -1, -1) * (old.shape[1] / in_chans))
        self.set_submodule(self.first_conv_name, conv)
        self.in_chans = in_chans
        self.spec = dataclasses.replace(self.spec, in_chans=in_chans, bands=None if bands is None else tuple(bands))

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Save ``model.safetensors`` (the spec in its header, so the file alone loads too) and timm's
        ``config.json`` into ``folder``, to load back with ``load_model(folder)``. Returns the weights file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / WEIGHTS_FILE
        save_weights(self.state_dict(), self.spec, path)
        config = json.dumps(config_json(self.spec, path.name), indent=2)
        (folder / CONFIG_FILE).write_text(config + "\n", encoding="utf-8")
        return path

    def _head_features(self) -> int:
        return self.get_classifier().in_features

    def _check_input(self, x: torch.Tensor, head: bool) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            bands = f" ({', '.join(self.spec.bands)})" if self.spec.bands else ""
            raise ValueError(
                f"{self.arch} expects a batch (N, {self.in_chans}, H, W){bands}, got shape {tuple(x.shape)}"
            )
        weight = self.first_conv().weight
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            raise TypeError(
                f"the input is {x.dtype} but the model's weights are {weight.dtype}: cast one to the other, or keep "
                "the model in float32 and run reduced precision with predict(..., precision='bf16') (autocast)"
            )
        return x


def save_weights(state: dict[str, torch.Tensor], spec: ModelSpec, path: Path) -> None:
    """``state`` as safetensors, ``spec`` its one header key (several come in random order: another sha256)."""
    tensors = {key: tensor.contiguous() for key, tensor in state.items()}
    path.write_bytes(save(tensors, metadata={SPEC_KEY: json.dumps(spec.to_json())}))


def config_json(spec: ModelSpec, filename: str) -> dict[str, Any]:
    """``config.json``: the spec, and for ResNet50 what ``timm.create_model("hf-hub:REPO", pretrained=True)`` reads."""
    from sen12ms_models.models.resnet import Sen12msResNet50 as Network  # timm's resnet50 shares its state dict

    config: dict[str, Any] = {"sen12ms": spec.to_json()}
    if spec.arch == Network.arch and spec.bands is not None:
        transform = spec.transforms
        config |= {
            "architecture": spec.arch,
            "num_classes": spec.num_classes,
            "num_features": Network.num_features,
            "global_pool": spec.global_pool,
            "model_args": {"in_chans": spec.in_chans},
            "label_names": list(spec.classes),
            "pretrained_cfg": {
                "hf_hub_filename": filename,
                "input_size": [spec.in_chans, PATCH_SIZE, PATCH_SIZE],
                "fixed_input_size": False,
                "crop_pct": 1.0,
                "interpolation": "bilinear",
                # raw input units (S2 DN, S1 dB): standardize with the package's transform, not timm's
                "mean": list(transform.mean),
                "std": list(transform.std),
                "first_conv": Network.first_conv_name,
                "classifier": Network.classifier_name,
            },
        }
    return config
