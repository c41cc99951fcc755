"""``sen12ms-models convert``: the SEN12MS toolbox's released checkpoints as verified weights.

The toolbox released its trained baselines as PyTorch pickles (``*_model_best.pth``: a dict
with ``epoch``, ``arch``, ``model_state_dict``, ``optimizer_state_dict``, ``best_prec``).
This module reads one without ever unpickling code (``torch.load(weights_only=True)``; only
numpy scalars, which ``best_prec`` is, are allowed beyond that), renames the wrapper's keys
to this package's (torchvision's) names, proves on a fixed random input that the converted
model gives the same logits as the original network, and writes a safetensors file, its
manifest entry and a model card into one folder, optionally registering the file locally.

Key mapping (everything else is refused, naming the keys):

- ResNet50: ``conv1.weight`` and ``encoder.0.weight`` (the same tensor, stored twice; they
  must be equal) -> ``conv1.weight``; ``encoder.1.*`` -> ``bn1.*``; ``encoder.4.*`` ..
  ``encoder.7.*`` -> ``layer1.*`` .. ``layer4.*``; ``FC.*`` -> ``fc.*``.
- DenseNet121: ``encoder.<i>.*`` -> ``features.<name>.*`` with names conv0, norm0, relu0,
  pool0, denseblock1, transition1, ..., denseblock4, norm5 (i = 0..11); ``classifier.*``
  unchanged.

>>> conversion = convert_checkpoint("ResNet50_model_best.pth", "resnet50", "s1s2", "multi", "out")  # doctest: +SKIP
>>> conversion.max_abs_diff  # doctest: +SKIP
0.0
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_safetensors
from torch import nn

from .bands import MODALITIES, modality_bands
from .download import parse_safetensors, sha256_hex
from .errors import WeightsIntegrityError, format_names
from .hub_card import CITATIONS, front_matter
from .models import DENSENET_INPUT_SIZE, build_model
from .registry import REGISTRY_ENV, register_weights, registry_dir
from .toolbox_reference import TOOLBOX_ARCH_NAMES, build_toolbox_model
from .weights import WeightsSpec, get_weights, load_manifest, write_manifest_entry

SOURCE = "original-release-converted"
#: The manifest's ``license`` of converted weights: they carry the toolbox's terms.
LICENSE = "SEN12MS toolbox licence: evaluation, education and research only; no commercial use"
LICENSE_URL = "https://github.com/schmitt-muc/SEN12MS/blob/master/LICENSE.txt"
#: Largest tolerated logit difference between original and converted network (float32).
TOLERANCE = 1e-6
#: Input side of the proof for ResNet50 (any size works; every weight takes part at 64x64).
RESNET_PROOF_SIZE = 64
PROOF_BATCH = 2
PROOF_SEED = 0

_HEADS = {"resnet50": ("FC.weight", 2048), "densenet121": ("classifier.weight", 1024 * 8 * 8)}
_RESNET_DUPLICATE = ("conv1.weight", "encoder.0.weight")
#: The DenseNet121 wrapper's ``encoder`` Sequential: torchvision's feature names in index order.
_DENSENET_ENCODER = (
    "conv0",
    "norm0",
    "relu0",
    "pool0",
    "denseblock1",
    "transition1",
    "denseblock2",
    "transition2",
    "denseblock3",
    "transition3",
    "denseblock4",
    "norm5",
)
#: (toolbox key prefix, package key prefix) per architecture; a key matching none is left over.
_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "resnet50": (
        ("encoder.0.", "conv1."),
        ("encoder.1.", "bn1."),
        ("encoder.4.", "layer1."),
        ("encoder.5.", "layer2."),
        ("encoder.6.", "layer3."),
        ("encoder.7.", "layer4."),
        ("FC.", "fc."),
    ),
    "densenet121": (
        *((f"encoder.{index}.", f"features.{name}.") for index, name in enumerate(_DENSENET_ENCODER)),
        ("classifier.", "classifier."),
    ),
}


def _numpy_scalar_globals() -> list[Any]:
    """What a pickled numpy scalar needs (``best_prec`` is sklearn's numpy float): data, not code.

    The reconstructor is allowed under numpy 1's and numpy 2's module names, because the
    released files were written with numpy 1.
    """
    scalar = np.float64(0).__reduce__()[0]
    dtypes = {type(np.dtype(code)) for code in "?" + np.typecodes["AllInteger"] + np.typecodes["Float"]}
    named = [(scalar, f"numpy.{core}.multiarray.scalar") for core in ("core", "_core")]
    return [*named, np.dtype, *dtypes]


@dataclass(frozen=True)
class ToolboxCheckpoint:
    """A toolbox checkpoint as read: its state dict and what its tensors say it is."""

    path: Path
    sha256: str
    state: dict[str, torch.Tensor]
    arch: str
    in_chans: int
    num_classes: int
    epoch: int | None
    best_prec: float | None


@dataclass(frozen=True)
class Conversion:
    """The outcome of ``convert_checkpoint``: the entry written, its files, the proof's figure."""

    checkpoint: ToolboxCheckpoint
    spec: WeightsSpec
    weights: Path
    manifest: Path
    card: Path
    max_abs_diff: float
    registered: Path | None


def read_toolbox_checkpoint(path: str | os.PathLike[str]) -> ToolboxCheckpoint:
    """Load a toolbox ``*.pth`` with ``weights_only=True`` and infer arch, channels and classes.

    Accepts the ``model_state_dict`` or ``state_dict`` key, or a bare state dict. A file that
    needs more than tensors, plain containers and numpy scalars is refused, never unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise WeightsIntegrityError(
            f"{path}: refused: it needs more than torch.load(weights_only=True) allows "
            f"({_unpickler_reason(error)}). It is not unpickled in full, since that could run "
            "arbitrary code. If it holds a whole model object, re-save it where the model's code "
            "runs as torch.save({'model_state_dict': model.state_dict()}, ...)."
        ) from error
    except (RuntimeError, EOFError, KeyError, ValueError) as error:
        raise WeightsIntegrityError(f"{path}: not a readable PyTorch checkpoint ({error})") from error
    state = _state_dict_of(path, loaded)
    arch = _infer_arch(path, state, loaded.get("arch"))
    return ToolboxCheckpoint(
        path=path,
        sha256=sha256_hex(data),
        state=state,
        arch=arch,
        in_chans=state["encoder.0.weight"].shape[1],
        num_classes=state[_HEADS[arch][0]].shape[0],
        epoch=_number(loaded.get("epoch"), int),
        best_prec=_number(loaded.get("best_prec"), float),
    )


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """The line of torch's message that names what was refused, without its allowlisting advice."""
    lines = str(error).splitlines()
    line = next((x for x in lines if "WeightsUnpickler error" in x), lines[0] if lines else repr(error))
    return line.split(" Please use", 1)[0].split("WeightsUnpickler error: ", 1)[-1].strip().rstrip(".")


def _state_dict_of(path: Path, loaded: Any) -> dict[str, torch.Tensor]:
    """The ``model_state_dict`` or ``state_dict`` entry of ``loaded``, or ``loaded`` itself."""
    if not isinstance(loaded, dict):
        raise WeightsIntegrityError(f"{path}: holds a {type(loaded).__name__}, not a checkpoint dict")
    where = next((key for key in ("model_state_dict", "state_dict") if isinstance(loaded.get(key), dict)), None)
    state = loaded if where is None else loaded[where]
    not_tensors = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        what = (
            "no 'model_state_dict' or 'state_dict' entry, and it is no state dict itself"
            if where is None
            else f"its {where!r} entry is no state dict"
        )
        raise WeightsIntegrityError(f"{path}: {what} (non-tensor entries {format_names(not_tensors)})")
    return dict(state)


def _infer_arch(path: Path, state: Mapping[str, torch.Tensor], toolbox_arch: Any) -> str:
    """``resnet50`` or ``densenet121`` from the head's key and shape; anything else is refused."""
    found = [arch for arch, (key, _) in _HEADS.items() if key in state]
    stem = state.get("encoder.0.weight")
    if len(found) != 1 or stem is None or stem.ndim != 4:
        said = f" (its arch entry says {toolbox_arch!r})" if toolbox_arch is not None else ""
        raise WeightsIntegrityError(
            f"{path}: not a SEN12MS toolbox ResNet50 or DenseNet121 checkpoint{said}: expected "
            f"'encoder.0.weight' and one head of {[key for key, _ in _HEADS.values()]}, found keys "
            f"{format_names(sorted(state))}"
        )
    arch = found[0]
    key, in_features = _HEADS[arch]
    head = state[key]
    if head.ndim != 2 or head.shape[1] != in_features:
        raise WeightsIntegrityError(
            f"{path}: {key} has shape {tuple(head.shape)}, but the toolbox's {TOOLBOX_ARCH_NAMES[arch]} "
            f"head is (classes, {in_features})"
        )
    if toolbox_arch is not None and toolbox_arch != TOOLBOX_ARCH_NAMES[arch]:
        raise WeightsIntegrityError(
            f"{path}: its arch entry says {toolbox_arch!r}, its tensors are a {TOOLBOX_ARCH_NAMES[arch]}'s; "
            f"only the toolbox's {' and '.join(TOOLBOX_ARCH_NAMES.values())} convert"
        )
    return arch


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    """``value`` as ``kind`` (int or float) for display, or None if absent or not a number."""
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def check_against(checkpoint: ToolboxCheckpoint, spec: WeightsSpec) -> None:
    """Refuse a checkpoint whose tensors do not fit the user's ``--arch``/``--modality``."""
    path, stem = checkpoint.path, tuple(checkpoint.state["encoder.0.weight"].shape)
    if checkpoint.arch != spec.arch:
        key = _HEADS[checkpoint.arch][0]
        raise WeightsIntegrityError(
            f"{path} holds a toolbox {checkpoint.arch} ({key} {tuple(checkpoint.state[key].shape)}), "
            f"but --arch {spec.arch} was given"
        )
    if checkpoint.in_chans != spec.in_chans:
        fits = [m for m in MODALITIES if len(modality_bands(m)) == checkpoint.in_chans]
        hint = f"; a {checkpoint.in_chans}-channel checkpoint is --modality {' or '.join(fits)}" if fits else ""
        raise WeightsIntegrityError(
            f"{path} has a {checkpoint.in_chans}-channel first convolution (encoder.0.weight {stem}), but "
            f"--modality {spec.modality} reads {spec.in_chans} channels ({', '.join(spec.bands)}){hint}"
        )
    if checkpoint.num_classes != spec.num_classes:
        key = _HEADS[checkpoint.arch][0]
        raise WeightsIntegrityError(
            f"{path} predicts {checkpoint.num_classes} classes ({key} {tuple(checkpoint.state[key].shape)}); "
            f"only the {spec.num_classes}-class simplified IGBP scheme (the toolbox's IGBP_simple) is supported"
        )


def to_package_state_dict(checkpoint: ToolboxCheckpoint) -> dict[str, torch.Tensor]:
    """Rename the wrapper's keys to ours; refuse anything left over, missing or misshapen, by name."""
    state, path = dict(checkpoint.state), checkpoint.path
    expected = _on_meta(lambda: build_model(checkpoint.arch, checkpoint.in_chans, checkpoint.num_classes))
    expected_state = expected.state_dict()
    missing: list[str] = []
    if checkpoint.arch == "resnet50":
        duplicate, stored = _RESNET_DUPLICATE
        copy = state.pop(duplicate, None)
        if copy is None:
            missing.append(duplicate)
        elif stored in state and not torch.equal(copy, state[stored]):
            raise WeightsIntegrityError(
                f"{path}: {duplicate} and {stored} differ, but the toolbox stores the same tensor under "
                "both names; the file was modified or is not the toolbox's"
            )
    rules = _RULES[checkpoint.arch]
    converted: dict[str, torch.Tensor] = {}
    leftover: list[str] = []
    for key, tensor in state.items():
        target = _rename(key, rules)
        if target in expected_state:
            converted[target] = tensor
        else:
            leftover.append(key)
    inverse = tuple((target, source) for source, target in rules)
    missing += [f"{_rename(k, inverse)} (-> {k})" for k in expected_state if k not in converted]
    wrong = [
        f"{_rename(k, inverse)}: {tuple(v.shape)} {v.dtype}, expected {tuple(expected_state[k].shape)} "
        f"{expected_state[k].dtype}"
        for k, v in converted.items()
        if v.shape != expected_state[k].shape or v.dtype != expected_state[k].dtype
    ]
    problems = [
        f"{label} {format_names(items)}"
        for label, items in (("left over", leftover), ("missing", missing), ("mismatched", wrong))
        if items
    ]
    if problems:
        name = TOOLBOX_ARCH_NAMES[checkpoint.arch]
        raise WeightsIntegrityError(f"{path} is not exactly a toolbox {name}'s state dict: " + "; ".join(problems))
    return {key: tensor.contiguous() for key, tensor in converted.items()}


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for source, target in rules:
        if key.startswith(source):
            return target + key[len(source) :]
    return None


def _on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """Build a network without allocating or initializing weights that will be replaced."""
    with torch.device("meta"):
        return factory()


def _loaded(factory: Callable[[], nn.Module], state: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    model = _on_meta(factory)
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
    in_chans, num_classes = original["encoder.0.weight"].shape[1], original[_HEADS[arch][0]].shape[0]
    reference = _loaded(lambda: build_toolbox_model(arch, in_chans, num_classes), original, "original")
    ours = _loaded(lambda: build_model(arch, in_chans, num_classes), converted, "converted")
    size = DENSENET_INPUT_SIZE if arch == "densenet121" else RESNET_PROOF_SIZE
    generator = torch.Generator().manual_seed(PROOF_SEED)
    x = torch.randn(PROOF_BATCH, in_chans, size, size, generator=generator)
    with torch.no_grad():
        return (reference(x) - ours(x)).abs().max().item()


def convert_checkpoint(
    checkpoint: str | os.PathLike[str],
    arch: str,
    modality: str,
    label_type: str = "multi",
    output_dir: str | os.PathLike[str] = ".",
    *,
    register: bool = True,
) -> Conversion:
    """Convert a toolbox checkpoint into ``output_dir`` (safetensors, manifest entry, model card).

    Nothing is written unless every key maps and the serialized file, parsed back, reproduces the
    original network's logits within ``TOLERANCE``. ``register`` also copies the file into the
    local registry, so that ``load_model(arch, modality, label_type)`` finds it without a path.
    """
    spec, out = get_weights(arch, modality, label_type), Path(output_dir)
    _check_output_dir(out, spec, register)
    read = read_toolbox_checkpoint(checkpoint)
    check_against(read, spec)
    converted = to_package_state_dict(read)
    # One metadata entry only: safetensors writes several in random order, and the same release
    # must always give the same bytes (so that a published hash verifies anyone's conversion).
    data = save_safetensors(converted, metadata={"original_sha256": read.sha256})
    diff = logits_difference(read.state, parse_safetensors(data, out / spec.filename), read.arch)
    if not diff <= TOLERANCE:  # also refuses NaN
        raise WeightsIntegrityError(
            f"{read.path}: the converted weights change the logits by up to {diff:.3g} "
            f"(tolerance {TOLERANCE:g}); nothing was written"
        )
    out.mkdir(parents=True, exist_ok=True)
    weights, partial = out / spec.filename, out / f"{spec.filename}.partial"
    partial.write_bytes(data)  # the very bytes proven above; renamed into place whole
    partial.replace(weights)
    entry = dataclasses.replace(
        spec,
        source=SOURCE,
        revision=None,
        sha256=sha256_hex(data),
        size=len(data),
        metrics=spec.paper_metrics,
        license=LICENSE,
    )
    manifest = write_manifest_entry(entry, out / "weights_manifest.json")
    card = out / "README.md"
    card.write_text(model_card(entry, read, diff), encoding="utf-8")
    registered = None
    if register:
        register_weights(entry, weights)
        registered = registry_dir() / entry.filename
    return Conversion(read, entry, weights, manifest, card, diff, registered)


def _check_output_dir(out: Path, spec: WeightsSpec, register: bool) -> None:
    """One model per folder (it becomes one Hub repo with one model card), never the registry."""
    if register and out.resolve() == registry_dir().resolve():
        raise ValueError(f"output folder {out} is the local registry itself; write elsewhere, registering copies there")
    manifest = out / "weights_manifest.json"
    others = sorted(set(load_manifest(manifest)) - {spec.name}) if manifest.is_file() else []
    if others:
        raise ValueError(
            f"output folder {out} already holds {', '.join(others)}; use one folder per model (each is one Hub repo "
            "with its own model card)"
        )


#: The toolbox's copyright notice and licence terms, which must accompany every copy.
TOOLBOX_LICENSE_TERMS = """\
Copyright notice:

Copyright © 2021 University of the Bundeswehr, Department of Aerospace Engineering, Institute of Space Technology \
and Space Applications, Werner-Heisenberg-Weg 39, 85577 Neubiberg, Germany.
All rights reserved.
Contact: Prof. Michael Schmitt, michael.schmitt@unibw.de, +49 89 6004-4426, https://www.unibw.de/lrt9/lrt-9.3/.

License Terms:
1) You are hereby granted a royalty-free, non-exclusive license to use this software and related documentation, \
including data (the "Software"), for evaluation, educational and research purposes, to make copies (duplicates) of \
the Software and to use the same, to publish the Software, parts and copies thereof and to make it available to \
other persons.
2) The above copyright notice and the present license terms must be included in all copies, \
transmissions/disseminations and publications of the software or parts thereof.
3) Publications of any kind using the software, parts or copies thereof must contain a proper notice: The above \
copyright notice in the case of non-scientific publications, or appropriate references (see \
https://github.com/schmitt-muc/SEN12MS/#sen12ms-toolbox) in the case of scientific publications.
4) This license does not allow to use the software, parts or copies of it in a commercial context. For commercial \
uses, such as sales or marketing in particular, an individual written agreement must be concluded with the licensor.
5) Violations of these license terms will result in the termination of the license and the permission to use \
granted with it. In addition, such violations may as copyright infringements give rise to civil claims against the \
licensee and may even be subject to criminal prosecution.
6) The free granting of rights to use the software in the above-mentioned form is made without warranty. In \
particular, no guarantees are made with regard to its correctness, accuracy, completeness or usability. The Licensor \
therefore provides no warranty for the suitability of the software for a specific purpose or for the economic and \
commercial usability of the software. To the extent permitted by law, the liability of the Licensor, its legal \
representatives and vicarious agents shall be limited to damages caused intentionally or by gross negligence and \
excluded for mere financial losses and lost profits as well as damages arising in connection with the use of the \
Software. Furthermore, there shall be no liability for the infringement of third party property rights by the \
Licensee as a result of the use of the Software.
7) This License Agreement shall be governed by German law excluding the conflict of law provisions. The exclusive \
place of jurisdiction for disputes arising from or in connection with this agreement is Munich, Germany."""


def model_card(spec: WeightsSpec, checkpoint: ToolboxCheckpoint, max_abs_diff: float) -> str:
    """A Hugging Face model card (``README.md``) for converted weights: provenance, licence, citations."""
    task = "multi-label (sigmoid >= 0.5)" if spec.label_type == "multi" else "single-label (argmax)"
    size = "256x256 only (flattening head)" if spec.arch == "densenet121" else "any size; trained on 256x256"
    toolbox = TOOLBOX_ARCH_NAMES[spec.arch]
    found = f"epoch {checkpoint.epoch}" if checkpoint.epoch is not None else "epoch not recorded"
    if checkpoint.best_prec is not None:
        found += f", validation micro F1 {checkpoint.best_prec:.4f} (`best_prec`)"
    proof_size = DENSENET_INPUT_SIZE if spec.arch == "densenet121" else RESNET_PROOF_SIZE
    lines = [
        *front_matter(spec, ["license: other", "license_name: sen12ms-toolbox", f"license_link: {LICENSE_URL}"]),
        "",
        f"# {spec.name}",
        "",
        f"The SEN12MS baseline {toolbox} for `{spec.modality}` input, {task} scene classification into",
        "the 10 simplified IGBP classes, as released by the authors of the SEN12MS toolbox, converted",
        "to safetensors by `sen12ms-models convert` (no retraining: the very weights they published).",
        "",
        "## Use",
        "",
        "```python",
        "import sen12ms_models as sm",
        "",
        f'model = sm.load_model("{spec.arch}", "{spec.modality}", "{spec.label_type}", weights="{spec.filename}")',
        "```",
        "",
        f"- Input: {spec.in_chans} channels in this order: {', '.join(spec.bands)}; {size}.",
        "- Preprocessing: S1 NaN -> 0 and clipped to [-25, 0] dB; then `(x - mean) / std` per channel",
        f"  with mean {list(spec.mean)} and std {list(spec.std)} (`spec.transforms`).",
        f"- Output: 10 logits; {task}.",
        "",
        "## Provenance",
        "",
        f"- Original file: `{checkpoint.path.name}`, sha256 `{checkpoint.sha256}` ({found}).",
        f"- This file: `{spec.filename}`, sha256 `{spec.sha256}`, {spec.size} bytes.",
        f"- Exactness: the original state dict in a re-statement of the toolbox's {toolbox} wrapper and",
        f"  this file in `sen12ms_models` give logits differing by at most {max_abs_diff:.3g} (float32,",
        f"  eval mode, {PROOF_BATCH} seeded N(0, 1) inputs of {proof_size}x{proof_size}; tolerance {TOLERANCE:g}).",
        *_metrics_section(spec),
        "",
        "## Licence",
        "",
        "These weights are the SEN12MS toolbox's and carry its terms: evaluation, educational and",
        "research use only, **no commercial use** without a written agreement with the licensor. The",
        "terms require this notice in every copy:",
        "",
        *(f"> {line}" if line else ">" for line in TOOLBOX_LICENSE_TERMS.splitlines()),
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATIONS,
        "```",
        "",
    ]
    return "\n".join(lines)


def _metrics_section(spec: WeightsSpec) -> list[str]:
    if not spec.metrics:
        return ["", "The paper reports no test metrics for this model (its Table 4 is multi-label rgb/s2/s1s2)."]
    metrics = spec.metrics
    rows = [f"| {name} | {value} |" for name, value in metrics["per_class_f1"].items()]
    return [
        "",
        f"## Test metrics ({metrics['reference']})",
        "",
        f"F1 in %, {metrics['split']}.",
        "",
        "| class | F1 |",
        "|---|---|",
        *rows,
        f"| **Average F1** (macro) | {metrics['average_f1']} |",
        f"| **Overall F1** (micro) | {metrics['overall_f1']} |",
    ]


def register_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``convert`` to the ``sen12ms-models`` parser."""
    from .cli import add_model_arguments

    parser = commands.add_parser(
        "convert",
        help="convert a SEN12MS toolbox checkpoint (*_model_best.pth) into verified safetensors weights",
        description=(
            "Read a checkpoint released with the SEN12MS toolbox with torch.load(weights_only=True) "
            "(never a full unpickle), map its keys onto this package's models, prove on a seeded "
            f"random input that the logits are unchanged (max abs difference <= {TOLERANCE:g}), and write "
            "OUT_DIR/<model>.safetensors, OUT_DIR/weights_manifest.json (the entry, "
            f"source={SOURCE}) and OUT_DIR/README.md (model card with the toolbox's non-commercial "
            "licence terms and citations). --arch and --modality are checked against the tensors; "
            "--label-type cannot be, so give the one the checkpoint was trained for."
        ),
    )
    parser.add_argument("checkpoint", type=Path, help="the toolbox's .pth file")
    add_model_arguments(parser)
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        required=True,
        metavar="OUT_DIR",
        help="folder for this one model's files (created; one model per folder)",
    )
    parser.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "also copy the file into the local registry, so that load_model(arch, modality, label_type) "
            f"and `predict` find it without a path and verify its sha256; the registry is ${REGISTRY_ENV} "
            "if set, else $HF_HOME/sen12ms_models; replaces what was registered for that model before "
            "(default: on; --no-register writes OUT_DIR only)"
        ),
    )
    parser.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    result = convert_checkpoint(
        args.checkpoint, args.arch, args.modality, args.label_type, args.output_dir, register=args.register
    )
    read, spec = result.checkpoint, result.spec
    print(
        f"read {read.path}: toolbox {TOOLBOX_ARCH_NAMES[read.arch]}, {read.in_chans} input channels, "
        f"{read.num_classes} classes, epoch {read.epoch}, best_prec {read.best_prec}"
    )
    print(f"exactness: max |logit difference| = {result.max_abs_diff:.3g} (tolerance {TOLERANCE:g})")
    print(f"wrote {result.weights} (sha256 {spec.sha256}, {spec.size} bytes), {result.manifest}, {result.card}")
    if result.registered is not None:
        print(
            f"registered {spec.name} as {result.registered}: "
            f'load_model("{spec.arch}", "{spec.modality}", "{spec.label_type}") now finds it'
        )
    print(f"licence: {LICENSE}")
    return 0
