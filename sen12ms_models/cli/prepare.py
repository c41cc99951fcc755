"""``prepare``: pack a SEN12MS tree (or some subsets of a split) once into a store for ``train --store``.

sen12ms-models prepare --data-dir /data/SEN12MS --output /scratch/sen12ms-store --workers 15
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sen12ms_models.cli.train import add_split_arguments

SUBSETS = ("all", "train", "validation", "test")


def register(commands: argparse._SubParsersAction) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="pack a SEN12MS tree into a memory-mapped store that train --store reads (resumable)",
        description="Read every triplet once with rasterio and write it to numpy .npy arrays (10 S2 bands uint16, "
        "S1 float32, class shares): 1.83 MB per 256x256 patch. Rerun the same command to resume after a kill. "
        "Each written patch is read back and compared bit for bit.",
    )
    prepare.add_argument("--data-dir", type=Path, required=True, help="SEN12MS root (holds ROIs*_<season>/)")
    prepare.add_argument("--output", type=Path, required=True, help="store folder (created; resumed if it exists)")
    prepare.add_argument(
        "--subsets",
        nargs="+",
        choices=SUBSETS,
        default=["all"],
        help="which patches: all (every triplet but the broken one) or subsets of --split",
    )
    add_split_arguments(prepare)
    prepare.add_argument("--workers", type=int, default=0, help="reading processes (default 0: this one)")
    prepare.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")
    prepare.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from sen12ms_models.datasets.splits import make_split
    from sen12ms_models.datasets.store import prepare_store
    from sen12ms_models.datasets.tree import BROKEN_PATCHES, Sen12msIndex

    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    index = Sen12msIndex.scan(args.data_dir)
    if "all" in args.subsets:
        patches = sorted(set(index.patches) - BROKEN_PATCHES)
    else:
        split = make_split(index, args.split, seed=args.split_seed, num_validation_scenes=args.num_validation_scenes)
        patches = sorted({patch for subset in args.subsets for patch in getattr(split, subset)})
    started = time.perf_counter()
    store = prepare_store(index, args.output, patches, workers=args.workers, progress=args.progress)
    seconds = time.perf_counter() - started
    gigabytes = store.bytes_per_patch * len(store.patches) / 1e9
    print(
        f"{args.output}: {len(store.patches)} patches of {store.size}x{store.size}, {gigabytes:.2f} GB; {seconds:.1f}s"
    )
    return 0
