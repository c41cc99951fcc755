"""Score a model on a SEN12MS subset: the validation of each epoch, and the ``evaluate`` command.

Predictions follow ``labels.decide``, the rule of the published baselines and of ``predict``
(multi-label: sigmoid >= 0.5; single-label: argmax). Counts are summed on the device and across ranks
(``metrics.MetricCounts``), so a distributed evaluation equals a single-process one exactly.

>>> model = load_for_evaluation("resnet50-s1s2-multi", "runs/r50/best.pt")          # doctest: +SKIP
>>> scores = evaluate(model, Sen12msDataset(index, split.test, "s1s2"))           # doctest: +SKIP
>>> scores.f1_micro                                                                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from tqdm import tqdm

from sen12ms_models._types import PathLike
from sen12ms_models.datasets.loader import make_batches
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import Split, SplitName, make_split
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.labels import decide, output_probabilities
from sen12ms_models.models._api import load_model
from sen12ms_models.models.base import Sen12msClassifier
from sen12ms_models.training.distributed import Process, all_reduce_sum, resolve_device
from sen12ms_models.training.metrics import MetricCounts, Scores
from sen12ms_models.training.performance import Performance
from sen12ms_models.training.sampling import ShardSampler


def evaluation_loader(
    dataset: Sen12msDataset, batch_size: int, workers: int, process: Process
) -> Iterable[dict[str, Any]]:
    """This rank's exact shard of ``dataset``, in order, in batches of ``batch_size``."""
    sampler = ShardSampler(len(dataset), process.rank, process.world_size)
    return make_batches(dataset, sampler, batch_size, workers, process.device)


#: A model to score in one pass: the network, the dataset view whose ``to_input`` and
#: ``label_type`` apply to it, and the function that picks its part of a loader's batch.
Scored = tuple[torch.nn.Module, Sen12msDataset, Callable[[dict[str, Any]], dict[str, Any]]]


def _whole(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


@torch.inference_mode()
def score_models(
    models: Sequence[Scored],
    loader: Iterable[dict[str, Any]],
    process: Process,
    performance: Performance,
    progress: bool | None = None,
) -> list[Scores]:
    """Score every model (eval mode) on each batch of ``loader``, reading the data once for all of
    them; returns their scores, summed over all ranks, in order."""
    counts = [MetricCounts(dataset.label_type, device=process.device) for _, dataset, _ in models]
    for model, _, _ in models:
        model.eval()
    batches = tqdm(loader, desc="evaluate", leave=False, disable=process.bar_disabled(progress))
    for batch in batches:
        for (model, dataset, select), count in zip(models, counts, strict=True):
            part = select(batch)
            x = dataset.to_input(part, process.device, performance.memory_format)
            with performance.autocast():
                logits = model(x)
            target = part["target"].to(process.device, non_blocking=True)
            count.update(
                decide(output_probabilities(logits.float(), dataset.label_type), dataset.label_type),
                target.bool() if dataset.label_type == "multi" else target,
            )
    for count in counts:
        all_reduce_sum(count.tensor, process)
    return [count.compute() for count in counts]


def score_loader(
    model: torch.nn.Module,
    dataset: Sen12msDataset,
    loader: Iterable[dict[str, Any]],
    process: Process,
    performance: Performance,
    progress: bool | None = None,
) -> Scores:
    """Run ``model`` (eval mode) over ``loader`` of ``dataset`` and return the scores summed over all ranks."""
    return score_models([(model, dataset, _whole)], loader, process, performance, progress)[0]


def evaluate(
    model: torch.nn.Module,
    dataset: Sen12msDataset,
    *,
    batch_size: int = 64,
    workers: int = 0,
    process: Process | None = None,
    performance: Performance | None = None,
    progress: bool | None = None,
) -> Scores:
    """Scores of ``model`` on every patch of ``dataset`` (one process unless ``process`` says otherwise)."""
    if process is None:
        device = next(model.parameters()).device
        process = Process(0, 0, 1, device)
    performance = performance or Performance.choose(process.device)
    model.to(process.device).to(memory_format=performance.memory_format)
    loader = evaluation_loader(dataset, batch_size, workers, process)
    return score_loader(model, dataset, loader, process, performance, progress)


def load_for_evaluation(model: str, weights: PathLike | None = None, device: str = "auto") -> Sen12msClassifier:
    """The model to score: ``load_model(model, weights=weights)`` on ``device`` (``auto``: this
    process's GPU if any). ``weights`` is a training checkpoint (``.pt``, read weights-only), a
    ``.safetensors`` file, or None for the published or registered weights.
    """
    return load_model(model, weights=weights, device=resolve_device(device))


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
    workers: int = 0,
    device: str = "auto",
    precision: str = "auto",
    progress: bool | None = None,
) -> tuple[Scores, Split]:
    """Score a model (see ``load_for_evaluation``) on the ``subset`` (test or validation) of a SEN12MS tree.

    >>> scores, split = evaluate_split("/data/SEN12MS", "resnet50-s1s2-multi", weights="best.pt")  # doctest: +SKIP
    """
    if subset not in ("test", "validation"):
        raise ValueError(f"subset must be 'test' or 'validation', got {subset!r}")
    index = Sen12msIndex.scan(data_dir)
    chosen = make_split(index, split, seed=split_seed, num_validation_scenes=num_validation_scenes)
    patches = chosen.test if subset == "test" else chosen.validation
    if not patches:
        raise ValueError(f"{data_dir} holds no patch of the {subset} scenes of split {split!r}")
    target = resolve_device(device)
    network = load_for_evaluation(model, weights, str(target))
    assert network.spec is not None and network.spec.label_type is not None
    scores = evaluate(
        network,
        Sen12msDataset(index, patches, network.spec.modality, network.spec.label_type),
        batch_size=batch_size,
        workers=workers,
        process=Process(0, 0, 1, target),
        performance=Performance.choose(target, precision),
        progress=progress,
    )
    return scores, chosen
