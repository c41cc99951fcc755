"""Peak memory of ``predict`` over many GeoTIFF files: it must not grow with the number of files.

    python benchmarks/predict_memory.py [--small 20] [--large 200] [--batch-size 16] [--json out.json]

Two folders of SEN12MS S2 patches (256x256, 13-band uint16, class spectra) are written, 20 and
200 files. Each is predicted in a fresh (exec'd) process (resnet50-s2 with random weights, after
one warm-up batch) by ``sm.predict(model, s2=paths)``, which reads each batch's files when that
batch is predicted; the process reports its own peak RSS (``VmHWM``, see
``_util.PEAK_MIB_SOURCE``). Printed: peak RSS of both and their ratio (target <= 1.3). Reading
every file first, as ``predict`` did before, holds 1.7 MB per patch: 340 MB more for 200.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _util import child_json, machine, print_table, save_json

from sen12ms_models.inputs.files import PatchId
from sen12ms_models.synthetic import draw_class_rows, write_triplet

CHILD = """
import json, sys, time
from pathlib import Path
import torch
import sen12ms_models as sm

folder, batch = Path(sys.argv[1]), int(sys.argv[2])
paths = sorted(folder.rglob("*_s2_*.tif"))
torch.manual_seed(0)
model = sm.optimize_for_inference(sm.load_model("resnet50", "s2", pretrained=False))
with torch.inference_mode():  # warm-up: one-time set-up stays in the RSS before, out of the timing
    model(torch.zeros(batch, 10, 256, 256).contiguous(memory_format=torch.channels_last))
before = peak_mib()
start = time.perf_counter()
result = sm.predict(model, s2=paths, batch_size=batch)
seconds = time.perf_counter() - start
print(json.dumps({"patches": len(result), "seconds": seconds, "peak_mib": peak_mib(), "model_mib": before}))
"""


def write_folder(root: Path, count: int, seed: int = 0) -> None:
    """``count`` SEN12MS triplets of 256x256 below ``root`` (one scene)."""
    rng = np.random.default_rng(seed)
    for patch in range(count):
        write_triplet(root, PatchId("ROIs1158_spring", 63, patch), draw_class_rows(rng, 256), rng=rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="accepted for run_all.py; the sizes stay the same")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for count in (args.small, args.large):
            root = Path(folder, f"patches_{count}")
            write_folder(root, count)
            results.append({"files": count, **child_json(CHILD, [str(root), str(args.batch_size)])})
    base = results[0]
    rows = [
        (
            r["files"],
            r["seconds"],
            r["files"] / r["seconds"],
            round(r["model_mib"]),
            round(r["peak_mib"]),
            round(r["peak_mib"] - r["model_mib"]),
            r["peak_mib"] / base["peak_mib"],
        )
        for r in results
    ]
    print(f"machine: {machine()}\n")
    print_table(
        f"predict over a folder of S2 GeoTIFFs, resnet50-s2 (random weights), batch {args.batch_size}",
        ("files", "seconds", "patches/s", "RSS before MiB", "peak RSS MiB", "growth in predict MiB", "peak / small"),
        rows,
    )
    ratio = results[-1]["peak_mib"] / base["peak_mib"]
    verdict = "ok" if ratio <= 1.3 else "ABOVE TARGET"
    print(f"peak RSS {args.large} / {args.small} files: {ratio:.3f} (target <= 1.3: {verdict})")
    save_json(args.json, {"results": results, "peak_ratio": ratio})


if __name__ == "__main__":
    main()
