"""GPU figures in one run: step variants, the trainer end to end on a store, device inference, map_scene.

    python benchmarks/gpu.py --tree TREE [--quick] [--no-compile] [--json out.json]

TREE is a synthetic SEN12MS tree of the default 8 scenes (``run_all.py --gpu`` writes it). On
a CPU (``--quick``) everything runs at toy sizes, to prove the script, not to measure.

1. Training step at ``--batch-size`` (64), resnet50-s1s2 and densenet121-s1s2, on one batch
   from the store: tf32 NCHW, tf32 + channels-last (the trainer's default on CUDA), bf16 +
   channels-last, + fused Adam, + ``torch.compile(mode="reduce-overhead")`` (CUDA graphs); each
   against tf32 NCHW. Then loss curves: ``--curve-steps`` steps on the store's batches for tf32
   (seeds 0 and 1) and for the fastest variant (seed 0); the fastest is within noise when it
   differs from tf32 seed 0 by no more than tf32 seed 1 does (mean absolute loss difference).
2. The trainer end to end (``training.loop.train`` with ``store=``), resnet50-s1s2: train images/s
   of each epoch, validation timed apart (``score_models`` wrapped with a timer), against the
   step rate of the trainer's settings measured in part 1.
3. Inference with ``predict(precision=...)`` on in-memory raw arrays (the trained model of part 2,
   ``load_model(weights=RUN/best.pt)``, patches of the store), resnet50-s1s2, fp32 (TF32 off),
   TF32 and bf16 at batch 256, against ``predict`` at its default batch 32 in fp32; agreement of
   the bf16 and TF32 label sets with fp32's.
4. ``map_scene`` windows/s, resnet50-s2 (random weights), stride 128, against ``predict`` on
   windows of the same scene already in memory (the cost of reading and writing the scene).
5. (printed after part 1) ``reproduce --models table4`` in GPU-hours for the full dataset, from
   part 1's step rates and the store loader's rate (see ``reproduce_estimate``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from _util import Stepper, best_rate, machine, print_table, save_json, sync, write_scene
from rasterio.windows import Window

import sen12ms_models as sm
from sen12ms_models._types import PRECISIONS
from sen12ms_models.datasets.store import PreparedStore, StoreDataset, StoreLoader, prepare_store
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.labels import decide
from sen12ms_models.paper import TABLE4
from sen12ms_models.training import loop
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.distributed import Performance, configure_backends
from sen12ms_models.weights import get_weights

#: The paper split's patch counts on the full dataset: ``make_split(index, "paper")`` on the published
#: scene lists (docs/data.md; tests/test_splits.py checks the validation and test counts).
FULL_SPLIT = {"train": 162_555, "validation": 18_550, "test": 18_106}
#: Cost of an evaluation step (forward only) relative to a training step, for the estimate.
EVALUATION_SHARE = 1 / 3

#: (name, precision, channels-last, fused Adam, compile mode)
VARIANTS = (
    ("tf32 NCHW", "tf32", False, False, None),
    ("tf32 + channels-last (trainer default)", "tf32", True, False, None),
    ("bf16 + channels-last", "bf16", True, False, None),
    ("+ fused Adam", "bf16", True, True, None),
    ("+ compile reduce-overhead", "bf16", True, True, "reduce-overhead"),
)


def step_rates(args: argparse.Namespace, data: StoreDataset, batch: dict, variants: list[tuple]) -> dict:
    """Images/s of each variant and architecture on ``batch``; the resnet50 steppers are kept in ``args``."""
    rates: dict[str, dict[str, float]] = {}
    for arch in ("resnet50", "densenet121"):
        rates[arch] = {}
        for name, precision, channels_last, fused, mode in variants:
            performance = Performance.choose(args.device, precision, channels_last)
            stepper = Stepper(arch, performance, data, fused=fused, compile_mode=mode)
            warmup = 3 if mode else 1
            rates[arch][name] = best_rate(partial(stepper, batch), args.batch_size, args.steps, warmup)
            print(f"  step {arch} {name}: {rates[arch][name]:.4g} images/s", flush=True)
            if arch == "resnet50":
                args.steppers[name] = stepper
    return rates


def loss_curves(args: argparse.Namespace, batches: list[dict], fastest: str) -> dict:
    """Loss per step over ``batches`` (cycled): tf32 seeds 0 and 1, and ``fastest`` seed 0."""
    curves = {}
    for label, name, seed in (
        ("tf32 seed 0", "tf32 NCHW", 0),
        ("tf32 seed 1", "tf32 NCHW", 1),
        ("fastest", fastest, 0),
    ):
        stepper = args.steppers[name]
        stepper.reset(seed)
        losses = [stepper(batches[i % len(batches)]) for i in range(args.curve_steps)]
        curves[label] = [float(loss) for loss in losses]
    base = np.array(curves["tf32 seed 0"])
    fast_gap = float(np.abs(np.array(curves["fastest"]) - base).mean())
    seed_gap = float(np.abs(np.array(curves["tf32 seed 1"]) - base).mean())
    print(
        f"loss curves over {args.curve_steps} steps, resnet50: fastest ({fastest}) vs tf32 {fast_gap:.4f}, "
        f"tf32 seed 1 vs seed 0 {seed_gap:.4f}: {'within' if fast_gap <= seed_gap else 'OUTSIDE'} noise\n"
    )
    return {"fastest": fastest, "curves": curves, "curve_gap": fast_gap, "seed_gap": seed_gap}


def print_steps(args: argparse.Namespace, rates: dict) -> None:
    rows = [(arch, name, rate, rate / rates[arch]["tf32 NCHW"]) for arch in rates for name, rate in rates[arch].items()]
    print_table(
        f"Training step, s1s2 256x256, batch {args.batch_size}, {args.device} (images/s, best of {args.steps})",
        ("arch", "variant", "images/s", "vs tf32 NCHW"),
        rows,
    )


def reproduce_estimate(rates: dict, loader_rate: float, device: torch.device) -> dict:
    """GPU-hours of ``reproduce --models table4`` (the paper's six models trained in one pass, every one of
    ``TrainConfig.epochs`` epochs run: early stopping only shortens it, then each model scored on the test
    split) on ``FULL_SPLIT``, from ``rates`` (part 1, every modality at the s1s2 rate: only the stem differs)
    and ``loader_rate`` (patches/s of the store loader; a step waits for it when it is slower)."""
    archs = [get_weights(name).arch for name in TABLE4]
    epochs, sizes, estimate, rows = TrainConfig.epochs, FULL_SPLIT, {}, []
    unit = "GPU-hours" if device.type == "cuda" else f"{device.type.upper()}-hours"
    trained = ("tf32 + channels-last (trainer default)", "bf16 + channels-last")
    for variant in [v for v in trained if v in rates["resnet50"]]:
        per_image = [1 / rates[arch][variant] for arch in archs]  # seconds per image of each model's step

        def seconds(patches: int, compute: float) -> float:
            return patches * max(compute, 1 / loader_rate)

        group = sum(per_image)
        epoch = seconds(sizes["train"], group) + seconds(sizes["validation"], EVALUATION_SHARE * group)
        test = sum(seconds(sizes["test"], EVALUATION_SHARE * s) for s in per_image)
        estimate[variant] = {"training_hours": epochs * epoch / 3600, "test_hours": test / 3600}
        rows.append((variant, epochs * epoch / 3600, test / 3600, (epochs * epoch + test) / 3600))
    print_table(
        f"reproduce --models table4 on the full paper split ({sizes['train']:,} train, {sizes['validation']:,} "
        f"validation, {sizes['test']:,} test patches), {epochs} epochs, loader {loader_rate:.4g} patches/s, "
        f"evaluation at {EVALUATION_SHARE:.2g} of a step ({unit}, one {device.type} device)",
        ("precision", "training h", "test scoring h", unit),
        rows,
    )
    return {"sizes": sizes, "epochs": epochs, "loader_patches_per_s": loader_rate, "hours": estimate}


def end_to_end_part(args: argparse.Namespace, store: PreparedStore, folder: Path, step_rate: float) -> dict:
    """``train`` on the store for ``args.epochs``; each epoch's train rate against ``step_rate``."""
    validation: list[float] = []
    score_models = loop.score_models

    def timed(*a: Any, **k: Any) -> Any:
        sync()
        started = time.perf_counter()
        scores = score_models(*a, **k)
        sync()
        validation.append(time.perf_counter() - started)
        return scores

    run = folder / "run"
    loop.score_models = timed
    try:
        config = TrainConfig(
            args.tree,
            run,
            epochs=args.epochs,
            batch_size=args.batch_size,
            store=store.path,
            workers=args.threads,
            progress=False,
        )
        loop.train(config)
    finally:
        loop.score_models = score_models
    records = [json.loads(line) for line in (run / loop.METRICS_LOG).read_text().splitlines()]
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
        "run": str(run),
    }


def inference_part(args: argparse.Namespace, store: PreparedStore, run: Path) -> dict:
    """``predict`` on the store's patches in each precision (batch 256) against fp32 at batch 32."""
    model = sm.load_model("resnet50-s1s2-multi", weights=run / "best.pt", device=args.device)
    fast = sm.optimize_for_inference(model)
    count = min(len(store.patches), args.predict_patches)
    s1, s2 = np.array(store.s1[:count]), np.array(store.s2[:count])
    options = sm.InputOptions(s2_bands=store.s2_bands)  # the store keeps the 10 surface bands of L1C

    def run_once(precision: str, batch_size: int = 256) -> np.ndarray:
        prediction = sm.predict(fast, s1=s1, s2=s2, options=options, batch_size=batch_size, precision=precision)
        return prediction.probabilities

    baseline = "predict() batch 32, fp32"
    rates = {baseline: best_rate(lambda: run_once("fp32", 32), count, 1)}
    labels = {}
    for precision in PRECISIONS:
        rates[precision] = best_rate(partial(run_once, precision), count, 3)
        labels[precision] = decide(run_once(precision), "multi")
    agreement = {p: float((labels[p] == labels["fp32"]).all(1).mean()) for p in ("tf32", "bf16")}
    print_table(
        f"Inference, resnet50-s1s2 (trained in part 2), {count} in-memory patches, batch 256, {args.device} "
        "(patches/s)",
        ("path", "patches/s", f"vs {baseline}", "label sets equal to fp32"),
        [
            (name, rate, rate / rates[baseline], f"{100 * agreement[name]:.2f}%" if name in agreement else "")
            for name, rate in rates.items()
        ],
    )
    return {"rates": rates, "agreement_with_fp32": agreement, "patches": count}


def mapping_part(args: argparse.Namespace, folder: Path) -> dict:
    """``map_scene`` at stride 128 against ``predict`` on windows of the scene already in memory."""
    scene, out = folder / "scene.tif", folder / "probabilities.tif"
    write_scene(scene, args.scene_size)
    torch.manual_seed(0)
    model = sm.optimize_for_inference(sm.load_model("resnet50", "s2", pretrained=False, device=args.device))
    with rasterio.open(scene) as source:  # windows below the scene's no-data strip
        size = args.scene_size // 256 - 1
        windows = np.stack(
            [source.read(window=Window(256 * (i % size), 256 * (1 + i // size), 256, 256)) for i in range(size * size)]
        )
    in_memory = best_rate(lambda: sm.predict(model, s2=windows, batch_size=args.batch_size), len(windows), 3)
    sm.map_scene(model, s2=scene, out=out, stride=256, batch_size=args.batch_size, progress=False)  # warm-up
    result = sm.map_scene(model, s2=scene, out=out, stride=128, batch_size=args.batch_size, progress=False)
    rate = result.windows_per_second
    print(
        f"map_scene, resnet50-s2, {args.scene_size}^2 scene, stride 128: {result.windows} windows, {rate:.4g}/s; "
        f"predict on {len(windows)} windows in memory {in_memory:.4g}/s: map_scene at {rate / in_memory:.2f} of it\n"
    )
    return {
        "windows": result.windows,
        "seconds": result.seconds,
        "windows_per_s": rate,
        "predict_in_memory_per_s": in_memory,
        "of_in_memory": rate / in_memory,
    }


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
        started = time.perf_counter()
        batches = list(StoreLoader(data, range(len(data)), args.batch_size, args.threads, device))
        sync()
        loader_rate = len(data) / (time.perf_counter() - started)
        batches = [b for b in batches if len(b["index"]) == args.batch_size]
        rates = step_rates(args, data, batches[0], plain)
        figures["step_rates"] = rates
        figures["reproduce_estimate"] = reproduce_estimate(rates, loader_rate, device)
        save_json(args.json, figures)
        trainer = rates["resnet50"][plain[1 if cuda else 0][0]]  # the trainer's default: tf32, channels-last on CUDA
        figures["end_to_end"] = end_to_end_part(args, store, folder, trainer)
        save_json(args.json, figures)
        figures["inference"] = inference_part(args, store, Path(figures["end_to_end"]["run"]))
        save_json(args.json, figures)
        figures["map_scene"] = mapping_part(args, folder)
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
