"""Arguments several commands share: which model, on which device."""

from __future__ import annotations

import argparse

from sen12ms_models.bands import MODALITIES
from sen12ms_models.labels import LABEL_TYPES
from sen12ms_models.models.spec import ARCHITECTURE_NAMES, parse_model_name


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model NAME``, or the three-part ``--arch``, ``--modality``, ``--label-type``."""
    group = parser.add_argument_group("model (give --model, or --arch and --modality)")
    group.add_argument("--model", metavar="NAME", help="a name from `sen12ms-models list`, e.g. resnet50-s1s2-multi")
    group.add_argument("--arch", choices=ARCHITECTURE_NAMES)
    group.add_argument("--modality", choices=MODALITIES)
    group.add_argument("--label-type", choices=LABEL_TYPES, help="default: multi")


def model_from(args: argparse.Namespace) -> str:
    """The full model name the arguments give; ``ValueError`` when they give none or two."""
    if args.model and (args.arch or args.modality):
        raise ValueError("give either --model or --arch/--modality, not both")
    if args.model:
        return parse_model_name(args.model, label_type=args.label_type)
    if args.arch and args.modality:
        return parse_model_name(args.arch, args.modality, args.label_type)
    raise ValueError("name the model: --model NAME (see `sen12ms-models list`), or --arch ARCH --modality MODALITY")


def add_device_argument(parser: argparse.ArgumentParser, default: str = "cpu") -> None:
    parser.add_argument("--device", default=default, help="torch device, e.g. cpu, cuda or cuda:1")
