"""``sen12ms-models reproduce``: every baseline of Table 4 from one command, on one pass over the data.

::

    sen12ms-models reproduce --data-dir /data/SEN12MS --output-dir table4 --plan-only
    sen12ms-models reproduce --data-dir /data/SEN12MS --output-dir table4 --models table4
    torchrun --nproc-per-node=4 -m sen12ms_models.training reproduce --data-dir ... --output-dir ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sen12ms_models.cli.train import add_run_arguments, config_from
from sen12ms_models.training.config import PRECISIONS, RECIPE_PRECISION


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "reproduce",
        help="train, score and export a group of baselines (Table 4) on one pass over the data per epoch",
        description="Print the plan (models, split sizes, steps, measured rates and memory, estimated device-hours), "
        "train every model of --models together (each batch read once; each model its own Adam state, best epoch "
        "and early stopping), score each best checkpoint on the test split, export each to OUTPUT/export/<model>/ "
        "and write OUTPUT/table4.json and table4.md beside the paper's values. Defaults: the paper's recipe in fp32.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="SEN12MS root (holds ROIs*_<season>/)")
    parser.add_argument("--output-dir", type=Path, required=True, help="folder: plan.json, runs/, export/, table4.*")
    parser.add_argument(
        "--models",
        default="table4",
        metavar="SET",
        help="table4 (the paper's six multi-label models), all (every model: single-label, s1, s1rgb too) "
        "or NAME,NAME,...",
    )
    add_run_arguments(parser, "runs/last.pt", precision=RECIPE_PRECISION)
    parser.add_argument(
        "--score-precision",
        choices=PRECISIONS,
        default=RECIPE_PRECISION,
        help="precision of the test scores (the recipe's: fp32)",
    )
    parser.add_argument("--plan-only", action="store_true", help="print the plan and the estimate, then stop")
    parser.add_argument(
        "--timed-steps", type=int, default=3, metavar="STEPS", help="optimizer steps timed per model for the estimate"
    )
    parser.set_defaults(func=_reproduce)


def _reproduce(args: argparse.Namespace) -> int:
    from sen12ms_models.training.reproduce import reproduce, select_models

    names = select_models(args.models)
    template = config_from(args, names[0])
    result = reproduce(
        template, names, plan_only=args.plan_only, score_precision=args.score_precision, timed_steps=args.timed_steps
    )
    for export in result.exports:
        scores = export.scores
        name, folder = export.spec.name, export.folder
        print(f"{name}: test micro F1 {scores.f1_micro:.4f}, Average F1 {scores.f1_macro:.4f}; {folder}")
    if result.exports:
        print(f"tables: {result.output_dir / 'table4.json'}, {result.output_dir / 'table4.md'}")
    return 0
