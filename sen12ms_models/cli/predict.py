"""``predict``: land-cover labels of Sentinel patch files (SEN12MS-named, or ``--s1``/``--s2`` pairs)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from sen12ms_models.cli._common import add_device_argument, add_model_arguments, model_from
from sen12ms_models.inputs.defaults import MIN_VALID
from sen12ms_models.labels import DECISION_THRESHOLD


def band_list(text: str) -> tuple[str, ...]:
    """``B1,B2,...`` or the name of a ready-made list in ``sen12ms_models.bands`` (``L2A_BANDS``)."""
    from sen12ms_models import bands

    named = getattr(bands, text.strip().upper(), None)
    if text.strip().upper().endswith("_BANDS") and isinstance(named, tuple):
        return named
    return tuple(b.strip() for b in text.split(",") if b.strip())


def add_input_arguments(parser: argparse.ArgumentParser, *, min_valid: bool) -> None:
    """How to read real Sentinel data: offset, band order, unit checks (and no-data for predict)."""
    group = parser.add_argument_group("real Sentinel data (see docs/reliability.md)")
    group.add_argument(
        "--s2-offset",
        type=float,
        default=0.0,
        metavar="DN",
        help="subtract DN from S2: 1000 for processing baseline >= 04.00 (products since 25 Jan 2022) "
        "when the file does not declare the offset itself",
    )
    group.add_argument(
        "--s2-bands",
        type=band_list,
        metavar="NAMES",
        help="the S2 files' band names in order, comma-separated, or a list of sen12ms_models.bands such "
        "as L2A_BANDS or EUROSAT_BANDS (default: the 13 SEN12MS bands; band descriptions in the file win)",
    )
    group.add_argument(
        "--no-unit-check",
        dest="check_units",
        action="store_false",
        help="accept S2 that looks like reflectance or 8-bit and S1 that looks linear (refused by default)",
    )
    if min_valid:
        group.add_argument(
            "--min-valid",
            type=float,
            default=MIN_VALID,
            metavar="FRACTION",
            help=f"refuse patches with a smaller share of valid (non-fill) pixels (default {MIN_VALID}; 0: none)",
        )


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="predict land-cover labels of Sentinel patch files",
        description=(
            "Label SEN12MS-named patch files or folders of them (the sibling s1/s2 files are found by name), "
            "or --s1 FILE --s2 FILE pairs with any file names (repeat them; paired in order). Files are read "
            "batch by batch, so memory does not grow with their number."
        ),
    )
    parser.add_argument("paths", nargs="*", type=Path, help="SEN12MS patch files (any of s1/s2/lc) or folders of them")
    parser.add_argument(
        "--s1", action="append", type=Path, metavar="FILE", help="a Sentinel-1 GeoTIFF (VV, VH in dB); repeatable"
    )
    parser.add_argument(
        "--s2", action="append", type=Path, metavar="FILE", help="a Sentinel-2 GeoTIFF (DN); repeatable"
    )
    add_model_arguments(parser)
    parser.add_argument("--weights", type=Path, help="a local .safetensors file instead of the Hub's")
    parser.add_argument(
        "--threshold", type=float, help=f"multi-label decision threshold (default {DECISION_THRESHOLD})"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    add_input_arguments(parser, min_valid=True)
    add_device_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from sen12ms_models.models._api import load_model
    from sen12ms_models.models.optimize import optimize_for_inference
    from sen12ms_models.prediction import predict

    name = model_from(args)
    s1_paths, s2_paths = _inputs(args)
    model = optimize_for_inference(load_model(name, weights=args.weights, device=args.device))
    assert model.spec is not None
    transform = model.spec.transforms
    s1 = s1_paths if transform.s1_bands_used else None
    s2 = s2_paths if transform.s2_bands_used else None
    for sensor, paths, needed in (("s1", s1_paths, transform.s1_bands_used), ("s2", s2_paths, transform.s2_bands_used)):
        if needed and not paths:
            raise ValueError(f"{name} reads {sensor} bands {list(needed)}: give --{sensor} FILE for every patch")
    count = len(s2 or s1 or [])
    result = predict(
        model,
        s1,
        s2,
        threshold=args.threshold,
        batch_size=args.batch_size,
        progress=count > args.batch_size,
        s2_offset=args.s2_offset,
        s2_bands=args.s2_bands,
        check_units=args.check_units,
        min_valid=args.min_valid,
    )
    if args.json:
        print(json.dumps({"model": name, **result.to_dict()}, indent=2))
    else:
        print(f"{name}:")
        print(result)
    return 0


def _inputs(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """The S1 and S2 files: ``--s1``/``--s2`` pairs, or the siblings of SEN12MS-named paths."""
    from sen12ms_models.datasets.tree import sibling_path

    explicit = bool(args.s1 or args.s2)
    if explicit and args.paths:
        raise ValueError("give SEN12MS paths or --s1/--s2 files, not both")
    if explicit:
        s1, s2 = list(args.s1 or []), list(args.s2 or [])
        if s1 and s2 and len(s1) != len(s2):
            raise ValueError(f"--s1 and --s2 are paired in order: got {len(s1)} --s1 and {len(s2)} --s2 files")
        return s1, s2
    if not args.paths:
        raise ValueError("give patch files or folders, or --s1 FILE --s2 FILE pairs")
    patches = _collect_patches(args.paths)
    return [sibling_path(p, "s1") for p in patches], [sibling_path(p, "s2") for p in patches]


def _collect_patches(paths: Sequence[Path]) -> list[Path]:
    """One file per triplet from files and folders, in a stable order; names must be SEN12MS's."""
    from sen12ms_models.datasets.tree import PatchId

    found: dict[PatchId, Path] = {}
    for path in paths:
        files = sorted(path.rglob("*.tif")) if path.is_dir() else [path]
        for file in files:
            found.setdefault(PatchId.from_path(file), file)
    if not found:
        raise FileNotFoundError(f"no SEN12MS .tif file in {', '.join(map(str, paths))}")
    return [found[key] for key in sorted(found)]
