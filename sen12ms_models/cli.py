"""The ``sen12ms-models`` command line: list, info, download and predict (plus the commands of
the training, conversion and mapping modules, which register themselves in ``build_parser``).

Every subcommand is an argparse parser whose ``func`` takes the parsed namespace and returns
an exit code, so ``docs/cli.md`` can be generated from these definitions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .bands import MODALITIES
from .errors import Sen12msError
from .io import PatchId, sibling_path
from .models import ARCHITECTURES
from .weights import LABEL_TYPES, WeightsSpec, get_weights, load_manifest


def build_parser() -> argparse.ArgumentParser:
    """The full ``sen12ms-models`` parser (used by ``main`` and the docs generator)."""
    from .convert import register_commands as convert_commands
    from .mapping import register_commands as mapping_commands
    from .training.cli import register_commands as training_commands

    parser = argparse.ArgumentParser(
        prog="sen12ms-models",
        description="Verified, pretrained SEN12MS scene classifiers: list, download, predict, train.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _register_core_commands(commands)
    for register in (convert_commands, mapping_commands, training_commands):
        register(commands)
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--arch``, ``--modality``, ``--label-type``: the three keys of a manifest entry."""
    parser.add_argument("--arch", required=True, choices=tuple(ARCHITECTURES))
    parser.add_argument("--modality", required=True, choices=MODALITIES)
    parser.add_argument("--label-type", default="multi", choices=LABEL_TYPES)


def _register_core_commands(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("list", help="list the models of the weights manifest")
    listing.add_argument("--published", action="store_true", help="only models with published weights")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_list)

    info = commands.add_parser("info", help="show one model's manifest entry")
    info.add_argument("model", help="a name from `sen12ms-models list`, e.g. resnet50-s1s2-multi")
    info.set_defaults(func=_info)

    download = commands.add_parser("download", help="download and verify one model's weights into the cache")
    download.add_argument("model", help="a name from `sen12ms-models list`")
    download.add_argument("--cache-dir", type=Path, help="cache folder (default: the Hugging Face cache)")
    download.set_defaults(func=_download)

    predict = commands.add_parser("predict", help="predict land-cover labels of SEN12MS patch files")
    predict.add_argument("paths", nargs="+", type=Path, help="patch files (any of s1/s2/lc) or folders of them")
    add_model_arguments(predict)
    predict.add_argument("--weights", type=Path, help="a local .safetensors file instead of the Hub's")
    predict.add_argument("--threshold", type=float, help="multi-label decision threshold (default 0.5)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict.set_defaults(func=_predict)


def _list(args: argparse.Namespace) -> int:
    specs = sorted(load_manifest().values(), key=lambda s: s.name)
    if args.published:
        specs = [s for s in specs if s.published]
    if args.json:
        print(json.dumps([{"name": s.name, **s.to_json()} for s in specs], indent=2))
        return 0
    print(f"{'model':<28} {'channels':>8} {'published':>9} {'paper overall F1':>16}")
    for s in specs:
        paper = s.paper_metrics["overall_f1"] if s.paper_metrics else "-"
        print(f"{s.name:<28} {s.in_chans:>8} {'yes' if s.published else 'no':>9} {paper:>16}")
    return 0


def _spec_by_name(name: str) -> WeightsSpec:
    arch, _, rest = name.partition("-")
    modality, _, label_type = rest.partition("-")
    return get_weights(arch, modality, label_type or "multi")


def _info(args: argparse.Namespace) -> int:
    spec = _spec_by_name(args.model)
    print(json.dumps({"name": spec.name, "published": spec.published, **spec.to_json()}, indent=2))
    return 0


def _download(args: argparse.Namespace) -> int:
    from .download import fetch_weights, read_verified_bytes

    spec = _spec_by_name(args.model)
    path = fetch_weights(spec, cache_dir=args.cache_dir)
    read_verified_bytes(path, sha256=spec.sha256, size=spec.size, name=spec.name)  # type: ignore[arg-type]
    print(f"{spec.name}: {path} (sha256 verified)")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .loading import load_model
    from .models import optimize_for_inference
    from .predict import predict

    spec = get_weights(args.arch, args.modality, args.label_type)
    patches = _collect_patches(args.paths)
    model = optimize_for_inference(
        load_model(args.arch, args.modality, args.label_type, weights=args.weights, device=args.device)
    )
    s1 = [sibling_path(path, "s1") for path in patches] if spec.transforms.s1_bands_used else None
    s2 = [sibling_path(path, "s2") for path in patches] if spec.transforms.s2_bands_used else None
    result = predict(
        model, s1, s2, threshold=args.threshold, batch_size=args.batch_size, progress=len(patches) > args.batch_size
    )
    if args.json:
        print(json.dumps({"model": spec.name, **result.to_dict()}, indent=2))
    else:
        print(f"{spec.name}:")
        print(result)
    return 0


def _collect_patches(paths: Sequence[Path]) -> list[Path]:
    """One file per triplet from files and folders, in a stable order; names must be SEN12MS's."""
    found: dict[PatchId, Path] = {}
    for path in paths:
        files = sorted(path.rglob("*.tif")) if path.is_dir() else [path]
        for file in files:
            found.setdefault(PatchId.from_path(file), file)
    if not found:
        raise FileNotFoundError(f"no SEN12MS .tif file in {', '.join(map(str, paths))}")
    return [found[key] for key in sorted(found)]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sen12ms-models`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (Sen12msError, OSError, ValueError) as error:  # OSError: files, and the Hub's HTTP errors
        print(f"sen12ms-models {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
