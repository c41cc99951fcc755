"""Data loading: patches/s through a DataLoader, our training dataset vs torchgeo's SEN12MS.

    python benchmarks/data_loading.py [--quick] [--workers 0 1 2] [--json out.json]

Both read the same generated SEN12MS tree (real 256x256 GeoTIFFs, s1s2). torchgeo's dataset
returns the stacked bands and the dense LC mask; ours returns the modality's raw bands and the
scene label (computed from the LC patch), standardization happening later on the device. The
baseline of the ratio is torchgeo with the same number of workers. Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _util import machine, print_table, save_json
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from sen12ms_models.io import Sen12msIndex
from sen12ms_models.synthetic import write_tree
from sen12ms_models.training.dataset import Sen12msDataset


def rate(loader: DataLoader, count: int) -> float:
    """Patches/s of one full pass (worker start-up included, as a training epoch pays it)."""
    start = time.perf_counter()
    seen = sum(len(batch["image"] if "image" in batch else batch["target"]) for batch in loader)
    assert seen == count
    return count / (time.perf_counter() - start)


def torchgeo_dataset(root: Path, names: list[str]) -> Dataset:
    """torchgeo's SEN12MS over the same tree (it needs train/test lists in the root)."""
    from torchgeo.datasets import SEN12MS

    for split in ("train", "test"):
        (root / f"{split}_list.txt").write_text("\n".join(names) + "\n")
    s1s2 = ("VV", "VH", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
    return SEN12MS(str(root), split="train", bands=s1s2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller tree")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, patches_per_scene=8 if args.quick else 32)
        index = Sen12msIndex.scan(root)
        ours = Sen12msDataset(index, index.patches, "s1s2", "multi")
        names = [p.file_name("s2") for p in index.patches]
        theirs = torchgeo_dataset(root, names)
        rate(DataLoader(ours, batch_size=32), len(names))  # warm the page cache: both read warm files
        for workers in args.workers:
            kwargs = {"batch_size": 32, "num_workers": workers, "sampler": SequentialSampler(range(len(names)))}
            baseline = rate(DataLoader(theirs, **kwargs), len(names))
            mine = rate(DataLoader(ours, **kwargs), len(names))
            rows.append((workers, baseline, mine, mine / baseline))
            records.append({"workers": workers, "torchgeo": baseline, "ours": mine})
    print(f"machine: {machine()}; {len(names)} triplets of 256x256\n")
    print_table("Data loading, s1s2 (patches/s)", ("workers", "torchgeo SEN12MS", "sen12ms-models", "ratio"), rows)
    save_json(args.json, {"rows": records})


if __name__ == "__main__":
    main()
