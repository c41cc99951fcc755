"""``list``, ``info`` and ``download``: what models there are, and their verified weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sen12ms_models.models.spec import get_weights, known_models, list_models


def register(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("list", help="list the models, published or registered ones marked")
    listing.add_argument(
        "--published", action="store_true", help="only models with weights to load (on the Hub or registered)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_list)

    info = commands.add_parser("info", help="show one model: bands, classes, weights file and where it comes from")
    info.add_argument("model", help="a name from `sen12ms-models list`, e.g. resnet50-s1s2-multi")
    info.set_defaults(func=_info)

    download = commands.add_parser("download", help="download and verify one model's weights into the cache")
    download.add_argument("model", help="a name from `sen12ms-models list`")
    download.add_argument("--cache-dir", type=Path, help="cache folder (default: the Hugging Face cache)")
    download.set_defaults(func=_download)


def _describe(name: str) -> dict[str, object]:
    """A model's description, with the local registry's file when it has one."""
    from sen12ms_models.hub.registry import find_registered

    description = get_weights(name).describe()
    registered = find_registered(name)
    if registered is not None:
        entry, path = registered
        description["registered"] = {"path": str(path), **entry.to_json()}
    return description


def _list(args: argparse.Namespace) -> int:
    loadable = set(list_models(published_only=True))
    names = sorted(loadable) if args.published else known_models()
    rows = [_describe(name) for name in names]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<28} {'channels':>8} {'weights':>10} {'paper overall F1':>16}")
    for row in rows:
        paper = row["paper_metrics"]
        weights = "hub" if row["published"] else "registered" if "registered" in row else "-"
        overall = paper["overall_f1"] if isinstance(paper, dict) else "-"
        print(f"{row['name']:<28} {row['in_chans']:>8} {weights:>10} {overall:>16}")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(json.dumps(_describe(args.model), indent=2))
    return 0


def _download(args: argparse.Namespace) -> int:
    from sen12ms_models.hub.download import fetch_weights, not_published_error
    from sen12ms_models.hub.registry import find_registered
    from sen12ms_models.hub.verify import read_verified_bytes

    spec = get_weights(args.model)
    if spec.published:
        assert spec.sha256 is not None
        path = fetch_weights(spec, cache_dir=args.cache_dir)
        read_verified_bytes(path, sha256=spec.sha256, size=spec.size, name=spec.name)
        print(f"{spec.name}: {path} (sha256 verified)")
        return 0
    registered = find_registered(spec.name)
    if registered is None:
        raise not_published_error(spec)
    entry, path = registered
    assert entry.sha256 is not None
    read_verified_bytes(path, sha256=entry.sha256, size=entry.size, name=spec.name)
    print(f"{spec.name}: {path} (registered locally, {entry.source}; sha256 verified; nothing to download)")
    return 0
