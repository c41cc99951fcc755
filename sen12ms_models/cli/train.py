"""The training commands of ``sen12ms-models``: ``train``, ``evaluate``, ``export``, ``publish``.

``train`` runs as one process or under ``torchrun`` (DDP)::

    sen12ms-models train --data-dir /data/SEN12MS --output-dir runs/r50 --model resnet50-s1s2-multi
    torchrun --nproc-per-node=4 -m sen12ms_models.training train --data-dir ... --output-dir ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sen12ms_models.cli._common import add_model_arguments, model_from
from sen12ms_models.datasets.splits import SPLITS
from sen12ms_models.training.config import PRECISIONS, RECIPE_PRECISION, TrainConfig, default_workers

if TYPE_CHECKING:
    from sen12ms_models.models.spec import WeightsSpec

#: The paper's recipe and the other run defaults, as TrainConfig holds them.
DEFAULTS = {field.name: field.default for field in dataclasses.fields(TrainConfig)}


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a baseline on SEN12MS (the paper's recipe; DDP under torchrun)",
        description=f"Train a baseline from scratch. Defaults are the paper's recipe: Adam, lr {DEFAULTS['lr']:g}, "
        f"weight decay {DEFAULTS['weight_decay']:g}, global batch {DEFAULTS['batch_size']}, up to "
        f"{DEFAULTS['epochs']} epochs, best epoch by validation micro F1.",
    )
    train.add_argument("--data-dir", type=Path, required=True, help="SEN12MS root (holds ROIs*_<season>/)")
    train.add_argument("--output-dir", type=Path, required=True, help="run folder: run.json, metrics.jsonl, *.pt")
    add_model_arguments(train)
    add_run_arguments(train, "last.pt", precision=str(DEFAULTS["precision"]))
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model on the SEN12MS test split (a table like the paper's Table 4, plus JSON)",
    )
    evaluate.add_argument("--data-dir", type=Path, required=True, help="SEN12MS root (holds ROIs*_<season>/)")
    add_model_arguments(evaluate)
    evaluate.add_argument(
        "--weights", type=Path, help="a .safetensors file or a training checkpoint (.pt); default: the published"
    )
    evaluate.add_argument("--subset", choices=("test", "validation"), default="test")
    add_split_arguments(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--output", type=Path, help="JSON file for every score (default: <model>-<subset>.json)")
    add_runtime_arguments(evaluate, precision="auto")
    evaluate.set_defaults(func=_evaluate)

    export = commands.add_parser(
        "export",
        help="turn a run's best checkpoint into safetensors + model card + manifest entry, scored on the test split",
    )
    export.add_argument("run_dir", type=Path, help="the --output-dir of a train run (holds best.pt)")
    export.add_argument("--output-dir", type=Path, required=True, help="the folder to publish")
    export.add_argument("--data-dir", type=Path, help="SEN12MS root to score on (default: the run's)")
    export.add_argument("--repo-id", help="Hub repository (default: the manifest's for this model)")
    export.add_argument("--register", action="store_true", help="also register the file in the local registry")
    export.add_argument("--batch-size", type=int, default=64)
    add_runtime_arguments(export, precision=RECIPE_PRECISION)  # of the test scores
    export.set_defaults(func=_export)

    publish = commands.add_parser(
        "publish", help="upload an exported folder to the Hugging Face Hub and pin its commit in the manifest"
    )
    publish.add_argument("export_dir", type=Path, help="a folder written by `sen12ms-models export`")
    publish.add_argument("--manifest", type=Path, help="manifest to record the revision in (default: the package's)")
    publish.add_argument("--private", action="store_true", help="create the repository private")
    publish.add_argument("--dry-run", action="store_true", help="print what would be uploaded and written; no network")
    publish.set_defaults(func=_publish)


def add_run_arguments(parser: argparse.ArgumentParser, state: str, *, precision: str) -> None:
    """The recipe, split, resume, speed and output arguments of a training run (``train``, ``reproduce``);
    ``state`` names the file ``--resume`` continues from, ``precision`` is ``--precision``'s default."""
    add_split_arguments(parser)
    parser.add_argument(
        "--store", type=Path, help="read patches from this store (sen12ms-models prepare), not the GeoTIFFs"
    )
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULTS["batch_size"], help="global batch, split evenly over the processes"
    )
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seeds the weights and the shuffling")
    parser.add_argument("--patience", type=int, help="stop after this many epochs without a better validation F1")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULTS["checkpoint_every"],
        metavar="STEPS",
        help=f"also save {state} mid-epoch",
    )
    parser.add_argument(
        "--resume", action="store_true", help=f"continue the run in --output-dir from its {state} (start one if none)"
    )
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms (reproducible bits)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (faster on GPUs)")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory (default: on for CUDA only)",
    )
    add_runtime_arguments(parser, precision=precision)
    parser.add_argument(
        "--log-every",
        type=int,
        default=DEFAULTS["log_every"],
        metavar="STEPS",
        help="when stderr is not a terminal (batch jobs): a log line (loss, images/s) every STEPS steps; 0: none",
    )


def config_from(args: argparse.Namespace, name: str) -> TrainConfig:
    """The ``TrainConfig`` of model ``name`` from arguments named as its fields (``add_run_arguments``)."""
    arch, modality, label_type = name.split("-")
    named = {"arch": arch, "modality": modality, "label_type": label_type}
    values: dict[str, Any] = {field: named.get(field, getattr(args, field, None)) for field in DEFAULTS}
    return TrainConfig(**values)


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default=DEFAULTS["split"],
        help="paper: published validation scenes, also trained on (as published); clean: removed from train; "
        "random: --num-validation-scenes drawn with --split-seed",
    )
    parser.add_argument("--split-seed", type=int, default=DEFAULTS["split_seed"])
    parser.add_argument("--num-validation-scenes", type=int, default=DEFAULTS["num_validation_scenes"])


def add_runtime_arguments(parser: argparse.ArgumentParser, *, precision: str | None) -> None:
    """``--workers``, ``--device``, ``--no-progress`` and, unless ``precision`` is None, ``--precision``
    with that default."""
    parser.add_argument("--workers", type=int, help="DataLoader workers per process (default: the CPUs, shared)")
    parser.add_argument("--device", default="auto", help="auto (this rank's GPU if any, else CPU), cpu, cuda, ...")
    if precision is not None:
        parser.add_argument(
            "--precision",
            choices=PRECISIONS,
            default=precision,
            help="auto: bf16 on CUDA, else fp32 (the recipe's)",
        )
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")


def _train(args: argparse.Namespace) -> int:
    from sen12ms_models.training.loop import train

    config = config_from(args, model_from(args))
    result = train(config)
    if result.is_main:
        print(
            f"{config.name}: {result.epochs_done} epochs; best epoch {result.best_epoch}, "
            f"validation micro F1 {result.best_f1_micro:.4f}; {result.output_dir}"
        )
    return 0


def _weights_origin(spec: WeightsSpec) -> str:
    """Where ``load_model(spec.name)`` took the weights from: the Hub at a commit, or the registry."""
    from sen12ms_models.hub.registry import find_registered

    if spec.published:
        return f"published {spec.name} at {str(spec.revision)[:7]}"
    registered = find_registered(spec.name)
    entry = registered[0] if registered else None
    return f"registered {spec.name} ({entry.source}, sha256 {str(entry.sha256)[:12]})" if entry else spec.name


def _evaluate(args: argparse.Namespace) -> int:
    from sen12ms_models.models.spec import get_weights
    from sen12ms_models.training.evaluation import evaluate_split
    from sen12ms_models.training.report import table4

    name = model_from(args)
    scores, split = evaluate_split(
        args.data_dir,
        name,
        weights=args.weights,
        subset=args.subset,
        split=args.split,
        split_seed=args.split_seed,
        num_validation_scenes=args.num_validation_scenes,
        batch_size=args.batch_size,
        workers=default_workers(1) if args.workers is None else args.workers,
        device=args.device,
        precision=args.precision,
        progress=args.progress,
    )
    spec = get_weights(name)
    source = str(args.weights) if args.weights else _weights_origin(spec)
    print(table4(scores, f"{spec.name} ({source}) on the {args.subset} split, F1 in %", spec.paper_metrics))
    output = args.output or Path(f"{spec.name}-{args.subset}.json")
    record = {"model": spec.name, "weights": source, "subset": args.subset, "split": split.describe()}
    output.write_text(json.dumps({**record, "scores": scores.to_json()}, indent=2) + "\n", encoding="utf-8")
    print(f"scores written to {output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from sen12ms_models.training.export import export_run

    result = export_run(
        args.run_dir,
        args.output_dir,
        data_dir=args.data_dir,
        repo_id=args.repo_id,
        register=args.register,
        batch_size=args.batch_size,
        workers=default_workers(1) if args.workers is None else args.workers,
        device=args.device,
        precision=args.precision,
        progress=args.progress,
    )
    print(
        f"{result.spec.name}: exported to {result.folder} (sha256 {result.spec.sha256}); test micro F1 "
        f"{result.scores.f1_micro:.4f}{'; registered locally' if args.register else ''}"
    )
    return 0


def _publish(args: argparse.Namespace) -> int:
    from sen12ms_models.hub.publish import publish

    print(
        json.dumps(
            publish(args.export_dir, manifest=args.manifest, private=args.private, dry_run=args.dry_run), indent=2
        )
    )
    return 0
