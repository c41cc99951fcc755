"""Peak memory and speed of ``map_scene`` as the scene grows: memory must stay flat, time linear.

    python benchmarks/mapping_memory.py [--quick] [--json out.json]

Scenes of 1024^2 (the baseline) up to 4096^2 (``--quick``) or 8192^2 pixels, 13-band uint16
S2 with class spectra, are written as tiled GeoTIFFs one block row at a time (never whole in
memory; ``_util.write_scene``). Each is mapped in a fresh (exec'd) process (resnet50-rgb with random weights, stride
256, after one warm-up batch), which reports its own peak RSS: ``VmHWM`` from /proc/self/status,
since on Linux ``ru_maxrss`` carries the parent's peak over through exec (see
``_util.PEAK_MIB_SOURCE``). Printed: peak RSS and its ratio to the baseline (target <= 1.2),
windows/s, and the log-log slope of time over scene pixels (1 = linear, i.e. constant cost per
window).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _util import child_json, loglog_slope, machine, print_table, save_json, write_scene

CHILD = """
import json, sys
import torch
import sen12ms_models as sm

scene, out, stride, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
model = sm.optimize_for_inference(sm.load_model("resnet50", "rgb", pretrained=False))
with torch.inference_mode():  # warm-up: one-time set-up stays out of the timing, in the RSS before
    model(torch.zeros(batch, 3, 256, 256).contiguous(memory_format=torch.channels_last))
before = peak_mib()
result = sm.map_scene(model, s2=scene, out=out, stride=stride, batch_size=batch, progress=False)
print(json.dumps({"seconds": result.seconds, "windows": result.windows, "skipped": result.skipped,
                  "peak_mib": peak_mib(), "model_mib": before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1024^2 and 4096^2 only (about 2 minutes on 2 cores)")
    parser.add_argument("--stride", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = (1024, 4096) if args.quick else (1024, 2048, 4096, 8192)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            scene = Path(folder, f"scene_{size}.tif")
            write_scene(scene, size)
            out = Path(folder, f"map_{size}.tif")
            child_args = [str(scene), str(out), str(args.stride), str(args.batch_size)]
            results.append({"size": size, **child_json(CHILD, child_args)})
            scene.unlink()
    base = results[0]
    rows = [
        (
            f"{r['size']}^2",
            r["windows"],
            r["skipped"],
            r["seconds"],
            r["windows"] / r["seconds"],
            round(r["model_mib"]),
            round(r["peak_mib"]),
            round(r["peak_mib"] - r["model_mib"]),
            r["peak_mib"] / base["peak_mib"],
        )
        for r in results
    ]
    print(f"machine: {machine()}\n")
    print_table(
        f"map_scene, resnet50-rgb (random weights), stride {args.stride}, batch {args.batch_size}",
        (
            "scene",
            "windows",
            "no-data",
            "seconds",
            "windows/s",
            "RSS before MiB",
            "peak RSS MiB",
            "growth in map_scene MiB",
            "peak / 1024^2",
        ),
        rows,
    )
    ratio = results[-1]["peak_mib"] / base["peak_mib"]
    slope = loglog_slope([r["size"] ** 2 for r in results], [r["seconds"] for r in results])
    verdict = "ok" if ratio <= 1.2 else "ABOVE TARGET"
    print(f"peak RSS {sizes[-1]}^2 / {sizes[0]}^2: {ratio:.3f} (target <= 1.2: {verdict})")
    print(f"log-log slope of time over scene pixels: {slope:.2f} (1 = linear)")
    save_json(args.json, {"sizes": list(sizes), "results": results, "peak_ratio": ratio, "time_slope": slope})


if __name__ == "__main__":
    main()
