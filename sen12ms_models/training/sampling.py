"""Which samples each process sees: a resumable shuffled sampler and an exact evaluation shard.

Training uses ``ResumableSampler``, torch's ``DistributedSampler`` (its order depends only on
``seed + epoch``, so a resumed run replays it exactly) with one addition: an epoch can start
after the samples a killed run had already trained on. Every rank gets ``ceil(n / world)``
samples (the sampler pads by repeating the first ones), so with a global batch ``B`` split
evenly over the ranks an epoch is ``ceil(n / B)`` optimizer steps whatever the process count.

Evaluation uses ``ShardSampler``: rank ``r`` of ``w`` takes samples ``r, r + w, ...``, no
padding, so summed counts cover every sample exactly once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler, Sampler


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled, padded) whose epoch can skip its first samples."""

    def __init__(self, dataset: Sized, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)  # type: ignore[arg-type]
        self.skip = 0

    def start_epoch(self, epoch: int, skip: int = 0) -> None:
        """Shuffle for ``epoch`` and leave out this rank's first ``skip`` samples of it."""
        if not 0 <= skip <= self.num_samples:
            raise ValueError(f"skip must be in [0, {self.num_samples}], got {skip}")
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return self.num_samples - self.skip


class ShardSampler(Sampler[int]):
    """Samples ``rank, rank + world_size, ...`` of ``length``, in order, each exactly once."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = range(rank, length, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
