"""GPU figures in one run: step variants, the trainer end to end on a store, device inference, map_scene.

    python benchmarks/gpu.py --tree TREE [--quick] [--no-compile] [--json out.json]

TREE is a synthetic SEN12MS tree of the default 8 scenes (``run_all.py --gpu`` writes it). On
a CPU (``--quick``) everything runs at toy sizes, to prove the script, not to measure.

1. Training step at ``--batch-size`` (64), resnet50-s1s2 and densenet121-s1s2, on one batch
   from the store: fp32 NCHW (torch's default TF32 flags), bf16 + channels-last (the trainer's
   auto), + fused Adam, + ``torch.compile(mode="reduce-overhead")`` (CUDA graphs). Then loss
   curves: ``--curve-steps`` steps on the store's batches for fp32 (seeds 0 and 1) and for the
   fastest variant (seed 0); the fastest is within noise when it differs from fp32 seed 0 by no
   more than fp32 seed 1 does (mean absolute loss difference).
2. The trainer end to end (``training.train`` with ``store=``), resnet50-s1s2: train images/s of
   each epoch after the first, validation timed apart (``score_loader`` wrapped with a timer),
   against the step rate of the trainer's settings measured in part 1.
3. Inference with ``predict(precision=...)`` on in-memory raw arrays (the trained
   model of part 2, patches of the store), resnet50-s1s2, fp32 (TF32 off), TF32 and bf16;
   agreement of bf16 and TF32 labels with fp32; ``predict`` (batch 32) as today's baseline.
4. ``map_scene`` windows/s, resnet50-s2 (random weights) on the GPU, stride 128.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _util import best_rate, machine, print_table, save_json
from mapping_memory import write_scene
from torch import nn

import sen12ms_models as sm
from sen12ms_models.bands import S2_SURFACE_BANDS
from sen12ms_models.datasets import Sen12msIndex
from sen12ms_models.datasets.loader import StoreDataset, StoreLoader
from sen12ms_models.datasets.store import PreparedStore, prepare_store
from sen12ms_models.labels import decide
from sen12ms_models.mapping.scene import map_scene
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.optimize import INFERENCE_PRECISIONS
from sen12ms_models.training import loop
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.evaluation import load_for_evaluation
from sen12ms_models.training.performance import Performance, configure_backends
from sen12ms_models.training.sampling import ShardSampler

#: (name, bf16, channels-last, fused Adam, compile mode)
VARIANTS = (
    ("fp32 NCHW", False, False, False, None),
    ("bf16 + channels-last (trainer auto)", True, True, False, None),
    ("+ fused Adam", True, True, True, None),
    ("+ compile reduce-overhead", True, True, True, "reduce-overhead"),
)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Stepper:
    """``train_step`` under ``variant`` on a model (compiled once) whose weights and optimizer ``reset`` renews."""

    def __init__(self, arch: str, variant: tuple, data: StoreDataset, device: torch.device) -> None:
        _, bf16, channels_last, self.fused, mode = variant
        self.arch, self.data, self.performance = arch, data, Performance(device, bf16, channels_last)
        self.model = build_model(arch, 12).to(device, memory_format=self.performance.memory_format).train()
        self.stepped = torch.compile(self.model, mode=mode) if mode else self.model
        self.criterion = nn.BCEWithLogitsLoss()
        self.reset(0)

    def reset(self, seed: int) -> None:
        """The seeded initial weights (copied in place: compiled graphs stay valid) and a fresh Adam."""
        torch.manual_seed(seed)
        self.model.load_state_dict(build_model(self.arch, 12).state_dict())
        params = self.model.parameters()
        self.optimizer = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-5, fused=self.fused or None)

    def __call__(self, batch: dict) -> torch.Tensor:
        return loop.train_step(self.stepped, self.optimizer, self.criterion, self.data, batch, self.performance)


def step_rates(args: argparse.Namespace, data: StoreDataset, batch: dict, variants: list[tuple]) -> dict:
    """Images/s of each variant and architecture on ``batch``; the resnet50 steppers are kept in ``args``."""
    rates: dict[str, dict[str, float]] = {}
    for arch in ("resnet50", "densenet121"):
        rates[arch] = {}
        for variant in variants:
            stepper = Stepper(arch, variant, data, args.device)
            warmup = 3 if variant[4] else 1
            rates[arch][variant[0]] = best_rate(lambda s=stepper: s(batch), args.batch_size, args.steps, warmup)
            print(f"  step {arch} {variant[0]}: {rates[arch][variant[0]]:.4g} images/s", flush=True)
            if arch == "resnet50":
                args.steppers[variant[0]] = stepper
    return rates


def loss_curves(args: argparse.Namespace, batches: list[dict], fastest: str) -> dict:
    """Loss per step over ``batches`` (cycled): fp32 seeds 0 and 1, and ``fastest`` seed 0."""
    curves = {}
    for label, name, seed in (
        ("fp32 seed 0", "fp32 NCHW", 0),
        ("fp32 seed 1", "fp32 NCHW", 1),
        ("fastest", fastest, 0),
    ):
        stepper = args.steppers[name]
        stepper.reset(seed)
        losses = [stepper(batches[i % len(batches)]) for i in range(args.curve_steps)]
        curves[label] = [float(loss) for loss in losses]
    base = np.array(curves["fp32 seed 0"])
    fast_gap = float(np.abs(np.array(curves["fastest"]) - base).mean())
    seed_gap = float(np.abs(np.array(curves["fp32 seed 1"]) - base).mean())
    print(
        f"loss curves over {args.curve_steps} steps, resnet50: fastest ({fastest}) vs fp32 {fast_gap:.4f}, "
        f"fp32 seed 1 vs seed 0 {seed_gap:.4f}: {'within' if fast_gap <= seed_gap else 'OUTSIDE'} noise\n"
    )
    return {"fastest": fastest, "curves": curves, "curve_gap": fast_gap, "seed_gap": seed_gap}


def print_steps(args: argparse.Namespace, rates: dict) -> None:
    rows = [(arch, name, rate, rate / rates[arch]["fp32 NCHW"]) for arch in rates for name, rate in rates[arch].items()]
    print_table(
        f"Training step, s1s2 256x256, batch {args.batch_size}, {args.device} (images/s, best of {args.steps})",
        ("arch", "variant", "images/s", "vs fp32"),
        rows,
    )


def end_to_end_part(args: argparse.Namespace, store: PreparedStore, folder: Path, step_rate: float) -> dict:
    validation: list[float] = []
    score_loader = loop.score_loader

    def timed(*a, **k):  # type: ignore[no-untyped-def]
        sync()
        started = time.perf_counter()
        scores = score_loader(*a, **k)
        sync()
        validation.append(time.perf_counter() - started)
        return scores

    loop.score_loader = timed  # type: ignore[assignment]
    try:
        config = TrainConfig(args.tree, folder / "run", epochs=args.epochs, batch_size=args.batch_size)
        loop.train(dataclasses.replace(config, store=store.path, workers=args.threads, progress=False))
    finally:
        loop.score_loader = score_loader  # type: ignore[assignment]
    records = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = []
    for record, seconds in zip(records, validation, strict=True):
        train_seconds = record["seconds"] - seconds
        rate = record["train_samples"] / train_seconds
        rows.append((record["epoch"], record["steps"], train_seconds, rate, rate / step_rate, seconds))
    print_table(
        f"Trainer end to end from the store, resnet50-s1s2, batch {args.batch_size}, {args.threads} loader threads "
        f"(step rate of the trainer's settings: {step_rate:.4g} images/s)",
        ("epoch", "steps", "train s", "train images/s", "of step rate", "validation s"),
        rows,
    )
    later = rows[1:] or rows
    return {
        "epochs": [
            dict(zip(("epoch", "steps", "train_s", "rate", "of_step", "validation_s"), r, strict=True)) for r in rows
        ],
        "of_step_after_first": sum(r[4] for r in later) / len(later),
        "run": str(folder / "run"),
    }


def inference_part(args: argparse.Namespace, store: PreparedStore, run: Path, device: torch.device) -> dict:
    model = load_for_evaluation("resnet50-s1s2-multi", run / "best.pt", str(device))
    fast = sm.optimize_for_inference(model)
    count = min(len(store.patches), args.predict_patches)
    s1, s2 = np.array(store.s1[:count]), np.array(store.s2[:count])
    transform = model.spec.transforms.with_s2_bands(S2_SURFACE_BANDS)  # type: ignore[union-attr]
    rates, labels = {}, {}
    for precision in INFERENCE_PRECISIONS:

        def run_once(precision: str = precision) -> np.ndarray:
            return sm.predict(
                fast, s1=s1, s2=s2, batch_size=256, precision=precision, transform=transform
            ).probabilities

        rates[precision] = best_rate(run_once, count, 3)
        labels[precision] = torch.from_numpy(decide(run_once(), "multi"))
    rates["predict() batch 32, today"] = best_rate(
        lambda: sm.predict(fast, s1=s1, s2=s2, batch_size=32, transform=transform), count, 1
    )
    agreement = {p: float((labels[p] == labels["fp32"]).all(1).float().mean()) for p in ("tf32", "bf16")}
    print_table(
        f"Inference, resnet50-s1s2 (trained in part 2), {count} in-memory patches, batch 256, {device} (patches/s)",
        ("path", "patches/s", "label sets equal to fp32"),
        [(name, rate, f"{100 * agreement[name]:.2f}%" if name in agreement else "") for name, rate in rates.items()],
    )
    return {"rates": rates, "agreement_with_fp32": agreement, "patches": count}


def mapping_part(args: argparse.Namespace, folder: Path, device: torch.device) -> dict:
    scene, out = folder / "scene.tif", folder / "probabilities.tif"
    write_scene(scene, args.scene_size)
    torch.manual_seed(0)
    model = sm.optimize_for_inference(sm.load_model("resnet50", "s2", pretrained=False, device=device))
    map_scene(model, s2=scene, out=out, stride=256, batch_size=args.batch_size, progress=False)  # warm-up
    result = map_scene(model, s2=scene, out=out, stride=128, batch_size=args.batch_size, progress=False)
    rate = result.windows / result.seconds
    print(f"map_scene, resnet50-s2, {args.scene_size}^2 scene, stride 128: {result.windows} windows, {rate:.4g}/s\n")
    return {"windows": result.windows, "seconds": result.seconds, "windows_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, required=True, help="synthetic tree (8 default scenes, 256x256)")
    parser.add_argument("--quick", action="store_true", help="toy sizes for a CPU: proves the script runs")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile variant")
    parser.add_argument("--threads", type=int, default=8, help="store loader threads")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    quick = args.quick
    args.batch_size = 2 if quick else 64
    args.steps, args.curve_steps, args.epochs = (1, 3, 2) if quick else (10, 60, 4)
    args.predict_patches, args.scene_size = (8, 1024) if quick else (2048, 6144)
    device = args.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.steppers = {}
    configure_backends(device, deterministic=False)  # cuDNN autotuning on CUDA, as the trainer sets it
    print(f"machine: {machine()}\n", flush=True)
    figures: dict = {"device": str(device), "batch_size": args.batch_size}
    cuda = device.type == "cuda"
    # fused Adam is timed on CUDA only; compile variants run last, so a timeout leaves the other figures
    variants = [v for v in VARIANTS if cuda or not v[3]]
    plain = [v for v in variants if not v[4]]
    compiled = [v for v in variants if v[4] and not args.no_compile]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = prepare_store(
            Sen12msIndex.scan(args.tree), folder / "store", workers=min(8, args.threads), progress=False
        )
        data = StoreDataset(store, store.patches, "s1s2", "multi")
        batches = list(StoreLoader(data, ShardSampler(len(data)), args.batch_size, args.threads, device))
        batches = [b for b in batches if len(b["index"]) == args.batch_size]
        rates = step_rates(args, data, batches[0], plain)
        figures["step_rates"] = rates
        save_json(args.json, figures)
        trainer = rates["resnet50"][plain[1 if cuda else 0][0]]  # the trainer's auto: bf16 + CL on CUDA, fp32 on CPU
        figures["end_to_end"] = end_to_end_part(args, store, folder, trainer)
        save_json(args.json, figures)
        figures["inference"] = inference_part(args, store, Path(figures["end_to_end"]["run"]), device)
        save_json(args.json, figures)
        figures["map_scene"] = mapping_part(args, folder, device)
        save_json(args.json, figures)
        if compiled:
            for arch, more in step_rates(args, data, batches[0], compiled).items():
                rates[arch].update(more)
            save_json(args.json, figures)
        print_steps(args, rates)
        figures["loss_curves"] = loss_curves(args, batches, max(rates["resnet50"], key=rates["resnet50"].get))
    save_json(args.json, figures)


if __name__ == "__main__":
    main()
