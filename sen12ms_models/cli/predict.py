"""``predict``: land-cover labels of SEN12MS patch files."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from sen12ms_models.cli._common import add_device_argument, add_model_arguments, model_from


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("predict", help="predict land-cover labels of SEN12MS patch files")
    parser.add_argument("paths", nargs="+", type=Path, help="patch files (any of s1/s2/lc) or folders of them")
    add_model_arguments(parser)
    parser.add_argument("--weights", type=Path, help="a local .safetensors file instead of the Hub's")
    parser.add_argument("--threshold", type=float, help="multi-label decision threshold (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=32)
    add_device_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from sen12ms_models.datasets.tree import sibling_path
    from sen12ms_models.models._api import load_model
    from sen12ms_models.models.optimize import optimize_for_inference
    from sen12ms_models.prediction import predict

    name = model_from(args)
    patches = _collect_patches(args.paths)
    model = optimize_for_inference(load_model(name, weights=args.weights, device=args.device))
    assert model.spec is not None
    transform = model.spec.transforms
    s1 = [sibling_path(path, "s1") for path in patches] if transform.s1_bands_used else None
    s2 = [sibling_path(path, "s2") for path in patches] if transform.s2_bands_used else None
    result = predict(
        model, s1, s2, threshold=args.threshold, batch_size=args.batch_size, progress=len(patches) > args.batch_size
    )
    if args.json:
        print(json.dumps({"model": name, **result.to_dict()}, indent=2))
    else:
        print(f"{name}:")
        print(result)
    return 0


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
