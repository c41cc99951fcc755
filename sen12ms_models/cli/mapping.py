"""``map``: a whole Sentinel scene to a georeferenced land-cover GeoTIFF."""

from __future__ import annotations

import argparse
from pathlib import Path

from sen12ms_models.bands import PATCH_SIZE, S2_BANDS
from sen12ms_models.cli._common import add_device_argument, add_model_arguments, model_from
from sen12ms_models.cli.predict import add_input_arguments
from sen12ms_models.mapping.options import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NODATA, OUTPUT_DTYPES, RESOLUTIONS


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "map",
        help="map a whole Sentinel scene to a land-cover GeoTIFF (sliding 256x256 windows)",
        description=(
            "Slide a model over a Sentinel-2 (and optionally Sentinel-1) scene and write per-class "
            "probabilities: one pixel per STRIDE x STRIDE block of the S2 grid, predicted from the "
            "256x256 window centred on it. Windows at the scene border are shifted inward (no "
            "padding); windows with more than MAX_NODATA no-data pixels are written as no-data."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument("--weights", type=Path, metavar="PATH", help="a local .safetensors file instead of the Hub's")
    parser.add_argument("--s2", type=Path, metavar="PATH", help="Sentinel-2 GeoTIFF in DN (sets the output grid)")
    parser.add_argument(
        "--s1", type=Path, metavar="PATH", help="Sentinel-1 GeoTIFF, VV and VH in dB (reprojected if on another grid)"
    )
    parser.add_argument(
        "-o", "--out", type=Path, required=True, metavar="PATH", help="probability GeoTIFF to write (a band per class)"
    )
    parser.add_argument(
        "--class-map", type=Path, metavar="PATH", help="also write the argmax class map (uint8, colour table)"
    )
    parser.add_argument("--stride", type=int, default=PATCH_SIZE, help="window step = output pixel size, in pixels")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="windows per model call")
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, default="window", help="one pixel per window, or the S2 grid itself"
    )
    parser.add_argument("--dtype", choices=OUTPUT_DTYPES, default="float32", help="uint8 stores round(p * 255)")
    parser.add_argument(
        "--max-nodata",
        type=float,
        default=DEFAULT_MAX_NODATA,
        help=f"skip windows with a larger no-data fraction (default {DEFAULT_MAX_NODATA})",
    )
    add_input_arguments(parser, min_valid=False)
    add_device_argument(parser)
    parser.set_defaults(func=_map)


def _map(args: argparse.Namespace) -> int:
    from sen12ms_models.mapping.scene import map_scene
    from sen12ms_models.models._api import load_model
    from sen12ms_models.models.optimize import optimize_for_inference

    model = optimize_for_inference(load_model(model_from(args), weights=args.weights, device=args.device))
    result = map_scene(
        model,
        s2=args.s2,
        s1=args.s1,
        out=args.out,
        class_map=args.class_map,
        stride=args.stride,
        batch_size=args.batch_size,
        resolution=args.resolution,
        dtype=args.dtype,
        s2_bands=args.s2_bands or S2_BANDS,
        max_nodata=args.max_nodata,
        s2_offset=args.s2_offset,
        check_units=args.check_units,
    )
    print(result)
    return 0
