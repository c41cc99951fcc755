"""Shared by the benchmark scripts: timing, loader throughput, peak memory of child processes,
the machine's description, table printing, and the inputs they measure on (synthetic trees and
scenes, clear patches, a local Hub).

Benchmarks print ratios against a baseline measured in the same run, because these machines
are noisy; absolute times mean something only together with the machine they ran on. They run
from the repository root (``python benchmarks/NAME.py``) and may import ``tests.support``: this
module puts the repository on ``sys.path``.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch.utils.data import DataLoader

if TYPE_CHECKING:
    from sen12ms_models.datasets.sen12ms import Sen12msDataset
    from sen12ms_models.training.distributed import Performance

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Source text that defines ``peak_mib()`` in the child scripts ``child_json`` runs. It reads
#: ``VmHWM`` (the high-water mark of this process image's resident set) from /proc/self/status,
#: not ``ru_maxrss``: on Linux, exec hands the old image's peak over to ``ru_maxrss``, and a
#: child started by (v)fork + exec starts from the parent's image, so ``ru_maxrss`` reports at
#: least the parent's peak. VmHWM starts afresh with the exec'd image, so it is the child's own.
PEAK_MIB_SOURCE = '''
def peak_mib():
    """This process's peak resident set size so far, in MiB (VmHWM; Linux only)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")
'''


def child_json(source: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``source`` (with ``peak_mib()`` defined) in a fresh, exec'd Python; the last stdout
    line, parsed as JSON. A new interpreter image, never a bare fork, so ``peak_mib()`` there
    covers the child alone."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_MIB_SOURCE + source, *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"the child process failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    """CPU model, core count, torch version and GPU (if any), in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}{gpu}"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def sync() -> None:
    """Wait for the GPU's queued work (a no-op without CUDA), so a clock read after it is honest."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def best_rate(run: Callable[[], Any], items: int, repeats: int, warmup: int = 1) -> float:
    """Items per second of the fastest of ``repeats`` timed calls of ``run`` (after ``warmup``)."""
    for _ in range(warmup):
        run()
    best = math.inf
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return items / best


def loader_rate(loader: Iterable[Mapping[str, Any]], repeats: int = 1) -> float:
    """Patches/s of a full pass over ``loader`` in steady state, the best of ``repeats`` passes.

    One untimed pass first starts the workers and warms the page cache; worker start-up is
    therefore excluded (a training run pays it once: its loaders keep their workers), while
    each timed pass does include refilling the pipeline at its start, as every epoch pays it.
    So a loader with workers must keep them (``persistent_workers=True``). A batch's size is
    the length of its first field. A pass ends when the GPU has done its work too (the copies of
    a loader that moves batches to the device).
    """
    if isinstance(loader, DataLoader) and loader.num_workers > 0 and not loader.persistent_workers:
        raise ValueError("a loader with workers must keep them (persistent_workers=True) to time steady state")

    def one_pass() -> int:
        count = sum(len(next(iter(batch.values()))) for batch in loader)
        sync()
        return count

    count = one_pass()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        seen = one_pass()
        best = min(best, time.perf_counter() - start)
        assert seen == count, f"a pass gave {seen} patches, the first {count}"
    return count / best


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) over log(x): 1 means linear growth, 0 constant."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Print (and return) a markdown table, numbers rounded for reading."""

    def cell(value: Any) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    return text


def save_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps({"machine": machine(), "commit": commit(), **payload}, indent=2) + "\n")


def write_tree_parallel(root: Path, patches_per_scene: int, size: int, processes: int) -> None:
    """``synthetic.write_tree`` of the default 8 scenes, one process per scene (seeded by scene)."""
    from concurrent.futures import ProcessPoolExecutor

    from sen12ms_models.synthetic import DEFAULT_SCENES, write_tree

    with ProcessPoolExecutor(max(1, min(processes, len(DEFAULT_SCENES)))) as pool:
        jobs = [
            pool.submit(write_tree, root, scenes=(scene,), patches_per_scene=patches_per_scene, size=size, seed=seed)
            for seed, scene in enumerate(DEFAULT_SCENES)
        ]
        for job in jobs:
            job.result()


def write_scene(path: Path, size: int, seed: int = 0, block: int = 256) -> None:
    """A ``size``^2 13-band uint16 S2 scene: 512-pixel class squares with the synthetic class spectra,
    noise, and an all-zero (no-data) strip of ``block`` rows along the top edge; tiled, written one
    block row at a time (never whole in memory)."""
    import numpy as np
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from sen12ms_models.synthetic import CLASS_S2_DN

    rng = np.random.default_rng(seed)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=13,
        dtype="uint16",
        crs=CRS.from_epsg(32631),
        transform=from_origin(600000, 5300000, 10, 10),
        tiled=True,
        blockxsize=block,
        blockysize=block,
    ) as scene:
        for top in range(0, size, block):
            rows = np.arange(top, top + block)[:, None] // 512
            classes = (rows * 7 + np.arange(size)[None, :] // 512 * 3) % 10
            noise = rng.normal(1.0, 0.05, (13, block, size))
            dn = np.clip(CLASS_S2_DN[classes].transpose(2, 0, 1) * noise, 1, 65534).astype(np.uint16)
            if top == 0:
                dn[:] = 0
            scene.write(dn, window=Window(0, top, size, block))


class Stepper:
    """The trainer's step (``training.loop.train_step``) on a seeded s1s2 model of ``arch``, under
    ``performance``, with the trainer's optimizer (Adam, ``TrainConfig``'s lr and weight decay)
    and multi-label loss; ``fused`` Adam and ``torch.compile(mode=compile_mode)`` on request."""

    def __init__(
        self,
        arch: str,
        performance: Performance,
        data: Sen12msDataset,
        *,
        fused: bool = False,
        compile_mode: str | None = None,
        in_chans: int = 12,
    ) -> None:
        from torch import nn

        from sen12ms_models.models.api import build_model

        self.arch, self.performance, self.data, self.fused, self.in_chans = arch, performance, data, fused, in_chans
        self.model = build_model(arch, in_chans).to(performance.device).to(memory_format=performance.memory_format)
        self.model.train()
        compiled = torch.compile(self.model, mode=compile_mode) if compile_mode else self.model
        self.stepped = cast(torch.nn.Module, compiled)
        self.criterion = nn.BCEWithLogitsLoss()
        self.reset(0)

    def reset(self, seed: int) -> None:
        """The seeded initial weights (copied in place: compiled graphs stay valid) and a fresh Adam."""
        from sen12ms_models.models.api import build_model
        from sen12ms_models.training.config import TrainConfig

        torch.manual_seed(seed)
        self.model.load_state_dict(build_model(self.arch, self.in_chans).state_dict())
        recipe = TrainConfig(Path(), Path())  # the paper's defaults
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=self.fused or None
        )

    def __call__(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """One step on ``batch`` (raw bands, standardized on the device); the loss, not read back."""
        from sen12ms_models.training.loop import train_step

        with self.performance.arithmetic():  # as the trainer holds it over its run
            return train_step(self.stepped, self.optimizer, self.criterion, self.data, dict(batch), self.performance)
