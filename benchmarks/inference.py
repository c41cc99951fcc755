"""Inference throughput: ``predict`` vs the straightforward baseline, and distance to the device's limit.

    python benchmarks/inference.py [--quick] [--json out.json]

Baseline: an fp32 NCHW eager model fed by a per-band Python normalization loop, as the SEN12MS
toolbox did it. Ours: ``predict`` on ``optimize_for_inference(load_model(...))`` (BatchNorm
folded, channels-last). Both see the same raw uint16/float32 patches, 256x256, s1s2. The limit:
model FLOPs x patches/s over the fp32 GEMM rate torch reaches on the same device, measured here.
The patches are clear, real-looking ones (``tests.support.patches.clear_patches``), so ``predict``
runs its whole input check (units, fill, clouds) as it does on real data.
Everything runs in fp32 on one device: the GPU when there is one (then the model and the GEMM
operands live there; the input is prepared on the host and copied, as ``predict`` does), else
the CPU. There is no bf16 or torch.compile variant here (``predict`` runs the model in fp32).
On a GPU, cuDNN may run the convolutions in TF32 (torch's default) while the fp32 GEMM rate is
measured without it, so the fraction of the limit can exceed 100% there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _util import best_rate, machine, print_table, save_json
from torch.utils.flop_counter import FlopCounterMode

import sen12ms_models as sm
from sen12ms_models.bands import BAND_MEAN, BAND_STD, S1_BANDS, S2_BANDS
from sen12ms_models.weights import ARCHITECTURES
from tests.support.patches import clear_patches


def toolbox_style_preprocess(s1: np.ndarray, s2: np.ndarray, bands: tuple[str, ...]) -> torch.Tensor:
    """The baseline: select, clip and normalize band by band in Python, as the original scripts did."""
    patches = []
    for n in range(len(s2)):
        channels = []
        for band in bands:
            if band in S1_BANDS:
                x = np.clip(np.nan_to_num(s1[n, S1_BANDS.index(band)].astype(np.float32)), -25, 0)
            else:
                x = s2[n, S2_BANDS.index(band)].astype(np.float32)
            channels.append((x - BAND_MEAN[band]) / BAND_STD[band])
        patches.append(np.stack(channels))
    return torch.from_numpy(np.stack(patches))


def gemm_flops_per_second(device: str, repeats: int = 5) -> float:
    """FLOP/s of an fp32 square matrix product on ``device`` (2048^2 on a CPU, 8192^2 on a GPU)."""
    size = 8192 if device == "cuda" else 2048
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return best_rate(lambda: a @ b, 2 * size**3, repeats)  # best_rate synchronizes CUDA around each call


def model_flops(model: torch.nn.Module, in_chans: int) -> float:
    """FLOPs of one 256x256 forward pass (a multiply-add counts 2), counted on the model's device."""
    device = next(model.parameters()).device
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, in_chans, 256, 256, device=device))
    return float(counter.get_total_flops())


def measure(
    baseline: torch.nn.Module,
    fast: sm.Sen12msClassifier,
    batch: int,
    device: str,
    repeats: int,
) -> tuple[float, float]:
    """Patches/s of the baseline and of ``predict`` on the same raw batch."""
    s1, s2 = clear_patches(batch, 256, seed=batch)

    def run_baseline() -> None:
        with torch.no_grad():
            torch.sigmoid(baseline(toolbox_style_preprocess(s1, s2, fast.spec.transforms.bands).to(device)))

    base = best_rate(run_baseline, batch, repeats)
    ours = best_rate(lambda: sm.predict(fast, s1=s1, s2=s2, batch_size=batch), batch, repeats)
    return base, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes and repeats (CI-sized)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    batches = (1, 8, 32) if args.quick else (1, 8, 32, 64)
    repeats = 1 if args.quick else 3
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gemm = gemm_flops_per_second(device)
    print(f"machine: {machine()}\nfp32 GEMM rate on {device}: {gemm / 1e9:.1f} GFLOP/s\n")
    rows, records = [], []
    for arch in ARCHITECTURES:
        torch.manual_seed(0)
        model = sm.load_model(arch, "s1s2", pretrained=False, device=device)
        baseline = sm.build_model(arch, 12).to(device).eval()
        baseline.load_state_dict(model.state_dict())
        fast = sm.optimize_for_inference(model)
        flops = model_flops(baseline, 12)
        for batch in batches:
            base, ours = measure(baseline, fast, batch, device, repeats)
            limit = ours * flops / gemm
            rows.append((arch, batch, base, ours, ours / base, f"{100 * limit:.0f}%"))
            records.append({"arch": arch, "batch": batch, "baseline": base, "predict": ours, "of_gemm_limit": limit})
    print_table(
        f"Inference, s1s2 256x256, {device} (patches/s)",
        ("arch", "batch", "baseline", "predict", "ratio", "of GEMM-bound limit"),
        rows,
    )
    save_json(args.json, {"gemm_flops": gemm, "rows": records})


if __name__ == "__main__":
    main()
