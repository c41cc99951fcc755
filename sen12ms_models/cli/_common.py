"""Arguments several commands share: which model, how to read real Sentinel data, which device."""

from __future__ import annotations

import argparse
import dataclasses

from sen12ms_models.bands import MODALITIES, parse_bands
from sen12ms_models.inputs.options import MIN_VALID, InputOptions
from sen12ms_models.labels import LABEL_TYPES
from sen12ms_models.weights import ARCHITECTURES, ManifestEntry, get_weights, parse_model_name


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model NAME``, or the three-part ``--arch``, ``--modality``, ``--label-type``."""
    group = parser.add_argument_group("model (give --model, or --arch and --modality)")
    group.add_argument("--model", metavar="NAME", help="a name from `sen12ms-models list`, e.g. resnet50-s1s2-multi")
    group.add_argument("--arch", choices=ARCHITECTURES)
    group.add_argument("--modality", choices=MODALITIES)
    group.add_argument("--label-type", choices=LABEL_TYPES, help="default: multi")


def named_model(args: argparse.Namespace) -> str | None:
    """``model_from``'s name, or ``None`` for ``--weights`` alone (a file or folder that records its model)."""
    return None if args.weights is not None and not (args.model or args.arch or args.modality) else model_from(args)


def model_from(args: argparse.Namespace) -> str:
    """The full model name the arguments give; ``ValueError`` when they give none or two."""
    if args.model and (args.arch or args.modality):
        raise ValueError("give either --model or --arch/--modality, not both")
    if args.model:
        return parse_model_name(args.model, label_type=args.label_type)
    if args.arch and args.modality:
        return parse_model_name(args.arch, args.modality, args.label_type)
    raise ValueError("name the model: --model NAME (see `sen12ms-models list`), or --arch ARCH --modality MODALITY")


def weights_entry(name: str) -> ManifestEntry:
    """The entry of ``name``'s published file, else of its registered one; ``WeightsNotPublishedError`` if none."""
    from sen12ms_models.hub.download import not_published_error

    weights = get_weights(name)
    if (entry := weights.loadable) is None:
        raise not_published_error(weights)
    return entry


def add_input_arguments(parser: argparse.ArgumentParser, *, skip_invalid: bool) -> None:
    """How to read real Sentinel data: the ``InputOptions`` fields (``--skip-invalid`` if asked), unset unless given."""
    group = parser.add_argument_group(
        "real Sentinel data (see docs/reliability.md)", argument_default=argparse.SUPPRESS
    )
    group.add_argument(
        "--s2-offset",
        type=float,
        metavar="DN",
        help="subtract DN from S2: 1000 for processing baseline >= 04.00 (products since 25 Jan 2022) "
        "when the file does not declare the offset itself",
    )
    group.add_argument(
        "--s2-bands",
        type=parse_bands,
        metavar="NAMES",
        help="the S2 files' band names in order, comma-separated, or a list of sen12ms_models.bands such "
        "as L2A_BANDS or EUROSAT_BANDS (default: the 13 SEN12MS bands; band descriptions in the file win)",
    )
    group.add_argument(
        "--s1-bands", type=parse_bands, metavar="NAMES", help="the S1 files' band order when not VV,VH (e.g. VH,VV)"
    )
    group.add_argument(
        "--no-unit-check",
        dest="check_units",
        action="store_false",
        help="accept the input the unit checks refuse (InputOptions.check_units lists them: reflectance or "
        "8-bit S2, linear S1, ...)",
    )
    group.add_argument("--no-clouds", dest="clouds", action="store_false", help="do not look for clouds in S2")
    group.add_argument(
        "--min-valid",
        type=float,
        metavar="FRACTION",
        help=f"smallest share of valid (not fill, not cloud) pixels to label a patch from (default {MIN_VALID})",
    )
    if skip_invalid:
        group.add_argument(
            "--skip-invalid", action="store_true", help="give patches below --min-valid no label instead of an error"
        )


def input_options(args: argparse.Namespace) -> InputOptions:
    """The ``InputOptions`` of the ``add_input_arguments`` given, its defaults for the others."""
    fields = {field.name for field in dataclasses.fields(InputOptions)}
    return InputOptions(**{name: value for name, value in vars(args).items() if name in fields})


def add_device_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    parser.add_argument("--device", default=default, help="auto (a GPU if there is one, else CPU), cpu, cuda, cuda:1")
