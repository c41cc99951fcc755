"""Shared by the benchmark scripts: timing, loader throughput, peak memory of child processes,
the machine's description, table printing.

Benchmarks print ratios against a baseline measured in the same run, because these machines
are noisy; absolute times mean something only together with the machine they ran on.
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
from typing import Any

import torch
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent

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


def best_rate(run: Callable[[], Any], items: int, repeats: int, warmup: int = 1) -> float:
    """Items per second of the fastest of ``repeats`` timed calls of ``run`` (after ``warmup``)."""
    for _ in range(warmup):
        run()
    best = math.inf
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return items / best


def loader_rate(loader: Iterable[Mapping[str, Any]], repeats: int = 1) -> float:
    """Patches/s of a full pass over ``loader`` in steady state, the best of ``repeats`` passes.

    One untimed pass first starts the workers and warms the page cache; worker start-up is
    therefore excluded (a training run pays it once: its loaders keep their workers), while
    each timed pass does include refilling the pipeline at its start, as every epoch pays it.
    So a loader with workers must keep them (``persistent_workers=True``). A batch's size is
    the length of its first field.
    """
    if isinstance(loader, DataLoader) and loader.num_workers > 0 and not loader.persistent_workers:
        raise ValueError("a loader with workers must keep them (persistent_workers=True) to time steady state")

    def one_pass() -> int:
        return sum(len(next(iter(batch.values()))) for batch in loader)

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
    """``testing.synthetic.write_tree`` of the default 8 scenes, one process per scene (seeded by scene)."""
    from concurrent.futures import ProcessPoolExecutor

    from sen12ms_models.testing.synthetic import DEFAULT_SCENES, write_tree

    with ProcessPoolExecutor(max(1, min(processes, len(DEFAULT_SCENES)))) as pool:
        jobs = [
            pool.submit(write_tree, root, scenes=(scene,), patches_per_scene=patches_per_scene, size=size, seed=seed)
            for seed, scene in enumerate(DEFAULT_SCENES)
        ]
        for job in jobs:
            job.result()
