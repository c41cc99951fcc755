"""``load_model`` cold (download from a local Hub server) and warm (cache) time, and peak memory.

    python benchmarks/load_model.py [--quick] [--json out.json]

Each load runs in a fresh (exec'd) Python process, whose peak RSS (VmHWM, see
``_util.PEAK_MIB_SOURCE``) is therefore its own; the baseline is the same process importing
sen12ms_models and building the model without weights. Times start after ``sm.load_model`` is
imported (with torch: the package imports it lazily), so they are the loading alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _util import child_json, machine, print_table, save_json

from sen12ms_models.weights import ARCHITECTURES, MANIFEST_ENV
from tests.support.hub_server import HubServer
from tests.support.published import serve_model

CHILD = """
import json, sys, time
start = time.perf_counter()
import sen12ms_models as sm
sm.load_model  # the package imports lazily: import what loading needs (torch) before the clock starts
imported = time.perf_counter()
if sys.argv[3] == "build":
    sm.load_model(sys.argv[1], sys.argv[2], pretrained=False)
else:
    sm.load_model(sys.argv[1], sys.argv[2])
done = time.perf_counter()
print(json.dumps({"seconds": done - imported, "import": imported - start,
                  "peak_mib": peak_mib()}))
"""


def run_child(arch: str, modality: str, mode: str, env: dict[str, str]) -> dict[str, float]:
    return child_json(CHILD, [arch, modality, mode], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one modality per architecture (the default too)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp, HubServer() as server:
        manifest = Path(tmp) / "weights_manifest.json"
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": tmp, "HF_HUB_CACHE": f"{tmp}/hub",
               MANIFEST_ENV: str(manifest), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # fmt: skip
        for arch in ARCHITECTURES:
            data = serve_model(server, manifest, arch, "s1s2").data
            build = run_child(arch, "s1s2", "build", env)
            cold = run_child(arch, "s1s2", "load", env)
            warm = run_child(arch, "s1s2", "load", env)
            size = len(data) / 2**20
            ratio = warm["seconds"] / build["seconds"]
            peaks = round(build["peak_mib"]), round(warm["peak_mib"])
            rows.append((arch, f"{size:.0f}", build["seconds"], cold["seconds"], warm["seconds"], ratio, *peaks))
            records.append({"arch": arch, "file_mib": size, "build": build, "cold": cold, "warm": warm})
    print(f"machine: {machine()}\n")
    print_table(
        "load_model, s1s2 (seconds, after import; peak RSS in MiB)",
        (
            "arch",
            "file MiB",
            "build only",
            "cold (download)",
            "warm (cache)",
            "warm / build",
            "peak RSS build",
            "peak RSS warm",
        ),
        rows,
    )
    save_json(args.json, {"rows": records})


if __name__ == "__main__":
    main()
