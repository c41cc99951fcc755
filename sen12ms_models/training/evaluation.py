"""Score a model on a SEN12MS subset: the validation of each epoch, and the ``evaluate`` command.

Multi-label predictions are the classes whose sigmoid is >= 0.5, single-label the argmax, as the
published baselines (and ``predict``) decide. Counts are summed on the device and across ranks
(``metrics.MetricCounts``), so a distributed evaluation equals a single-process one exactly.

>>> model = load_for_evaluation("resnet50", "s1s2", "multi", "runs/r50/best.pt")   # doctest: +SKIP
>>> scores = evaluate(model, Sen12msDataset(index, split.test, "s1s2"))           # doctest: +SKIP
>>> scores.f1_micro                                                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..io import Sen12msIndex
from ..loading import load_model
from ..models import Sen12msClassifier, build_model
from ..splits import Split, SplitName, make_split
from ..weights import get_weights
from .checkpoint import load_checkpoint
from .dataset import Sen12msDataset, make_loader
from .distributed import Process, all_reduce_sum, resolve_device
from .metrics import MetricCounts, Scores
from .performance import Performance
from .sampling import ShardSampler


def predict_labels(logits: torch.Tensor, label_type: str) -> torch.Tensor:
    """Boolean ``(N, K)`` mask (multi: sigmoid >= 0.5) or class indices ``(N,)`` (single: argmax)."""
    return torch.sigmoid(logits) >= 0.5 if label_type == "multi" else logits.argmax(dim=1)


def evaluation_loader(dataset: Sen12msDataset, batch_size: int, workers: int, process: Process) -> DataLoader:
    """This rank's exact shard of ``dataset``, in order, in batches of ``batch_size``."""
    sampler = ShardSampler(len(dataset), process.rank, process.world_size)
    return make_loader(dataset, sampler, batch_size, workers, process.device)


@torch.inference_mode()
def score_loader(
    model: torch.nn.Module,
    dataset: Sen12msDataset,
    loader: DataLoader,
    process: Process,
    performance: Performance,
    progress: bool | None = None,
) -> Scores:
    """Run ``model`` (eval mode) over ``loader`` and return the scores summed over all ranks."""
    model.eval()
    counts = MetricCounts(dataset.label_type, device=process.device)
    batches = tqdm(loader, desc="evaluate", leave=False, disable=process.bar_disabled(progress))
    for batch in batches:
        x = dataset.to_input(batch, process.device, performance.memory_format)
        with performance.autocast():
            logits = model(x)
        target = batch["target"].to(process.device, non_blocking=True)
        counts.update(
            predict_labels(logits.float(), dataset.label_type),
            target.bool() if dataset.label_type == "multi" else target,
        )
    all_reduce_sum(counts.tensor, process)
    return counts.compute()


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


def load_for_evaluation(
    arch: str,
    modality: str,
    label_type: str,
    weights: str | os.PathLike[str] | None = None,
    device: str = "auto",
) -> Sen12msClassifier:
    """The model to score: a training checkpoint (``.pt``, read weights-only), a ``.safetensors``
    file (through ``load_model``), or with ``weights=None`` the published weights.
    """
    target = resolve_device(device)
    if weights is None or Path(weights).suffix != ".pt":
        return load_model(arch, modality, label_type, weights=weights, device=target)
    state = load_checkpoint(weights)
    trained = {key: state["config"][key] for key in ("arch", "modality", "label_type")}
    asked = {"arch": arch, "modality": modality, "label_type": label_type}
    if trained != asked:
        raise ValueError(f"{weights} was trained as {trained}, not {asked}")
    spec = get_weights(arch, modality, label_type)
    model = build_model(arch, spec.in_chans, spec.num_classes)
    model.load_state_dict(state["model"])
    model.spec = spec
    return model.to(target).eval()


def evaluate_split(
    data_dir: str | os.PathLike[str],
    arch: str,
    modality: str,
    label_type: str,
    weights: str | os.PathLike[str] | None = None,
    *,
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

    >>> scores, split = evaluate_split("/data/SEN12MS", "resnet50", "s1s2", "multi", "best.pt")  # doctest: +SKIP
    """
    if subset not in ("test", "validation"):
        raise ValueError(f"subset must be 'test' or 'validation', got {subset!r}")
    index = Sen12msIndex.scan(data_dir)
    chosen = make_split(index, split, seed=split_seed, num_validation_scenes=num_validation_scenes)
    patches = chosen.test if subset == "test" else chosen.validation
    if not patches:
        raise ValueError(f"{data_dir} holds no patch of the {subset} scenes of split {split!r}")
    target = resolve_device(device)
    model = load_for_evaluation(arch, modality, label_type, weights, str(target))
    scores = evaluate(
        model,
        Sen12msDataset(index, patches, modality, label_type),
        batch_size=batch_size,
        workers=workers,
        process=Process(0, 0, 1, target),
        performance=Performance.choose(target, precision),
        progress=progress,
    )
    return scores, chosen
