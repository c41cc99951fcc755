"""Turn a run's best checkpoint into a publishable folder: safetensors, model card, manifest entry.

The folder holds ``<name>.safetensors`` (weights only, the exact state-dict keys of
``build_model``), ``README.md`` (the model card), ``metrics.json`` (every test score),
``training.json`` (how it was trained: config without local paths, split, best epoch), for
ResNet50 timm's ``config.json`` (``hub.timm_config``) and
``weights_manifest.json`` with the model's entry: sha256 and size filled, ``source`` retrained,
``metrics`` measured on the test split by loading the exported file itself (in fp32 unless
``precision`` says otherwise: the recipe had no autocast), ``revision`` null
until ``publish`` uploads it. Optionally the file is registered in the local registry, so
``load_model(arch, modality, label_type)`` finds it without a path.

>>> result = export_run("runs/r50-s1s2", "export/r50-s1s2")   # doctest: +SKIP
>>> result.spec.sha256                                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from sen12ms_models._types import PathLike
from sen12ms_models.hub.manifest import MANIFEST_FILE, RETRAINED, ManifestEntry, write_manifest_entry
from sen12ms_models.hub.registry import register_weights
from sen12ms_models.hub.timm_config import write_timm_config
from sen12ms_models.hub.verify import sha256_hex
from sen12ms_models.models._api import UnverifiedWeightsWarning
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.spec import WeightsSpec, get_weights
from sen12ms_models.training.checkpoint import BEST, load_checkpoint
from sen12ms_models.training.config import RECIPE_PRECISION, TrainConfig
from sen12ms_models.training.distributed import resolve_device
from sen12ms_models.training.evaluation import evaluate_split
from sen12ms_models.training.member import METRICS_LOG, RUN_RECORD
from sen12ms_models.training.metrics import Scores
from sen12ms_models.training.model_card import model_card
from sen12ms_models.training.performance import Performance
from sen12ms_models.training.report import manifest_metrics

#: The licence of weights we train: the SEN12MS dataset's (CC-BY 4.0), whose terms they inherit.
RETRAINED_LICENSE = "CC-BY-4.0"


@dataclass(frozen=True)
class ExportResult:
    """The exported folder, its weights file, the manifest entry written and the test scores."""

    folder: Path
    weights: Path
    spec: WeightsSpec
    scores: Scores


def export_run(
    run_dir: PathLike,
    output_dir: PathLike,
    *,
    data_dir: PathLike | None = None,
    repo_id: str | None = None,
    register: bool = False,
    batch_size: int = 64,
    workers: int = 0,
    device: str = "auto",
    precision: str = RECIPE_PRECISION,
    progress: bool | None = None,
) -> ExportResult:
    """Export ``run_dir/best.pt`` into ``output_dir`` and score it on the test split.

    ``data_dir`` defaults to the run's own; ``repo_id`` to the manifest's for this model;
    ``precision`` (fp32, bf16 or auto) is the one the test scores are computed in, recorded in
    ``training.json``, the card and the run's ``run.json``.
    """
    run_dir, folder = Path(run_dir), Path(output_dir)
    state = load_checkpoint(run_dir / BEST)
    config = TrainConfig.from_json(state["config"])
    if data_dir is not None:
        config = dataclasses.replace(config, data_dir=Path(data_dir))
    base = get_weights(config.name)
    model = build_model(config.arch, base.in_chans, base.num_classes)
    model.load_state_dict(state["model"])  # strict: exactly build_model's keys and shapes

    target = resolve_device(device)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / base.filename
    save_file(model.state_dict(), weights, metadata={"model": base.name, "epoch": str(state["epoch"])})

    with warnings.catch_warnings():  # the file was written just now; its hash goes into the manifest
        warnings.simplefilter("ignore", UnverifiedWeightsWarning)
        scores, split = evaluate_split(
            config.data_dir,
            config.name,
            weights=weights,
            subset="test",
            split=config.split,
            split_seed=config.split_seed,
            num_validation_scenes=config.num_validation_scenes,
            batch_size=batch_size,
            workers=workers,
            device=str(target),
            precision=precision,
            progress=progress,
        )

    data = weights.read_bytes()
    entry = ManifestEntry(
        name=base.name,
        repo_id=repo_id or base.repo_id or f"sen12ms-models/{base.name}",
        source=RETRAINED,
        license=RETRAINED_LICENSE,
        sha256=sha256_hex(data),
        size=len(data),
        metrics=manifest_metrics(scores, "test", split.describe()),
    )
    spec = base.with_entry(entry)
    test_precision = Performance.choose(target, precision).precision
    training = {**_training_record(run_dir, state), "test_precision": test_precision}
    _record_test_precision(run_dir, test_precision)
    (folder / "training.json").write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(scores.to_json(), indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(model_card(spec, scores, training), encoding="utf-8")
    write_timm_config(spec, folder)
    manifest = folder / MANIFEST_FILE
    manifest.unlink(missing_ok=True)  # the folder's manifest holds exactly this export's entry
    write_manifest_entry(entry, manifest)
    if register:
        register_weights(entry, weights)
    return ExportResult(folder, weights, spec, scores)


def _record_test_precision(run_dir: Path, precision: str) -> None:
    """Add the test scores' precision to the run's ``run.json`` (beside training and validation)."""
    path = run_dir / RUN_RECORD
    run = json.loads(path.read_text(encoding="utf-8"))
    run["precision"] = {**run.get("precision", {}), "test": precision}
    path.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")


def _training_record(run_dir: Path, best: dict[str, Any]) -> dict[str, Any]:
    """How the weights came to be (from ``run.json`` and the log), without local paths."""
    run = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
    log = (run_dir / METRICS_LOG).read_text(encoding="utf-8").splitlines()
    return {
        "config": {k: v for k, v in best["config"].items() if k not in ("data_dir", "output_dir")},
        "split": run["split"],
        "epochs_done": json.loads(log[-1])["epoch"],
        "best_epoch": best["epoch"],
        "best_validation_f1_micro": best["validation"]["f1_micro"],
        "world_size": run["world_size"],
        "performance": run["performance"],
        "versions": run["versions"],
    }
