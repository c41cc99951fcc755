"""Score models on a SEN12MS subset (``labels.decide``, as ``predict``): each epoch's validation, ``evaluate``.

Rank ``r`` of ``w`` scores samples ``r, r + w, ...`` (no padding) and the counts add up across ranks,
so a distributed evaluation equals a single-process one exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from typing import cast

import torch

from sen12ms_models._progress import Progress
from sen12ms_models._types import PathLike
from sen12ms_models.classes import CLASSES
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import Split, SplitName, make_split
from sen12ms_models.datasets.store import Batch, make_batches
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.labels import DECISION_THRESHOLD, decide, label_target, output_probabilities
from sen12ms_models.models.api import load_model, resolve_device
from sen12ms_models.training.config import SCORE_PRECISION, default_workers
from sen12ms_models.training.distributed import Performance, Process, all_reduce_sum
from sen12ms_models.training.metrics import MetricCounts, Scores


def evaluation_loader(dataset: Sen12msDataset, batch_size: int, workers: int, process: Process) -> Iterable[Batch]:
    """This rank's shard of ``dataset`` (samples ``rank, rank + world_size, ...``) in batches of ``batch_size``."""
    shard = range(process.rank, len(dataset), process.world_size)
    return make_batches(dataset, shard, batch_size, workers, process.device)


@torch.inference_mode()
def score_models(
    models: Sequence[tuple[torch.nn.Module, Sen12msDataset]],
    loader: Iterable[Batch],
    process: Process,
    performance: Performance,
    progress: bool | None,
) -> list[Scores]:
    """Each (model, dataset whose ``to_input`` and ``label_type`` apply to it)'s scores, in eval mode, over
    every rank's samples, reading ``loader`` once for all."""
    counts = [MetricCounts(dataset.label_type, device=process.device) for _, dataset in models]
    for model, _ in models:
        model.eval()
    shown = Progress(len(cast(Sized, loader)), "evaluate", "batch", enabled=process.progress(progress))
    with performance.arithmetic(), shown:
        for batch in loader:
            shares = batch["shares"].to(process.device, non_blocking=True)
            for (model, dataset), count in zip(models, counts, strict=True):
                x = dataset.to_input(batch, process.device, performance.memory_format)
                with performance.autocast():
                    logits = model(x)
                probabilities = output_probabilities(logits.float(), dataset.label_type)
                predicted = decide(probabilities, dataset.label_type, _threshold(model))
                count.update(predicted, label_target(shares, dataset.label_type))
            shown.update()
    for count in counts:
        all_reduce_sum(count.tensor, process)
    return [count.compute() for count in counts]


def _threshold(model: torch.nn.Module) -> float:
    """The multi-label threshold of ``model`` (or of the network a ``DataParallel`` wraps), as ``predict`` uses it:
    its ``spec.decision_threshold``, 0.5 for a network without a spec."""
    network = getattr(model, "module", model)
    return float(getattr(getattr(network, "spec", None), "decision_threshold", DECISION_THRESHOLD))


def evaluate(
    model: torch.nn.Module,
    dataset: Sen12msDataset,
    *,
    batch_size: int = 64,
    workers: int = 0,
    performance: Performance | None = None,
    progress: bool | None = None,
) -> Scores:
    """Scores of ``model`` on every patch of ``dataset``.

    Args:
        model: a classifier of ``dataset``'s modality and label type; its ``spec.decision_threshold`` decides
            its multi labels, as in ``predict``.
        dataset: the patches to score.
        batch_size, workers: patches per forward pass and loader workers.
        performance: precision and memory format (default: ``Performance.choose``'s for the device).
        progress: ``Progress``'s ``enabled``.

    Returns:
        Micro, macro and per-class F1, precision, recall and the counts behind them (``Scores``).
    """
    process = Process(0, 0, 1, next(model.parameters()).device)
    performance = performance or Performance.choose(process.device)
    model.to(process.device).to(memory_format=performance.memory_format)
    loader = evaluation_loader(dataset, batch_size, workers, process)
    return score_models([(model, dataset)], loader, process, performance, progress)[0]


def evaluate_split(
    data_dir: PathLike,
    model: str,
    *,
    weights: PathLike | None = None,
    subset: str = "test",
    split: SplitName = "paper",
    split_seed: int = 0,
    num_validation_scenes: int = 25,
    batch_size: int = 64,
    workers: int | None = None,
    device: str = "auto",
    precision: str = SCORE_PRECISION,
    progress: bool | None = None,
) -> tuple[Scores, Split]:
    """Score a model on the ``subset`` of a split of the SEN12MS tree ``data_dir``.

    Args:
        data_dir: the SEN12MS root.
        model: the model's name.
        weights: a training checkpoint (``.pt``), a ``.safetensors`` file, or ``None``: ``load_model``'s.
        subset: ``test`` or ``validation`` of the split ``split``, ``split_seed``, ``num_validation_scenes``.
        batch_size, progress: as ``evaluate``'s; workers: loader workers (``None``: ``default_workers``).
        device: ``auto`` (a GPU if any) or a device.
        precision: ``fp32`` (default: strict, as the published scores), ``tf32`` or ``bf16``.

    Returns:
        The scores and the split they were computed on.

    Raises:
        ValueError: another subset, or no patch of it in ``data_dir``.
        FileNotFoundError: ``data_dir`` is not a SEN12MS tree.
    """
    if subset not in ("test", "validation"):
        raise ValueError(f"subset must be 'test' or 'validation', got {subset!r}")
    index = Sen12msIndex.scan(data_dir)
    chosen = make_split(index, split, seed=split_seed, num_validation_scenes=num_validation_scenes)
    patches = getattr(chosen, subset)
    if not patches:
        raise ValueError(f"{data_dir} holds no patch of the {subset} scenes of split {split!r}")
    target = resolve_device(device)
    network = load_model(model, weights=weights, device=target)
    if network.spec.classes != CLASSES:
        raise ValueError(
            f"{network.spec.name} has {network.num_classes} classes ({', '.join(network.spec.classes)}), not "
            "SEN12MS's 10 simplified-IGBP ones: evaluate scores the SEN12MS test set, so only 10-class models; "
            "score your own classes on your own data with predict"
        )
    spec, performance = network.spec, Performance.choose(target, precision)
    assert spec.modality is not None and spec.label_type is not None  # a named model reads a modality's bands
    dataset = Sen12msDataset(index, patches, spec.modality, spec.label_type)
    workers = default_workers(1, workers)
    scores = evaluate(
        network, dataset, batch_size=batch_size, workers=workers, performance=performance, progress=progress
    )
    return scores, chosen
