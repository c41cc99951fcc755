#!/usr/bin/env bash
# Every GPU figure in one command, for a GPU machine whose Python has torch but not rasterio.
#
#   bash benchmarks/gpu.sh [OUT_DIR]      # default: $OUT if set, else the current folder
#
# Wheels carried in .whl/ (see docs/benchmarks.md, "GPU figures") are installed into /tmp/site
# first; the package itself runs from this checkout. Writes OUT_DIR/gpu.json, gpu.md, gpu.log.
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${1:-${OUT:-.}}
mkdir -p "$out"
export PYTHONPATH=$PWD
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, rasterio; print('torch', torch.__version__, 'rasterio', rasterio.__version__, 'cuda', torch.cuda.is_available())" || exit 4
python3 -m sen12ms_models --version || exit 5   # the package and its command line load from this checkout
timeout 480 python3 benchmarks/run_all.py --gpu --json "$out/gpu.json" 2>&1 | tee "$out/gpu.log"
