"""The data path against the training step: copy bandwidth, GeoTIFF loader, prepared store, step, in one run.

    python benchmarks/data_path.py [--quick] [--patches 512] [--size 256] [--workers 15] [--threads 8] [--json out.json]

On one synthetic s1s2 tree (real GeoTIFFs, page cache warm) it measures:

- the host's copy bandwidth: one-thread and ``--threads`` memcpy (numpy), and on CUDA the copy
  into pinned memory and from pinned memory to the device (GB/s);
- ``prepare``: patches/s packing the tree into a store with ``--workers`` processes;
- the GeoTIFF loader: ``make_loader`` over ``Sen12msDataset`` with ``--workers`` processes;
- the store loader: ``StoreLoader`` with ``--threads`` threads (and on CUDA, as the trainer
  uses it: each batch also copied to the device on a side stream), in patches/s and GB/s
  against memcpy;
- the trainer's step (``train_step``, the trainer's default settings) at ``--batch-size``, on a
  batch the loader already put on the device (the trainer's copy overlaps the step before).

Ratios: each loader against the fastest step measured here (>= 1.2 keeps the GPU fed with
margin), the store loader against the GeoTIFF loader, and the bytes a cold epoch must read from
disk per second at the step's rate. ``--quick``: 64x64 patches, batch 8 (minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from _util import Stepper, best_rate, loader_rate, machine, print_table, save_json, write_tree_parallel

from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader
from sen12ms_models.datasets.store import StoreDataset, StoreLoader, prepare_store
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.inputs.files import read_patch
from sen12ms_models.synthetic import DEFAULT_SCENES
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.distributed import Performance, configure_backends
from sen12ms_models.training.loop import ResumableSampler

GB = 1e9


def copy_bandwidth(threads: int, megabytes: int = 512, pinned: bool = False) -> float:
    """GB/s of copying a ``megabytes`` buffer into another (pinned on request), split over ``threads``."""
    source = np.ones(megabytes * 2**20, np.uint8)
    target = torch.empty(source.size, dtype=torch.uint8, pin_memory=pinned).numpy()
    pieces = np.array_split(np.arange(source.size), threads)
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in pieces]

    def run() -> None:
        workers = [threading.Thread(target=np.copyto, args=(target[a:b], source[a:b])) for a, b in bounds]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    return best_rate(run, source.nbytes, 5) / GB


def host_to_device_bandwidth(megabytes: int = 512) -> float:
    """GB/s of a pinned host buffer copied to the GPU."""
    host = torch.ones(megabytes * 2**20, dtype=torch.uint8).pin_memory()
    device = torch.empty_like(host, device="cuda")
    return best_rate(lambda: device.copy_(host, non_blocking=True), host.nbytes, 5) / GB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64x64 patches, batch 8, a small tree")
    parser.add_argument("--patches", type=int, help="tree size (default 512; 64 with --quick)")
    parser.add_argument("--size", type=int, help="patch size (default 256; 64 with --quick)")
    parser.add_argument("--batch-size", type=int, help="default 64 (8 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="GeoTIFF loader and prepare processes")
    parser.add_argument("--threads", type=int, default=2, help="store loader threads")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (2 with --quick)")
    parser.add_argument("--tree", type=Path, help="an existing synthetic tree to read (default: write one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    patches = args.patches or (64 if args.quick else 512)
    size = args.size or (64 if args.quick else 256)
    batch_size = args.batch_size or (8 if args.quick else 64)
    steps = 2 if args.quick else args.steps
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    configure_backends(device, deterministic=False)  # cuDNN autotuning on CUDA, as the trainer sets it
    passes = 1 if args.quick else 3
    figures: dict[str, float] = {
        "memcpy_1_thread_GBps": copy_bandwidth(1),
        f"memcpy_{args.threads}_threads_GBps": copy_bandwidth(args.threads),
    }
    if cuda:
        figures[f"to_pinned_{args.threads}_threads_GBps"] = copy_bandwidth(args.threads, pinned=True)
        figures["pinned_to_device_GBps"] = host_to_device_bandwidth()

    with tempfile.TemporaryDirectory() as folder:
        root = args.tree or Path(folder) / "tree"
        if args.tree is None:
            write_tree_parallel(root, math.ceil(patches / len(DEFAULT_SCENES)), size, args.workers)
        index = Sen12msIndex.scan(root)
        size = read_patch(index.path(index.patches[0], "s2")).array.shape[-1]
        chosen = index.patches[:patches]
        started = time.perf_counter()
        store = prepare_store(index, Path(folder) / "store", chosen, workers=args.workers, progress=False)
        figures["prepare_patches_per_s"] = len(chosen) / (time.perf_counter() - started)
        tiffs = Sen12msDataset(index, chosen, "s1s2", "multi")
        packed = StoreDataset(store, chosen, "s1s2", "multi")
        sampler = ResumableSampler(tiffs, 1, 0, seed=0)  # the trainer's shuffled order
        sampler.start_epoch(0)
        figures["geotiff_loader_patches_per_s"] = loader_rate(
            make_loader(tiffs, sampler, batch_size, args.workers, device), passes
        )
        store_loader = StoreLoader(packed, sampler, batch_size, args.threads, device, device_copy=False)
        figures["store_loader_patches_per_s"] = loader_rate(store_loader, passes)
        if cuda:  # the trainer's loader: also copies each batch to the GPU, on a side stream
            figures["store_loader_to_device_patches_per_s"] = loader_rate(
                StoreLoader(packed, sampler, batch_size, args.threads, device), passes
            )
        batch = next(iter(StoreLoader(packed, sampler, batch_size, args.threads, device)))
        stepper = Stepper("resnet50", Performance.choose(device, TrainConfig.precision), packed)  # the trainer's
        figures["step_images_per_s"] = best_rate(lambda: stepper(batch), len(batch["target"]), steps)

    per_patch = store.bytes_per_patch
    step = figures["step_images_per_s"]
    memcpy = figures[f"memcpy_{args.threads}_threads_GBps"]
    print(f"machine: {machine()}; {len(chosen)} s1s2 triplets of {size}x{size}, batch {batch_size}, {device}\n")
    print_table(
        "Copy bandwidth of this host (GB/s, best of 5, 512 MiB)",
        ("copy", "GB/s"),
        [(name.removesuffix("_GBps").replace("_", " "), value) for name, value in figures.items() if "GBps" in name],
    )
    loaders = [
        (f"GeoTIFF loader, {args.workers} processes", figures["geotiff_loader_patches_per_s"]),
        (f"store loader, {args.threads} threads", figures["store_loader_patches_per_s"]),
    ]
    if cuda:
        loaders.append(
            (f"store loader + copy to {device} (side stream)", figures["store_loader_to_device_patches_per_s"])
        )
    print_table(
        f"Loaders against the training step ({step:.4g} images/s, resnet50-s1s2, trainer's default settings on "
        f"{device}; {per_patch / 1e6:.3g} MB per patch)",
        ("loader", "patches/s", "GB/s", "of memcpy", "vs step", "vs GeoTIFF loader"),
        [
            (name, rate, rate * per_patch / GB, rate * per_patch / GB / memcpy, rate / step, rate / loaders[0][1])
            for name, rate in loaders
        ],
    )
    full = 180_662 * per_patch * (256 / size) ** 2
    prepare_rate = figures["prepare_patches_per_s"]
    print(
        f"prepare: {prepare_rate:.4g} patches/s with {args.workers} processes here; the full dataset (180,662 "
        f"triplets at 256x256) is {full / 1e9:.0f} GB of store, {180_662 / prepare_rate / 60:.0f} min at this rate.\n"
        f"A cold epoch at the step's rate reads {step * per_patch * (256 / size) ** 2 / 1e9:.2f} GB/s from disk "
        f"({per_patch * (256 / size) ** 2 / 1e6:.3g} MB per 256x256 patch)."
    )
    save_json(
        args.json,
        {"patches": len(chosen), "size": size, "batch_size": batch_size, "device": str(device), **figures},
    )


if __name__ == "__main__":
    main()
