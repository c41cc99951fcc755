"""Training throughput: the trainer's step against a plain fp32 NCHW loop, and whether loading keeps up.

    python benchmarks/train_throughput.py [--quick] [--batch-size 64] [--steps 5] [--compile] [--json out.json]

Model resnet50-s1s2, 256x256 patches, the paper's batch of 64 unless told otherwise (``--quick``:
batch 8, 2 timed steps, a few dozen patches: minutes on a 2-core CPU). Every loop trains a
freshly seeded model on the same batch, read from a synthetic SEN12MS tree of real GeoTIFFs.

- plain: standardize on the host, ``.to(device)``, fp32, NCHW, ``loss.item()`` every step:
  the loop as one writes it first.
- ours (default): ``training.loop.train_step`` with the trainer's default settings for the device
  (tf32, channels-last on CUDA; fp32 NCHW on CPU), raw bands standardized on the device, no
  read-back of the loss.
- ours (bf16): the same with bf16 autocast forced (what ``--precision bf16`` does on a CPU).
- ours (compile): with ``torch.compile`` (``--compile``; slow to warm up on CPUs).

Then ``Sen12msDataset`` patches/s through the trainer's DataLoader with 0, 1 and 2 workers
(steady state as ``_util.loader_rate`` defines it: worker start-up excluded, best of the timed
passes), against the images/s of the fastest step: a loader slower than the step stalls training.
The optimizer is the trainer's: Adam with ``TrainConfig``'s default lr and weight decay.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from _util import Stepper, best_rate, loader_rate, machine, print_table, save_json

from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.synthetic import DEFAULT_SCENES, write_tree
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.distributed import Performance


def synthetic_dataset(folder: Path, patches: int) -> Sen12msDataset:
    """``patches`` s1s2 multi-label triplets of 256x256 as real GeoTIFFs below ``folder``."""
    scenes = DEFAULT_SCENES[4:]
    write_tree(folder, scenes=scenes, patches_per_scene=math.ceil(patches / len(scenes)), size=256)
    index = Sen12msIndex.scan(folder)
    return Sen12msDataset(index, index.patches[:patches], "s1s2", "multi")


def plain_step(dataset: Sen12msDataset, batch: dict, device: torch.device) -> Callable[[], None]:
    """The straightforward loop's step: host standardization, fp32, NCHW, ``loss.item()``; the same
    seeded model, optimizer and loss as the trainer's step."""
    stepper = Stepper("resnet50", Performance.choose(device, "fp32", False), dataset)
    model, optimizer, criterion = stepper.model, stepper.optimizer, stepper.criterion

    def step() -> None:
        with stepper.performance.arithmetic():  # strict fp32 on CUDA too
            x = dataset.transform(s1=batch["s1"], s2=batch["s2"]).to(device)
            loss = criterion(model(x), batch["target"].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()

    return step


def ours(stepper: Stepper, batch: dict) -> Callable[[], object]:
    """The trainer's step (``train_step``) on ``batch``."""
    return lambda: stepper(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 8, 2 timed steps: minutes on a small CPU")
    parser.add_argument("--batch-size", type=int, help="default 64 (8 with --quick)")
    parser.add_argument("--steps", type=int, help="timed steps per loop after one warm-up (default 5, 2 with --quick)")
    parser.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    batch_size = args.batch_size or (8 if args.quick else 64)
    steps = args.steps or (2 if args.quick else 5)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"machine: {machine()}\n")

    with tempfile.TemporaryDirectory() as folder:
        dataset = synthetic_dataset(Path(folder), max(4 * batch_size, 48))
        batch = next(iter(make_loader(dataset, range(len(dataset)), batch_size, 0, device)))
        auto = Performance.choose(device, TrainConfig.precision)
        variants: list[tuple[str, Performance, Callable[[], object]]] = [
            ("plain fp32 NCHW", Performance.choose(device, "fp32", False), plain_step(dataset, batch, device)),
            ("ours (default)", auto, ours(Stepper("resnet50", auto, dataset), batch)),
        ]
        if auto.precision != "bf16":
            forced = Performance.choose(device, "bf16")
            variants.append(("ours (bf16)", forced, ours(Stepper("resnet50", forced, dataset), batch)))
        if args.compile:
            compiled = Stepper("resnet50", auto, dataset, compile_mode="default")
            variants.append(("ours (default, compile)", auto, ours(compiled, batch)))
        rates = {}
        for name, _, step in variants:
            rates[name] = best_rate(step, batch_size, steps)
        base = rates["plain fp32 NCHW"]
        print_table(
            f"Training step, resnet50-s1s2 256x256, batch {batch_size}, {device} (images/s, best of {steps})",
            ("loop", "precision", "channels-last", "images/s", "vs plain"),
            [(n, p.precision, p.channels_last, rates[n], rates[n] / base) for n, p, _ in variants],
        )

        fastest = max(rates.values())
        passes = 1 if args.quick else 3
        loading = {
            workers: loader_rate(make_loader(dataset, range(len(dataset)), batch_size, workers, device), passes)
            for workers in (0, 1, 2)
        }
        print_table(
            f"Data loading, Sen12msDataset s1s2 from GeoTIFF (patches/s, steady state, best of {passes} passes) "
            f"vs the fastest step ({fastest:.3g} images/s)",
            ("workers", "patches/s", "vs step", "input stall"),
            [(w, r, r / fastest, "yes" if r < fastest else "no") for w, r in loading.items()],
        )
    save_json(
        args.json,
        {
            "batch_size": batch_size,
            "steps": steps,
            "device": str(device),
            "step_rates": rates,
            "loader_passes": passes,
            "loading": loading,
        },
    )


if __name__ == "__main__":
    main()
