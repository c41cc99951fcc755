"""``convert``: a SEN12MS toolbox checkpoint into verified safetensors weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from sen12ms_models.cli._common import add_model_arguments, model_from
from sen12ms_models.hub.manifest import CONVERTED, MANIFEST_FILE
from sen12ms_models.hub.registry import REGISTRY_ENV


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "convert",
        help="convert a SEN12MS toolbox checkpoint (*_model_best.pth) into verified safetensors weights",
        description=(
            "Read a checkpoint released with the SEN12MS toolbox with torch.load(weights_only=True) "
            "(never a full unpickle), map its keys onto this package's models, prove on a seeded "
            f"random input that the logits are unchanged (within the tolerance it prints), and write "
            f"OUT_DIR/<model>.safetensors, OUT_DIR/{MANIFEST_FILE} (the entry, "
            f"source={CONVERTED}) and OUT_DIR/README.md (model card with the toolbox's non-commercial "
            "licence terms and citations). The model's architecture and channels are checked against "
            "the tensors; its label type cannot be, so name the one the checkpoint was trained for."
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
            "also copy the file into the local registry, so that load_model(NAME) "
            f"and `predict` find it without a path and verify its sha256; the registry is ${REGISTRY_ENV} "
            "if set, else $HF_HOME/sen12ms_models; replaces what was registered for that model before "
            "(default: on; --no-register writes OUT_DIR only)"
        ),
    )
    parser.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    from sen12ms_models.convert.card import LICENSE
    from sen12ms_models.convert.proof import TOLERANCE
    from sen12ms_models.convert.release import convert_checkpoint
    from sen12ms_models.convert.toolbox_reference import TOOLBOX_ARCH_NAMES

    result = convert_checkpoint(args.checkpoint, model_from(args), output_dir=args.output_dir, register=args.register)
    read, spec = result.checkpoint, result.spec
    print(
        f"read {read.path}: toolbox {TOOLBOX_ARCH_NAMES[read.arch]}, {read.in_chans} input channels, "
        f"{read.num_classes} classes, epoch {read.epoch}, best_prec {read.best_prec}"
        + (
            f"; removed the {read.stripped_prefix!r} prefix of every key (a DataParallel save)"
            if read.stripped_prefix
            else ""
        )
    )
    print(f"exactness: max |logit difference| = {result.max_abs_diff:.3g} (tolerance {TOLERANCE:g})")
    print(f"wrote {result.weights} (sha256 {spec.sha256}, {spec.size} bytes), {result.manifest}, {result.card}")
    if result.registered is not None:
        print(f'registered {spec.name} as {result.registered}: load_model("{spec.name}") now finds it')
    print(f"licence: {LICENSE}")
    return 0
