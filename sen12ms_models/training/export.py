"""A run's best checkpoint as a publishable folder, and scores as the paper's Table 4 shows them."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sen12ms_models._types import PathLike
from sen12ms_models.errors import UnverifiedWeightsWarning
from sen12ms_models.hub import card
from sen12ms_models.labels import MULTI_LABEL_THRESHOLD
from sen12ms_models.models.api import build_model, load_checkpoint, resolve_device
from sen12ms_models.models.base import CONFIG_FILE, ModelSpec, config_json, save_weights
from sen12ms_models.paper import paper_metrics
from sen12ms_models.training.checkpoint import BEST
from sen12ms_models.training.config import SCORE_PRECISION, TrainConfig
from sen12ms_models.training.distributed import Performance
from sen12ms_models.training.evaluation import evaluate_split
from sen12ms_models.training.loop import METRICS_LOG, RUN_RECORD
from sen12ms_models.training.metrics import Scores
from sen12ms_models.weights import (
    MANIFEST_FILE,
    RETRAINED,
    ManifestEntry,
    Sen12msWeights,
    get_weights,
    register_weights,
    sha256_hex,
    write_manifest_entry,
)

#: The licence of the weights we train: the SEN12MS dataset's (CC-BY 4.0), whose terms they inherit.
RETRAINED_LICENSE = "CC-BY-4.0"


@dataclass(frozen=True)
class ExportResult:
    """The exported folder, its weights file, the manifest entry written and the test scores."""

    folder: Path
    weights: Path
    entry: ManifestEntry
    scores: Scores


def export_run(
    run_dir: PathLike,
    output_dir: PathLike,
    *,
    data_dir: PathLike | None = None,
    repo_id: str | None = None,
    register: bool = False,
    batch_size: int = 64,
    workers: int | None = None,
    device: str = "auto",
    precision: str = SCORE_PRECISION,
    progress: bool | None = None,
) -> ExportResult:
    """Export ``run_dir/best.pt`` into ``output_dir``, scored on the test split by loading the exported file.

    Writes ``<name>.safetensors`` (``build_model``'s keys, the spec in the header) and ``config.json``;
    ``metrics.json`` (every test score); ``training.json`` (config without local paths, split, best
    epoch); ``README.md`` (the model card); ``weights_manifest.json`` (the model's entry, ``revision``
    null until ``publish``).

    Args:
        run_dir: a ``train`` run's folder.
        output_dir: the folder to write (one model, one future Hub repository).
        data_dir: the SEN12MS root to score on (default: the run's, as ``run.json`` records it).
        repo_id: the Hub repository (default: the manifest's for this model).
        register: also register the file in the local registry, for ``load_model(name)``.
        batch_size, workers, device, progress: of the test scoring (``evaluate_split``).
        precision: of the test scores (``PRECISIONS``; default strict ``fp32``); recorded in ``training.json``, the
            card and ``run.json``.

    Raises:
        FileNotFoundError: no ``best.pt``, or no SEN12MS tree at the data dir (named).
    """
    run_dir, folder = Path(run_dir), Path(output_dir)
    best = load_checkpoint(run_dir / BEST)
    try:
        config = TrainConfig(**best["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{run_dir / BEST} records a config this version cannot take ({error}); train it again"
        ) from None
    data = Path(data_dir) if data_dir is not None else config.data_dir
    if not data.is_dir():
        origin = "given" if data_dir is not None else f"recorded in {run_dir / RUN_RECORD}"
        raise FileNotFoundError(
            f"the SEN12MS tree to score {run_dir} on, {data.absolute()} ({origin}), is not a directory; "
            "give its root with --data-dir (Python: export_run(..., data_dir=...))"
        )
    target = resolve_device(device)
    test_precision = Performance.choose(target, precision).precision  # refuses an unknown one before writing
    weights = get_weights(config.name)
    repo = repo_id or weights.repo_id  # ManifestError before anything is written, for a manifest without it
    model = build_model(weights.arch, weights.in_chans)
    model.load_state_dict(best["model"])  # strict: exactly build_model's keys and shapes
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_FILE).unlink(missing_ok=True)  # it will hold exactly this export's entry
    path = folder / weights.filename
    save_weights(model.state_dict(), ModelSpec.of(weights), path)  # one header key: the same bytes each time
    scoring: dict[str, Any] = {k: best["config"][k] for k in ("split", "split_seed", "num_validation_scenes")}
    scoring |= {"batch_size": batch_size, "workers": workers, "precision": precision, "progress": progress}
    with warnings.catch_warnings():  # the file was written just now; its hash goes into the manifest
        warnings.simplefilter("ignore", UnverifiedWeightsWarning)
        scores, chosen = evaluate_split(data, weights.value, weights=path, device=str(target), **scoring)
    written = path.read_bytes()
    metrics = manifest_metrics(scores, "test", chosen.describe())
    sha256 = sha256_hex(written)
    entry = ManifestEntry(
        weights.value, repo, RETRAINED, RETRAINED_LICENSE, sha256=sha256, size=len(written), metrics=metrics
    )
    run = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
    run["precision"] = {**run["precision"], "test": test_precision}
    (run_dir / RUN_RECORD).write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    log = (run_dir / METRICS_LOG).read_text(encoding="utf-8").splitlines()
    training = {
        "config": {k: v for k, v in best["config"].items() if k not in ("data_dir", "output_dir", "store")},
        **{k: run[k] for k in ("split", "world_size", "performance", "versions")},
        "epochs_done": json.loads(log[-1])["epoch"],
        "best_epoch": best["epoch"],
        "best_validation_f1_micro": best["validation"]["f1_micro"],
        "test_precision": test_precision,
    }
    for name, text in {
        "training.json": json.dumps(training, indent=2) + "\n",
        "metrics.json": json.dumps(scores.to_json(), indent=2) + "\n",
        "README.md": model_card(weights, entry, scores, training),
        CONFIG_FILE: json.dumps(config_json(ModelSpec.of(weights), path.name), indent=2) + "\n",
    }.items():
        (folder / name).write_text(text, encoding="utf-8")
    write_manifest_entry(entry, folder / MANIFEST_FILE)
    if register:
        register_weights(entry, written)
    return ExportResult(folder, path, entry, scores)


def model_card(weights: Sen12msWeights, entry: ManifestEntry, scores: Scores, training: dict[str, Any]) -> str:
    """The model card of retrained weights: usage, test scores beside the paper's, training (``export_run``'s
    ``training.json``), licences."""
    config, split = training["config"], training["split"]
    multi = f"multi-label (classes covering >= {100 * MULTI_LABEL_THRESHOLD:g} % of the patch)"
    body = card.template(
        "retrained.md",
        **config,  # the model, the split's name, the recipe
        **entry.to_json(),
        **split["sizes"],
        **{key: training[key] for key in ("epochs_done", "best_epoch", "test_precision")},
        label=multi if weights.label_type == "multi" else "single-label",
        bands=", ".join(weights.bands),
        filename=weights.filename,
        table=table4(scores, f"Test set ({scores.num_samples} patches), F1 in %", paper_metrics(weights.value)),
        best_f1=f"{training['best_validation_f1_micro']:.4f}",
        trained_in=training["performance"]["precision"],
        validation_scenes=len(split["validation_scenes"]),
        test_scenes=len(split["test_scenes"]),
        in_train="inside" if split["validation_in_train"] else "outside",
    )
    return card.model_card(weights, body, license=entry.license.lower())


def percent(value: float) -> float:
    """A [0, 1] score in percent, rounded to 0.01 (the paper prints 0.1)."""
    return round(100 * value, 2)


def table4_classes(scores: Scores, paper: dict[str, Any] | None) -> list[str]:
    """The class rows of a Table 4 beside ``paper`` (``paper_metrics``): the classes of the reference, and any the
    paper lists (one the reference lacks scores 0 if predicted, else has no F1)."""
    listed = (paper or {}).get("per_class_f1", {})
    return [c for c, n in zip(scores.classes, scores.support, strict=True) if n > 0 or c in listed]


def table4(scores: Scores, title: str, paper: dict[str, Any] | None = None) -> str:
    """``scores`` under ``title`` as the paper's Table 4 in percent (per-class F1 of ``table4_classes``, "Average F1":
    macro over the classes present, "Overall F1": micro), with ``paper`` (``paper_metrics``) as a column; then the
    other scores."""
    reference = paper or {}
    header = f"{'class (reference count)':<30}{'F1 %':>8}" + (f"{'paper':>8}" if paper else "")
    lines = [title, header, "-" * len(header)]

    def row(label: str, value: float | None, paper_value: Any) -> str:
        shown = f"{100 * value:>8.1f}" if value is not None else f"{'-':>8}"
        return f"{label:<30}{shown}" + (f"{paper_value:>8}" if paper else "")

    listed = reference.get("per_class_f1", {})
    for name in table4_classes(scores, paper):
        i = scores.classes.index(name)
        lines.append(row(f"{name} ({scores.support[i]})", scores.f1_per_class[i], listed.get(name, "-")))
    lines.append(row("Average F1", scores.f1_macro, reference.get("average_f1", "-")))
    lines.append(row("Overall F1", scores.f1_micro, reference.get("overall_f1", "-")))
    p = percent
    lines += [
        "",
        f"samples {scores.num_samples}; sample F1 {p(scores.f1_samples)}; macro F1 over all classes (the "
        f"toolbox's macroF1) {p(scores.f1_macro_all_classes)}",
        f"F2 micro/macro/samples {p(scores.f2_micro)}/{p(scores.f2_macro)}/{p(scores.f2_samples)}",
        f"precision micro/macro/samples {p(scores.precision_micro)}/{p(scores.precision_macro)}/"
        f"{p(scores.precision_samples)}; recall {p(scores.recall_micro)}/{p(scores.recall_macro)}/"
        f"{p(scores.recall_samples)}",
        f"Hamming loss {p(scores.hamming_loss)}; subset accuracy {p(scores.subset_accuracy)}; "
        f"best constant prediction: Overall F1 {p(scores.best_constant_f1_micro)}",
    ]
    return "\n".join(lines)


def manifest_metrics(scores: Scores, subset: str, split: dict[str, Any]) -> dict[str, Any]:
    """A manifest entry's ``metrics`` (percent, shaped like ``paper.paper_metrics``) of ``scores`` on
    ``subset`` (``test`` or ``validation``) of ``split`` (``Split.describe()``)."""
    scenes = split["test_scenes"] if subset == "test" else split["validation_scenes"]
    present = zip(scores.classes, scores.support, scores.f1_per_class, strict=True)
    return {
        "split": f"{subset} ({len(scenes)} scenes, {scores.num_samples} patches; split {split['name']!r})",
        "unit": "percent",
        "per_class_f1": {name: percent(f1) for name, n, f1 in present if n > 0 and f1 is not None},
        "average_f1": percent(scores.f1_macro),
        "overall_f1": percent(scores.f1_micro),
        "sample_f1": percent(scores.f1_samples),
        "precision_micro": percent(scores.precision_micro),
        "recall_micro": percent(scores.recall_micro),
        "f2_micro": percent(scores.f2_micro),
        "hamming_loss": percent(scores.hamming_loss),
        "subset_accuracy": percent(scores.subset_accuracy),
    }
