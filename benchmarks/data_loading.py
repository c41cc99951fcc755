"""Data loading: patches/s through a DataLoader, our training dataset vs torchgeo's SEN12MS.

    python benchmarks/data_loading.py [--quick] [--workers 0 1 2] [--json out.json]

Both read the same generated SEN12MS tree (real 256x256 GeoTIFFs, s1s2). torchgeo's dataset
returns the stacked bands and the dense LC mask; ours returns the modality's raw bands and the
scene label (computed from the LC patch), standardization happening later on the device. The
baseline of the ratio is torchgeo with the same number of workers. Rates are steady-state, as
``_util.loader_rate`` defines them: after one untimed pass (worker start-up and page cache),
the best of the timed passes. Needs torchgeo (the ``torchgeo`` extra).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _util import loader_rate, machine, print_table, save_json
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.synthetic import write_tree


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
    parser.add_argument("--repeats", type=int, help="timed passes per loader (default 3, 1 with --quick)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tree(root, patches_per_scene=8 if args.quick else 32)
        index = Sen12msIndex.scan(root)
        ours = Sen12msDataset(index, index.patches, "s1s2", "multi")
        names = [p.file_name("s2") for p in index.patches]
        theirs = torchgeo_dataset(root, names)
        for workers in args.workers:
            kwargs = {
                "batch_size": 32,
                "num_workers": workers,
                "sampler": SequentialSampler(range(len(names))),
                "persistent_workers": workers > 0,
            }
            baseline = loader_rate(DataLoader(theirs, **kwargs), repeats)
            mine = loader_rate(DataLoader(ours, **kwargs), repeats)
            rows.append((workers, baseline, mine, mine / baseline))
            records.append({"workers": workers, "torchgeo": baseline, "ours": mine})
    print(f"machine: {machine()}; {len(names)} triplets of 256x256\n")
    print_table(
        f"Data loading, s1s2 (patches/s, steady state, best of {repeats} passes)",
        ("workers", "torchgeo SEN12MS", "sen12ms-models", "ratio"),
        rows,
    )
    save_json(args.json, {"repeats": repeats, "rows": records})


if __name__ == "__main__":
    main()
