"""``list``, ``info``, ``download`` and ``convert``: the models, and their verified weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sen12ms_models.cli._common import add_model_arguments, model_from
from sen12ms_models.weights import CONVERTED, MANIFEST_FILE, REGISTRY_ENV, get_weights, list_models


def register(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("list", help="list the models, published or registered ones marked")
    listing.add_argument("--published", action="store_true", help="only models with weights to load (Hub or registry)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_list)

    info = commands.add_parser("info", help="show one model: bands, classes, the weights file that loads and its terms")
    info.add_argument("model", help="a name from `sen12ms-models list`, e.g. resnet50-s1s2-multi")
    info.set_defaults(func=_info)

    download = commands.add_parser("download", help="download and verify one model's weights into the cache")
    download.add_argument("model", help="a name from `sen12ms-models list`")
    download.add_argument("--cache-dir", type=Path, help="cache folder (default: the Hugging Face cache)")
    download.add_argument(
        "--force", action="store_true", help="fetch a Hub file anew even if it is in the cache (not a registered file)"
    )
    download.set_defaults(func=_download)

    convert = commands.add_parser(
        "convert",
        help="convert a SEN12MS toolbox checkpoint (*_model_best.pth) into verified safetensors weights",
        description="Read a toolbox checkpoint with torch.load(weights_only=True), map its keys onto this package's "
        "models, prove the logits unchanged on a seeded input, and write OUT_DIR/<model>.safetensors, "
        f"OUT_DIR/{MANIFEST_FILE} (source={CONVERTED}) and a model card with the toolbox's licence. "
        "The file holds no label type: name the one it was trained for.",
    )
    convert.add_argument("checkpoint", type=Path, help="the toolbox's .pth file")
    add_model_arguments(convert)
    convert.add_argument(
        "-o", "--output-dir", type=Path, required=True, metavar="OUT_DIR", help="folder for this one model's files"
    )
    convert.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also copy the file into the local registry (${REGISTRY_ENV}, else $HF_HOME/sen12ms_models), so that "
        "load_model(NAME) and `predict` find it by name and verify its sha256 (default: on)",
    )
    convert.set_defaults(func=_convert)


def _list(args: argparse.Namespace) -> int:
    rows = [get_weights(name).meta for name in list_models(published_only=args.published)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<28} {'channels':>8} {'weights':>10} {'paper overall F1':>16}")
    for row in rows:
        paper = row["paper_metrics"]
        overall = paper["overall_f1"] if isinstance(paper, dict) else "-"
        print(f"{row['name']:<28} {row['in_chans']:>8} {row['weights'] or '-':>10} {overall:>16}")
    if args.published and not rows:
        print("(none: no weights are published or registered yet; `download NAME` says how to get them)")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(json.dumps(get_weights(args.model).meta, indent=2))
    return 0


def _download(args: argparse.Namespace) -> int:
    from sen12ms_models.hub.download import locate, read_verified

    path, entry = locate(get_weights(args.model), cache_dir=args.cache_dir, force_download=args.force)
    read_verified(path, entry, fetched=entry.published)  # locate gives the Hub entry for a Hub file
    said = "sha256 verified"
    if not entry.published:
        said = f"registered locally, {entry.source}; {said}; nothing to download"
    print(f"{entry.name}: {path} ({said})")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from sen12ms_models.convert.card import LICENSE
    from sen12ms_models.convert.checkpoint import convert_checkpoint
    from sen12ms_models.convert.toolbox import TOLERANCE, TOOLBOX_ARCH_NAMES

    if args.checkpoint.is_dir():
        raise ValueError(
            f"{args.checkpoint} is a folder: convert reads a SEN12MS toolbox checkpoint file (*_model_best.pth); "
            "a run folder of `sen12ms-models train` (run.json, best.pt) is exported with `sen12ms-models export RUN`"
        )
    result = convert_checkpoint(args.checkpoint, model_from(args), output_dir=args.output_dir, register=args.register)
    read, entry = result.checkpoint, result.weights_entry
    stripped = f"; removed the {read.stripped_prefix!r} prefix of every key (a DataParallel save)"
    print(
        f"read {read.path}: toolbox {TOOLBOX_ARCH_NAMES[read.arch]}, {read.in_chans} input channels, "
        f"{read.num_classes} classes, epoch {read.epoch}, best_prec {read.best_prec}"
        + (stripped if read.stripped_prefix else "")
    )
    print(f"exactness: max |logit difference| = {result.max_abs_diff:.3g} (tolerance {TOLERANCE:g})")
    print(f"wrote {result.weights} (sha256 {entry.sha256}, {entry.size} bytes), {result.manifest}, {result.card}")
    if result.registered is not None:
        print(f'registered {entry.name} as {result.registered}: load_model("{entry.name}") now finds it')
    print(f"licence: {LICENSE}")
    return 0
