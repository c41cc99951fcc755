"""The commands that make weights: ``prepare``, ``train``, ``reproduce``, ``evaluate``, ``export``, ``publish``
(``train`` and ``reproduce`` also under ``torchrun ... -m sen12ms_models``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from sen12ms_models._types import PRECISIONS
from sen12ms_models.cli._common import add_device_argument, add_model_arguments, model_from, named_model, weights_entry
from sen12ms_models.training.config import SCORE_PRECISION, TRAIN_PRECISION, TrainConfig
from sen12ms_models.weights import get_weights

DATA_DIR, NO_PROGRESS = "SEN12MS root (holds ROIs*_<season>/)", "no progress bar or log lines"


def register(commands: argparse._SubParsersAction) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="pack a SEN12MS tree into a memory-mapped store that train --store reads (resumable)",
        description="Read every triplet once and write it to .npy arrays (S2 uint16, S1 float32, class shares): "
        "1.83 MB per 256x256 patch, each read back and compared bit for bit. Rerun to resume after a kill.",
    )
    prepare.add_argument("--data-dir", type=Path, required=True, help=DATA_DIR)
    prepare.add_argument("--output", type=Path, required=True, help="store folder (created; resumed if it exists)")
    subsets = ("all", "train", "validation", "test")
    prepare.add_argument("--subsets", nargs="+", choices=subsets, default=["all"], help="all, or subsets of --split")
    add_split_arguments(prepare)
    prepare.add_argument("--workers", type=int, default=0, help="reading processes (default 0: this one)")
    prepare.add_argument("--no-progress", dest="progress", action="store_false", default=None, help=NO_PROGRESS)
    prepare.set_defaults(func=_prepare)

    train = commands.add_parser(
        "train",
        help="train a baseline on SEN12MS (the paper's recipe; DDP under torchrun)",
        description=f"Train a baseline from scratch. Defaults are the paper's recipe: Adam, lr {TrainConfig.lr:g}, "
        f"weight decay {TrainConfig.weight_decay:g}, global batch {TrainConfig.batch_size}, up to "
        f"{TrainConfig.epochs} epochs, best epoch by validation micro F1.",
    )
    train.add_argument("--data-dir", type=Path, required=True, help=DATA_DIR)
    train.add_argument("--output-dir", type=Path, required=True, help="run folder: run.json, metrics.jsonl, *.pt")
    add_model_arguments(train)
    add_run_arguments(train, "last.pt")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("evaluate", help="score a model on a SEN12MS split, as a Table 4 and as JSON")
    evaluate.add_argument("--data-dir", type=Path, required=True, help=DATA_DIR)
    add_model_arguments(evaluate)
    evaluate.add_argument(
        "--weights",
        type=Path,
        help=".safetensors file, model folder or training checkpoint (default: the published); alone, the model "
        "it records",
    )
    evaluate.add_argument("--subset", default="test", help="test or validation")
    add_split_arguments(evaluate)
    evaluate.add_argument("--output", type=Path, help="JSON file for every score (default: <model>-<subset>.json)")
    add_runtime_arguments(evaluate, precision=SCORE_PRECISION)
    evaluate.set_defaults(func=_evaluate)

    export = commands.add_parser(
        "export", help="a run's best checkpoint as safetensors + model card + manifest entry, with test scores"
    )
    export.add_argument("run_dir", type=Path, help="the --output-dir of a train run (holds best.pt)")
    export.add_argument("--output-dir", type=Path, required=True, help="the folder to publish")
    export.add_argument("--data-dir", type=Path, help="SEN12MS root to score on (default: the run's)")
    export.add_argument("--repo-id", help="Hub repository (default: the manifest's for this model)")
    export.add_argument("--register", action="store_true", help="also register the file in the local registry")
    add_runtime_arguments(export, precision=SCORE_PRECISION)  # of the test scores
    export.set_defaults(func=_export)

    publish = commands.add_parser(
        "publish", help="upload an exported folder to the Hub, pin its commit in the manifest"
    )
    publish.add_argument("export_dir", type=Path, help="a folder written by `sen12ms-models export`")
    publish.add_argument("--manifest", type=Path, help="manifest to record the revision in (default: the folder's own)")
    publish.add_argument("--private", action="store_true", help="create the repository private")
    publish.add_argument("--dry-run", action="store_true", help="print what would be uploaded and written; no network")
    publish.set_defaults(func=_publish)

    reproduce = commands.add_parser(
        "reproduce",
        help="train, score and export a group of baselines (Table 4) on one pass over the data per epoch",
        description="Print the plan (models, device and precision, processes, batch, split sizes, steps), train "
        "the --models together (each batch read once; each model its own Adam state, best epoch and early stopping), "
        "score and export each to OUTPUT/export/<model>/, write OUTPUT/table4.json and table4.md beside the paper's "
        "values. Defaults: the paper's recipe in fp32.",
    )
    reproduce.add_argument("--data-dir", type=Path, required=True, help=DATA_DIR)
    reproduce.add_argument("--output-dir", type=Path, required=True, help="folder: plan.json, runs/, export/, table4.*")
    models = "table4 (the paper's six multi-label models), all (single-label, s1, s1rgb too) or NAME,NAME,..."
    reproduce.add_argument("--models", default="table4", metavar="SET", help=models)
    add_run_arguments(reproduce, "runs/last.pt")
    score = "precision of the test scores (default: %(default)s, strict, as the published scores)"
    reproduce.add_argument("--score-precision", choices=PRECISIONS, default=SCORE_PRECISION, help=score)
    reproduce.add_argument("--plan-only", action="store_true", help="print the plan, then stop")
    reproduce.set_defaults(func=_reproduce)


def add_run_arguments(parser: argparse.ArgumentParser, state: str) -> None:
    """``TrainConfig``'s fields as arguments (unset: its defaults); ``state``: what ``--resume`` reads."""
    add_split_arguments(parser)
    parser.add_argument(
        "--store", type=Path, help="read patches from this store (sen12ms-models prepare); --workers: its threads"
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--seed", type=int, help="seeds the weights and the shuffling")
    parser.add_argument("--patience", type=int, help="stop after this many epochs without a better validation F1")
    parser.add_argument("--checkpoint-every", type=int, metavar="STEPS", help=f"also save {state} mid-epoch")
    parser.add_argument(
        "--resume", action="store_true", help=f"continue the run in --output-dir from its {state} (or start it)"
    )
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms (reproducible bits)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (faster on GPUs)")
    parser.add_argument(
        "--channels-last", action=argparse.BooleanOptionalAction, help="channels-last memory (default: on CUDA only)"
    )
    add_runtime_arguments(parser, precision=TRAIN_PRECISION, batch_size=None)
    lines = f"off a terminal: a log line (loss, images/s) every STEPS steps (default {TrainConfig.log_every})"
    parser.add_argument("--log-every", type=int, metavar="STEPS", help=f"{lines}; 0: a line every 30 s")


def config_from(args: argparse.Namespace, name: str) -> TrainConfig:
    """The ``TrainConfig`` of model ``name`` from the arguments of ``add_run_arguments``."""
    values = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    weights = get_weights(name)
    parts = {"arch": weights.arch, "modality": weights.modality, "label_type": weights.label_type}
    return TrainConfig(**values | parts)


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        default=TrainConfig.split,
        help="paper: published validation scenes, also trained on (as published); clean: removed from train; "
        "random: --num-validation-scenes drawn with --split-seed",
    )
    parser.add_argument("--split-seed", type=int, default=TrainConfig.split_seed)
    parser.add_argument("--num-validation-scenes", type=int, default=TrainConfig.num_validation_scenes)


def add_runtime_arguments(
    parser: argparse.ArgumentParser, *, precision: str, batch_size: int | None = TrainConfig.batch_size
) -> None:
    """``--workers``, ``--batch-size``, ``--device``, ``--precision``, ``--no-progress``, with these defaults."""
    parser.add_argument("--workers", type=int, help="DataLoader workers per process (default: the CPUs)")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="images per step, over all processes")
    add_device_argument(parser)
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=precision,
        help="fp32 (strict), tf32 (float32 on TF32 tensor cores; fp32 off CUDA) or bf16 (autocast): %(default)s",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None, help=NO_PROGRESS)


def _train(args: argparse.Namespace) -> int:
    from sen12ms_models.training.loop import train

    config = config_from(args, model_from(args))
    result = train(config)
    if result.is_main:
        best = f"best epoch {result.best_epoch}, validation micro F1 {result.best_f1_micro:.4f}"
        print(f"{config.name}: {result.epochs_done} epochs; {best}; {result.output_dir}")
    return 0


def _scoring(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of the test scoring (``evaluate_split``'s, ``export_run``'s)."""
    return {k: getattr(args, k) for k in ("batch_size", "workers", "device", "precision", "progress")}


def _evaluate(args: argparse.Namespace) -> int:
    from sen12ms_models.paper import paper_metrics
    from sen12ms_models.training.evaluation import evaluate_split
    from sen12ms_models.training.export import table4

    if (name := named_model(args)) is None:  # --weights alone: the model its file records
        from sen12ms_models.models.api import load_model

        name = load_model(args.weights).spec.name
    if args.weights:
        source = str(args.weights)
    elif (entry := weights_entry(name)).published:  # refuses a model with no weights before reading the data
        source = f"published {name} at {str(entry.revision)[:7]}"
    else:
        source = f"registered {name} ({entry.source}, sha256 {str(entry.sha256)[:12]})"
    split = {k: getattr(args, k) for k in ("split", "split_seed", "num_validation_scenes")}
    split |= {"weights": args.weights, "subset": args.subset}
    scores, chosen = evaluate_split(args.data_dir, name, **split, **_scoring(args))
    paper = paper_metrics(name) if args.subset == "test" else None  # Table 4 is of the test split
    print(table4(scores, f"{name} ({source}) on the {args.subset} split, F1 in %", paper))
    output = args.output or Path(f"{name}-{args.subset}.json")
    record = {"model": name, "weights": source, "subset": args.subset, "split": chosen.describe()}
    output.write_text(json.dumps({**record, "scores": scores.to_json()}, indent=2) + "\n", encoding="utf-8")
    print(f"scores written to {output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from sen12ms_models.training.export import export_run

    where = {"data_dir": args.data_dir, "repo_id": args.repo_id, "register": args.register}
    result = export_run(args.run_dir, args.output_dir, **where, **_scoring(args))
    scored = f"test micro F1 {result.scores.f1_micro:.4f}{'; registered locally' if args.register else ''}"
    print(f"{result.entry.name}: exported to {result.folder} (sha256 {result.entry.sha256}); {scored}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from sen12ms_models.hub.publish import publish

    result = publish(args.export_dir, manifest=args.manifest, private=args.private, dry_run=args.dry_run)
    print(json.dumps(result, indent=2))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from sen12ms_models.datasets.splits import make_split
    from sen12ms_models.datasets.store import prepare_store
    from sen12ms_models.datasets.tree import Sen12msIndex

    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    index = Sen12msIndex.scan(args.data_dir)
    if "all" in args.subsets:
        patches = list(index.usable())
    else:
        split = make_split(index, args.split, seed=args.split_seed, num_validation_scenes=args.num_validation_scenes)
        patches = sorted({patch for subset in args.subsets for patch in getattr(split, subset)})
    started = time.perf_counter()
    store = prepare_store(index, args.output, patches, workers=args.workers, progress=args.progress)
    seconds, count = time.perf_counter() - started, len(store.patches)
    gigabytes = store.bytes_per_patch * count / 1e9
    print(f"{args.output}: {count} patches of {store.size}x{store.size}, {gigabytes:.2f} GB; {seconds:.1f}s")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from sen12ms_models.training.reproduce import reproduce, select_models

    names = select_models(args.models)
    options = {k: getattr(args, k) for k in ("plan_only", "score_precision")}
    result = reproduce(config_from(args, names[0]), names, **options)
    for export in result.exports:
        f1 = f"test micro F1 {export.scores.f1_micro:.4f}, Average F1 {export.scores.f1_macro:.4f}"
        print(f"{export.entry.name}: {f1}; {export.folder}")
    if result.exports:
        print(f"tables: {result.output_dir / 'table4.json'}, {result.output_dir / 'table4.md'}")
    return 0
