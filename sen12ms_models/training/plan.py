"""What a run will cost, said before it starts: sizes, steps, measured rates, memory, passes, hours.

``plan_lines`` states the shape of any run (``train`` prints it too). ``measure`` times a few
real optimizer steps of each model on one real batch (throwaway copies built under a forked
RNG, so the run itself is untouched) and, on CUDA, the memory each model holds and peaks at;
``split_passes`` packs the models into as few passes over the data as the device's memory
allows; ``Estimate`` turns the rates into hours.

Assumptions of the estimate, stated with it: reading scales with the DataLoader workers (the
single-process read rate times the workers), an evaluation step costs a third of a training
step (forward only), and every model runs all its epochs (early stopping only shortens it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sen12ms_models.datasets.loader import make_batches
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.models._registry import build_model
from sen12ms_models.models.spec import get_weights
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.group_data import AnyGroupDataset, MemberView, to_device
from sen12ms_models.training.member import train_step
from sen12ms_models.training.performance import Performance
from sen12ms_models.training.sampling import ShardSampler

#: Share of the device's memory a pass may plan to use (the rest: allocator slack, CUDA context).
MEMORY_FRACTION = 0.9
#: Cost of an evaluation step relative to a training step (forward only, no backward pass).
EVALUATION_SHARE = 1 / 3
GIB = 2**30


def plan_lines(shape: dict[str, Any], names: Sequence[str]) -> list[str]:
    """The plan of a run as lines: models, device, batch, split sizes, steps per epoch."""
    device, sizes = shape["device"], shape["sizes"]
    return [
        f"plan: {len(names)} model(s): {', '.join(names)}",
        f"plan: device {device['device']} ({device['precision']}), {shape['world_size']} process(es), "
        f"global batch {shape['batch_size']}",
        f"plan: split {shape['split']}: train {sizes['train']}, validation {sizes['validation']}, "
        f"test {sizes['test']} patches; {shape['steps_per_epoch']} steps per epoch, up to {shape['epochs']} epochs",
    ]


@dataclass(frozen=True)
class ModelCost:
    """One model's measured cost: seconds per training step (this process's batch) and, on CUDA,
    the bytes it holds between steps (weights, gradients, Adam) and its peak during a step."""

    name: str
    step_seconds: float
    resident_bytes: int | None
    peak_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def measure(
    configs: Sequence[TrainConfig], data: AnyGroupDataset, batch_size: int, performance: Performance, steps: int = 3
) -> tuple[float, list[ModelCost]]:
    """Seconds to read one patch in one process, and each model's ``ModelCost`` over ``steps`` timed steps."""
    device = performance.device
    loader = make_batches(data, ShardSampler(len(data)), batch_size, 0, device)
    started = time.perf_counter()
    batch = next(iter(loader))
    read_seconds = (time.perf_counter() - started) / len(batch["index"])
    on_device = to_device(batch, device)
    cuda = device.type == "cuda"
    costs = []
    for config in configs:
        spec = get_weights(config.name)
        own = Sen12msDataset(data.index, data.patches, config.modality, config.label_type)
        part = MemberView.of(data, own)(on_device)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        with torch.random.fork_rng(devices=[device] if cuda else []):
            model = build_model(config.arch, spec.in_chans, spec.num_classes)
            model.to(device).to(memory_format=performance.memory_format).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            criterion = torch.nn.BCEWithLogitsLoss() if config.label_type == "multi" else torch.nn.CrossEntropyLoss()
            train_step(model, optimizer, criterion, own, part, performance)  # warm-up: allocations, autotuning
            _sync(device)
            started = time.perf_counter()
            for _ in range(steps):
                train_step(model, optimizer, criterion, own, part, performance)
            _sync(device)
            seconds = (time.perf_counter() - started) / steps
        resident = peak = None
        if cuda:
            resident = torch.cuda.memory_allocated(device) - base
            peak = torch.cuda.max_memory_allocated(device) - base
        del model, optimizer
        costs.append(ModelCost(config.name, seconds, resident, peak))
    return read_seconds, costs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def memory_budget(device: torch.device) -> int | None:
    """Bytes a pass may use on ``device``: ``MEMORY_FRACTION`` of a GPU's memory; None (no limit) on CPU."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.get_device_properties(device).total_memory * MEMORY_FRACTION)


def split_passes(costs: Sequence[ModelCost], budget: int | None) -> list[list[str]]:
    """Pack the models, in order, into passes whose resident bytes plus the largest transient
    (peak - resident) fit ``budget``; one pass when there is no budget or no measurement.
    A model that alone exceeds the budget gets a pass of its own (it may still fail to fit)."""
    if budget is None or any(c.resident_bytes is None or c.peak_bytes is None for c in costs):
        return [[c.name for c in costs]]
    passes: list[list[ModelCost]] = []
    for cost in costs:
        current = passes[-1] if passes else None
        if current is not None and _needs([*current, cost]) <= budget:
            current.append(cost)
        else:
            passes.append([cost])
    return [[c.name for c in group] for group in passes]


def _needs(costs: Sequence[ModelCost]) -> int:
    resident = sum(c.resident_bytes or 0 for c in costs)
    return resident + max((c.peak_bytes or 0) - (c.resident_bytes or 0) for c in costs)


@dataclass(frozen=True)
class Estimate:
    """Hours a group needs, from measured rates (see the module docstring for the assumptions)."""

    read_seconds: float  # one patch, one process
    costs: tuple[ModelCost, ...]
    passes: tuple[tuple[str, ...], ...]
    workers: int
    world_size: int
    rank_batch: int
    steps_per_epoch: int
    validation_steps: int
    test_steps: int
    epochs: int

    def _step(self, names: Sequence[str], share: float) -> float:
        compute = share * sum(c.step_seconds for c in self.costs if c.name in names)
        return max(compute, self.read_seconds * self.rank_batch / max(self.workers, 1))

    def training_hours(self) -> float:
        """Wall-clock hours of all epochs of all passes (training and validation)."""
        per_epoch = sum(
            self.steps_per_epoch * self._step(names, 1.0) + self.validation_steps * self._step(names, EVALUATION_SHARE)
            for names in self.passes
        )
        return self.epochs * per_epoch / 3600

    def test_hours(self) -> float:
        """Wall-clock hours to score each best model on the test split (one test pass per model)."""
        return sum(self.test_steps * self._step([c.name], EVALUATION_SHARE) for c in self.costs) / 3600

    def device_hours(self) -> float:
        """Device-hours: wall-clock hours times the processes (one device each)."""
        return (self.training_hours() + self.test_hours()) * self.world_size

    def lines(self, device: torch.device) -> list[str]:
        unit = "GPU" if device.type == "cuda" else "CPU"
        readers = f"{self.workers} worker(s)" if self.workers else "the main process"
        out = [f"plan: reading {1 / self.read_seconds:.0f} patches/s per reading process; reading in {readers}"]
        for cost in self.costs:
            memory = (
                f"; memory {cost.resident_bytes / GIB:.2f} GiB held, {cost.peak_bytes / GIB:.2f} GiB peak"
                if cost.resident_bytes is not None and cost.peak_bytes is not None
                else "; memory not measured on CPU"
            )
            rate = self.rank_batch / cost.step_seconds
            out.append(f"plan: {cost.name}: {rate:.1f} images/s per training step{memory}")
        if len(self.passes) > 1:
            out.append(f"plan: the group does not fit the device's memory: {len(self.passes)} passes over the data")
        for number, names in enumerate(self.passes, 1):
            out.append(f"plan: pass {number}: {', '.join(names)}")
        out.append(
            f"plan: estimate for {self.epochs} epochs: {self.training_hours():.3g} h training + "
            f"{self.test_hours():.3g} h test scoring, {self.device_hours():.3g} {unit}-hours "
            f"({self.world_size} process(es); all epochs run; reading x workers; evaluation = 1/3 step)"
        )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "read_patches_per_second": 1 / self.read_seconds,
            "models": [c.to_json() for c in self.costs],
            "passes": [list(p) for p in self.passes],
            "training_hours": self.training_hours(),
            "test_hours": self.test_hours(),
            "device_hours": self.device_hours(),
        }
