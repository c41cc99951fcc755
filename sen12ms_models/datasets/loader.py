"""Batches from a prepared store, gathered by threads: the GeoTIFF loader's batches at memory speed.

``StoreDataset`` is a ``Sen12msDataset`` whose pixels and labels come from a ``PreparedStore``
(``datasets.store``): the same items, transform and ``to_input``. ``StoreLoader`` yields the
batches ``make_loader`` yields over it - the same dicts (``s2`` uint16, ``s1`` float32,
``target``, ``index`` as torch tensors) in the same sampler order - but without worker
processes: a pool of threads copies each patch from the memory-mapped arrays straight into the
batch tensor (numpy releases the GIL while it copies, page faults included). On CUDA the batch
tensors are pinned, taken from torch's caching host allocator, so after the first batches the
same pinned blocks are reused, and a block is handed out again only once the non-blocking
copies that read it are done. One copy per byte (page cache -> pinned batch), against a
DataLoader's three (worker array -> shared memory -> collated batch -> pinned batch). On a CPU
device the batch arrays come from a pool and go back to it once no tensor uses them any more
(the consumer dropped the batch and every view of it), because fresh memory page-faults on
first touch: gathering 64 patches of 256x256 into fresh memory ran 10x slower here than into
reused memory (234 against 2,420 patches/s on one thread).

``make_batches`` picks the loader a dataset needs; training and evaluation call it.

>>> store = open_store("/scratch/sen12ms-store")                                   # doctest: +SKIP
>>> data = StoreDataset(store, split.train, "s1s2", "multi")                        # doctest: +SKIP
>>> for batch in StoreLoader(data, sampler, 64, threads=8, device=torch.device("cuda")): ...  # doctest: +SKIP
"""

from __future__ import annotations

import math
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader
from sen12ms_models.datasets.store import S2_ROWS, PreparedStore
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.labels import label_target

Batch = dict[str, Any]


class StoreDataset(Sen12msDataset):
    """The patches ``patches`` of a prepared ``store``, for ``modality`` and ``label_type``.

    Items and ``transform`` are those of ``Sen12msDataset`` over the tree the store was prepared
    from (which need not exist any more). ``ValueError`` names the patches the store lacks.
    """

    def __init__(
        self, store: PreparedStore, patches: Sequence[PatchId], modality: str, label_type: str = "multi"
    ) -> None:
        super().__init__(store.index(store.source), patches, modality, label_type)
        self.store = store
        #: Store row of each position.
        self.rows = store.rows(self.patches)
        stored = [S2_ROWS.index(row) for row in self._s2_rows]
        if stored and stored != list(range(stored[0], stored[0] + len(stored))):
            raise ValueError(f"modality {modality}: its S2 bands are not adjacent in the store")
        #: The stored S2 rows this modality reads (a slice: one contiguous copy per patch).
        self.s2_slice = slice(stored[0], stored[-1] + 1) if stored else None
        #: Each position's class shares, from which its targets follow.
        self.shares = store.probabilities[self.rows]
        #: Each position's target, as ``Sen12msDataset`` computes it from the LC patch.
        self.targets = label_target(self.shares, label_type)
        #: More targets gathered into every batch, by batch key (a training group's other label type).
        self.extra_targets: dict[str, np.ndarray] = {}

    def __getitem__(self, position: int) -> dict[str, Any]:
        row = self.rows[position]
        item: dict[str, Any] = {"index": position}
        if self.s2_slice is not None:
            item["s2"] = np.array(self.store.s2[row, self.s2_slice])
        if self._reads_s1:
            item["s1"] = np.array(self.store.s1[row])
        item["target"] = np.array(self.targets[position])
        for key, targets in self.extra_targets.items():
            item[key] = np.array(targets[position])
        return item


class StoreLoader:
    """Batches of ``dataset`` in ``sampler``'s order (the last one smaller), gathered by ``threads``.

    Up to ``prefetch`` batches are gathered ahead of the one being consumed. Pinned memory on
    CUDA. With ``device_copy`` (default: on CUDA) the loader also copies ``s2``, ``s1`` and
    ``target`` to ``device`` one batch ahead on a side stream, so the copy overlaps the step
    that runs on the batch before (``index`` stays on the host); the consumer's stream waits
    for the copy. Iterable any number of times (once per epoch); ``len`` is the number of batches.
    """

    def __init__(
        self,
        dataset: StoreDataset,
        sampler: Iterable[int],
        batch_size: int,
        threads: int,
        device: torch.device,
        prefetch: int = 2,
        device_copy: bool | None = None,
    ) -> None:
        if batch_size < 1 or threads < 1 or prefetch < 0:
            raise ValueError(
                f"need batch_size >= 1, threads >= 1, prefetch >= 0; got {batch_size}, {threads}, {prefetch}"
            )
        self.dataset, self.sampler, self.batch_size = dataset, sampler, batch_size
        self.threads, self.prefetch = threads, prefetch
        self.device, self.pin = device, device.type == "cuda"
        #: CPU batch arrays no tensor uses any more, by (shape, dtype); see ``_empty``.
        self._free: dict[tuple[tuple[int, ...], torch.dtype], list[np.ndarray]] = {}
        self.device_copy = self.pin if device_copy is None else device_copy
        if self.device_copy and not self.pin:
            raise ValueError(f"device_copy needs a CUDA device, got {device}")

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Batch]:
        batches = self._host_batches()
        if not self.device_copy:
            yield from batches
            return
        stream = torch.cuda.Stream(self.device)
        ahead: tuple[Batch, torch.cuda.Event] | None = None
        for batch in batches:
            with torch.cuda.stream(stream):
                moved = {k: v if k == "index" else v.to(self.device, non_blocking=True) for k, v in batch.items()}
                copied = stream.record_event()
            if ahead is not None:
                yield self._ready(*ahead)
            ahead = moved, copied
        if ahead is not None:
            yield self._ready(*ahead)

    def _ready(self, batch: Batch, copied: torch.cuda.Event) -> Batch:
        """Make the consumer's stream wait for ``batch``'s copy, and keep its memory until it is done."""
        current = torch.cuda.current_stream(self.device)
        current.wait_event(copied)
        for key, tensor in batch.items():
            if key != "index":
                tensor.record_stream(current)
        return batch

    def _host_batches(self) -> Iterator[Batch]:
        positions = np.fromiter(iter(self.sampler), dtype=np.int64)
        starts = range(0, len(positions), self.batch_size)
        with ThreadPoolExecutor(self.threads, thread_name_prefix="store-loader") as pool:
            pending: deque[tuple[Batch, list[Future[None]]]] = deque()
            for start in starts:
                pending.append(self._submit(pool, positions[start : start + self.batch_size]))
                if len(pending) > self.prefetch:
                    yield _finish(*pending.popleft())
            while pending:
                yield _finish(*pending.popleft())

    def _submit(self, pool: ThreadPoolExecutor, positions: np.ndarray) -> tuple[Batch, list[Future[None]]]:
        """Allocate one batch and start its gather: ``threads`` pieces of consecutive patches."""
        data, store, n = self.dataset, self.dataset.store, len(positions)
        batch: Batch = {"index": torch.from_numpy(positions)}
        sources: list[tuple[np.ndarray, np.ndarray]] = []  # (memory-mapped source rows, batch array)
        if data.s2_slice is not None:
            batch["s2"] = self._empty((n, *store.s2[0, data.s2_slice].shape), torch.uint16)
            sources.append((store.s2[:, data.s2_slice], batch["s2"].numpy()))
        if data._reads_s1:
            batch["s1"] = self._empty((n, *store.s1.shape[1:]), torch.float32)
            sources.append((store.s1, batch["s1"].numpy()))
        for key, targets in {"target": data.targets, **data.extra_targets}.items():
            target = torch.from_numpy(targets[positions])
            batch[key] = target.pin_memory() if self.pin else target
        rows = data.rows[positions]
        pieces = np.array_split(np.arange(n), min(self.threads, n))
        futures = [pool.submit(_gather, sources, rows, piece) for piece in pieces]
        return batch, futures

    def _empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A batch tensor: pinned from torch's caching host allocator on CUDA, else from ``_free``."""
        if self.pin:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        full = (self.batch_size, *shape[1:])
        free = self._free.setdefault((full, dtype), [])
        base = free.pop() if free else torch.empty(full, dtype=dtype).numpy()
        view = base[: shape[0]]  # the tensor's storage keeps this view alive, and only it
        weakref.finalize(view, free.append, base)  # back to the pool when the last tensor on it is gone
        return torch.from_numpy(view)


def _gather(sources: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray, piece: np.ndarray) -> None:
    """Copy store rows ``rows[piece]`` into batch positions ``piece`` of every (source, batch) pair."""
    for source, out in sources:
        for k in piece:
            np.copyto(out[k], source[rows[k]])


def _finish(batch: Batch, futures: list[Future[None]]) -> Batch:
    for future in futures:
        future.result()  # re-raises a thread's error here
    return batch


def make_batches(
    dataset: Sen12msDataset, sampler: Sampler[int], batch_size: int, workers: int, device: torch.device
) -> Iterable[Batch]:
    """The loader for ``dataset``: ``StoreLoader`` with ``workers`` threads (at least one) for a
    ``StoreDataset``, else ``make_loader``'s DataLoader with ``workers`` processes. Same batches."""
    if isinstance(dataset, StoreDataset):
        return StoreLoader(dataset, sampler, batch_size, max(1, workers), device)
    return make_loader(dataset, sampler, batch_size, workers, device)


def make_dataset(
    index: Sen12msIndex,
    patches: Sequence[PatchId],
    modality: str,
    label_type: str = "multi",
    store: PreparedStore | None = None,
) -> Sen12msDataset:
    """``patches`` read from ``store`` when given (``StoreDataset``), else from ``index``'s GeoTIFFs."""
    if store is not None:
        return StoreDataset(store, patches, modality, label_type)
    return Sen12msDataset(index, patches, modality, label_type)
