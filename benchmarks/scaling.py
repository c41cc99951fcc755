"""How inference time and memory grow with batch size (log-log slopes), resnet50-s1s2 on 256x256.

    python benchmarks/scaling.py [--quick] [--json out.json]

Each batch size runs in a fresh process so its peak RSS is its own; the baseline is batch 1.
A time slope near 1 means constant per-patch cost; the memory slope says how activations grow.
(For mapping, scene size against time and memory: benchmarks/mapping_memory.py.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _util import loglog_slope, machine, print_table, save_json

CHILD = """
import json, resource, sys, time
import numpy as np, torch
import sen12ms_models as sm
batch = int(sys.argv[1])
model = sm.optimize_for_inference(sm.load_model("resnet50", "s1s2", pretrained=False))
rng = np.random.default_rng(0)
s1 = rng.normal(-12, 4, (batch, 2, 256, 256)).astype(np.float32)
s2 = rng.integers(0, 5000, (batch, 13, 256, 256)).astype(np.uint16)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sm.predict(model, s1=s1, s2=s2, batch_size=batch)
start = time.perf_counter()
sm.predict(model, s1=s1, s2=s2, batch_size=batch)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "growth_mib": (peak - before) / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    batches = (1, 2, 4, 8) if args.quick else (1, 2, 4, 8, 16, 32)
    results = []
    for batch in batches:
        out = subprocess.run([sys.executable, "-c", CHILD, str(batch)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]
    rows = [
        (
            b,
            r["seconds"],
            r["seconds"] / base["seconds"],
            b / r["seconds"],
            round(r["peak_mib"]),
            round(r["growth_mib"]),
        )
        for b, r in zip(batches, results, strict=True)
    ]
    print(f"machine: {machine()}\n")
    print_table(
        "predict scaling with batch size, resnet50-s1s2 256x256",
        ("batch", "seconds", "time / batch-1 time", "patches/s", "peak RSS MiB", "RSS growth MiB"),
        rows,
    )
    time_slope = loglog_slope(batches, [r["seconds"] for r in results])
    memory_slope = loglog_slope(batches, [max(r["growth_mib"], 1.0) for r in results])
    print(f"log-log slope: time {time_slope:.2f}, memory growth {memory_slope:.2f}")
    save_json(args.json, {"batches": list(batches), "results": results, "time_slope": time_slope})


if __name__ == "__main__":
    main()
