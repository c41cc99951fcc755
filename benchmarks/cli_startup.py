"""How fast the command line answers: ``--version``, ``--help``, ``list`` and ``info``.

Each is timed as a fresh process (the best of ``--repeats`` runs) with its peak memory (VmHWM),
against two baselines measured in the same run: a bare ``python -c pass`` and ``import torch``
(what every command paid before the CLI imported torch only where a command needs it).
Target: each answers in under 1 s.

    python benchmarks/cli_startup.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

from _util import child_json, machine, print_table, save_json

COMMANDS: dict[str, list[str]] = {
    "--version": ["--version"],
    "--help": ["--help"],
    "list": ["list"],
    "info": ["info", "resnet50-s1s2-multi"],
}
#: The child: run the CLI in-process as the console script does, then report its own peak memory.
CLI_CHILD = """
import json, sys, contextlib, io
from sen12ms_models.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps({"peak_mib": peak_mib()}))
"""


def best_seconds(argv: list[str], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 runs of each command instead of --repeats")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.repeats = 2
    python = [sys.executable, "-c", "pass"]
    torch_import = [sys.executable, "-c", "import torch"]
    bare, with_torch = best_seconds(python, args.repeats), best_seconds(torch_import, args.repeats)
    rows, results = [], {}
    for label, argv in COMMANDS.items():
        seconds = best_seconds([sys.executable, "-m", "sen12ms_models", *argv], args.repeats)
        peak = child_json(CLI_CHILD, argv)["peak_mib"]
        results[label] = {"seconds": seconds, "peak_mib": peak}
        rows.append([label, seconds, peak, seconds / bare, seconds / with_torch])
    rows += [
        ["python -c pass", bare, "", 1.0, bare / with_torch],
        ["import torch", with_torch, "", with_torch / bare, 1.0],
    ]
    print(f"machine: {machine()}")
    print_table(
        "CLI start-up (fresh process, best of runs)",
        ["command", "s", "peak MiB", "x bare python", "x import torch"],
        rows,
    )
    save_json(args.json, {"bare_python_s": bare, "import_torch_s": with_torch, "commands": results})


if __name__ == "__main__":
    main()
