"""``predict`` (land-cover labels of patch files) and ``map`` (a whole scene to a land-cover GeoTIFF)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sen12ms_models._types import PRECISIONS
from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.cli._common import (
    add_device_argument,
    add_input_arguments,
    add_model_arguments,
    input_options,
    named_model,
    weights_entry,
)

if TYPE_CHECKING:
    from sen12ms_models.models.base import Sen12msClassifier


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict",
        help="predict land-cover labels of Sentinel patch files",
        description="Label SEN12MS-named patch files or folders of them (the sibling s1/s2 files are found by name, "
        "in the SEN12MS tree or in the same folder), or --s1 FILE --s2 FILE pairs with any names, URLs or GDAL "
        "paths (repeat them; SEN12MS names are paired by name, others in order). Files are read batch by batch, "
        "so memory does not grow with their number.",
    )
    parser.add_argument("paths", nargs="*", help="SEN12MS patch files (any of s1/s2/lc) or folders of them")
    parser.add_argument("--s1", action="append", metavar="FILE", help="a Sentinel-1 GeoTIFF (VV, VH in dB); repeatable")
    parser.add_argument("--s2", action="append", metavar="FILE", help="a Sentinel-2 GeoTIFF (L1C DN); repeatable")
    parser.add_argument(
        "--threshold",
        type=float,
        help="multi-label threshold (default: the model's own (spec.threshold; 0.5 for the published models))",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_model_and_input_arguments(parser, skip_invalid=True)
    parser.set_defaults(func=_predict)

    mapping = commands.add_parser(
        "map",
        help="map a whole Sentinel scene to a land-cover GeoTIFF (sliding 256x256 windows)",
        description="Slide a model over a Sentinel-2 (and optionally Sentinel-1) scene and write per-class "
        "probabilities: one pixel per STRIDE x STRIDE block of the S2 grid, predicted from the 256x256 window "
        "centred on it. Windows at the scene border are shifted inward (no padding); windows with less than "
        "MIN_VALID valid pixels (fill, cloud) are written as no-data.",
    )
    mapping.add_argument("--s2", metavar="PATH", help="Sentinel-2 GeoTIFF in DN (sets the output grid)")
    mapping.add_argument("--s1", metavar="PATH", help="Sentinel-1 GeoTIFF, VV and VH in dB (reprojected if needed)")
    mapping.add_argument("-o", "--out", type=Path, required=True, metavar="PATH", help="probability GeoTIFF to write")
    mapping.add_argument("--class-map", type=Path, metavar="PATH", help="also write the argmax class map (uint8)")
    mapping.add_argument("--cloud-map", type=Path, metavar="PATH", help="also write each window's cloud share")
    mapping.add_argument(
        "--stride", type=int, default=PATCH_SIZE, help="window step = output pixel size in pixels (default %(default)s)"
    )
    mapping.add_argument("--batch-size", type=int, default=16, help="windows per model call")
    mapping.add_argument(
        "--resolution", default="window", help="window (one pixel per window, the default) or source (the S2 grid)"
    )
    mapping.add_argument("--dtype", default="float32", help="float32, or uint8 storing round(p * 255)")
    _add_model_and_input_arguments(mapping, skip_invalid=False)
    mapping.set_defaults(func=_map)


def _add_model_and_input_arguments(parser: argparse.ArgumentParser, *, skip_invalid: bool) -> None:
    parser.add_argument(
        "--weights",
        type=Path,
        metavar="PATH",
        help="a local safetensors file (any suffix), training checkpoint (.pt), or save_pretrained, convert or "
        "export folder; one that records its model (all but a bare safetensors file) needs no --model",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (strict: the published scores' arithmetic), tf32 (TF32 tensor cores, CUDA) or bf16 (autocast): "
        "%(default)s",
    )
    add_device_argument(parser)
    add_model_arguments(parser)
    add_input_arguments(parser, skip_invalid=skip_invalid)


def _model(args: argparse.Namespace) -> Sen12msClassifier:
    """The model the arguments name, or the one ``--weights`` records, optimized for inference; a name
    without published or registered weights is refused before torch loads."""
    if (named := named_model(args)) and args.weights is None:
        weights_entry(named)
    from sen12ms_models.models.api import load_model, optimize_for_inference

    if not named:
        return optimize_for_inference(load_model(args.weights, device=args.device))
    name, modality = (args.model, None) if args.model else (args.arch, args.modality)
    return optimize_for_inference(load_model(name, modality, args.label_type, weights=args.weights, device=args.device))


def _predict(args: argparse.Namespace) -> int:
    s1_paths, s2_paths = _inputs(args)
    model = _model(args)
    from sen12ms_models.prediction import predict

    result = predict(
        model,
        s1_paths or None,
        s2_paths or None,
        options=input_options(args),
        threshold=args.threshold,
        batch_size=args.batch_size,
        precision=args.precision,
        progress=None,
    )
    if args.json:
        print(json.dumps({"model": model.spec.name, **result.to_dict()}, indent=2))
    else:
        print(f"{model.spec.name}:\n{result.summary()}")
    return 0


def _inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The S1 and S2 files: ``--s1``/``--s2`` (URLs kept as given), or the siblings of SEN12MS-named paths."""
    from sen12ms_models.inputs.files import patch_files, sibling_path

    if (args.s1 or args.s2) and args.paths:
        raise ValueError("give SEN12MS paths or --s1/--s2 files, not both")
    if args.s1 or args.s2:
        s1, s2 = list(args.s1 or []), list(args.s2 or [])
        if s1 and s2 and len(s1) != len(s2):
            raise ValueError(f"give an --s1 file for each --s2 file: got {len(s1)} --s1 and {len(s2)} --s2 files")
        return s1, s2
    if not args.paths:
        raise ValueError("give patch files or folders, or --s1 FILE --s2 FILE pairs")
    patches = patch_files(args.paths)
    return [os.fspath(sibling_path(p, "s1")) for p in patches], [os.fspath(sibling_path(p, "s2")) for p in patches]


def _map(args: argparse.Namespace) -> int:
    from sen12ms_models.mapping import check_outputs, map_scene

    check_outputs([args.out, args.class_map, args.cloud_map], [args.s2, args.s1])  # before the weights load
    model = _model(args)

    names = ("s2", "s1", "out", "class_map", "cloud_map", "stride", "batch_size", "resolution", "dtype", "precision")
    print(map_scene(model, **{name: getattr(args, name) for name in names}, options=input_options(args)))
    return 0
