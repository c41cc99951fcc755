"""How inference time and memory grow with batch size (log-log slopes), resnet50-s1s2 on 256x256.

    python benchmarks/scaling.py [--quick] [--json out.json]

Each batch size runs in a fresh (exec'd) process, so its peak RSS (VmHWM, see
``_util.PEAK_MIB_SOURCE``) is its own; the baseline is batch 1. The time is the fastest of a few
``predict`` calls after one warm-up (``_util.best_rate``) on clear, real-looking patches
(``tests.support.patches``), which pass the input checks as real data does. A time slope near 1 means constant
per-patch cost; the memory slope says how the growth of the peak during ``predict`` (mostly
activations) scales. (For mapping, scene size against time and memory:
benchmarks/mapping_memory.py.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _util import BENCHMARKS, child_json, loglog_slope, machine, print_table, save_json

CHILD = """
import json, sys
import sen12ms_models as sm
batch, repeats = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from _util import best_rate
from tests.support.patches import clear_patches
model = sm.optimize_for_inference(sm.load_model("resnet50", "s1s2", pretrained=False))
s1, s2 = clear_patches(batch, 256)
before = peak_mib()
rate = best_rate(lambda: sm.predict(model, s1=s1, s2=s2, batch_size=batch), batch, repeats, warmup=1)
peak = peak_mib()
print(json.dumps({"seconds": batch / rate, "peak_mib": peak, "growth_mib": peak - before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches 1 to 8, best of 3 calls (default: 1 to 32, of 5)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    batches = (1, 2, 4, 8) if args.quick else (1, 2, 4, 8, 16, 32)
    repeats = 3 if args.quick else 5
    results = [child_json(CHILD, [str(batch), str(repeats), str(BENCHMARKS)]) for batch in batches]
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
        f"predict scaling with batch size, resnet50-s1s2 256x256 (seconds: best of {repeats})",
        ("batch", "seconds", "time / batch-1 time", "patches/s", "peak RSS MiB", "RSS growth in predict MiB"),
        rows,
    )
    time_slope = loglog_slope(batches, [r["seconds"] for r in results])
    memory_slope = loglog_slope(batches, [max(r["growth_mib"], 1.0) for r in results])
    print(f"log-log slope: time {time_slope:.2f}, memory growth {memory_slope:.2f}")
    save_json(
        args.json,
        {
            "batches": list(batches),
            "repeats": repeats,
            "results": results,
            "time_slope": time_slope,
            "memory_slope": memory_slope,
        },
    )


if __name__ == "__main__":
    main()
