"""The prepared store: SEN12MS triplets packed once into memory-mapped ``.npy`` arrays (layout,
sizes, rates and why ``.npy``: docs/data.md), and its threaded loader."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sen12ms_models._progress import Progress
from sen12ms_models._types import PathLike
from sen12ms_models.bands import S1_BANDS, S2_SURFACE_BANDS
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader, read_checked
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.errors import PatchFileError
from sen12ms_models.inputs.files import read_patch
from sen12ms_models.labels import label_target
from sen12ms_models.transforms import Sen12msTransform

FORMAT, VERSION, MANIFEST = "sen12ms-models-store", 1, "manifest.json"
#: The bands a store holds (S2: ``S2_SURFACE_BANDS``; VV, VH), as ``read_checked`` reads and checks them.
STORED = Sen12msTransform.for_bands(S2_SURFACE_BANDS + S1_BANDS, s2_bands=S2_SURFACE_BANDS)
#: Patches a worker writes, flushes and verifies before it reports them done.
CHUNK = 32

Batch = dict[str, Any]


@dataclass(frozen=True)
class PreparedStore:
    """An opened store: its folder, patch ids in store order, patch size and read-only arrays."""

    path: Path
    source: Path  # the SEN12MS tree it was prepared from
    patches: tuple[PatchId, ...]
    size: int
    s2: np.ndarray  # (N, 10, H, W) uint16 DN of S2_SURFACE_BANDS, memory-mapped
    s1: np.ndarray  # (N, 2, H, W) float32 dB, NaN kept, memory-mapped
    probabilities: np.ndarray  # (N, 10) float64 class shares, in memory

    s2_bands = S2_SURFACE_BANDS

    @property
    def bytes_per_patch(self) -> int:
        """Bytes a reader touches per patch with all bands (S2 + S1; labels are in memory)."""
        return int(self.s2[0].nbytes + self.s1[0].nbytes)

    def rows(self, patches: Sequence[PatchId]) -> np.ndarray:
        """Store rows of ``patches`` (int64); ``ValueError`` naming the missing ones and the remedy."""
        where = {patch: row for row, patch in enumerate(self.patches)}
        if missing := [patch for patch in patches if patch not in where]:
            raise ValueError(
                f"the store {self.path} lacks {len(missing)} of the {len(patches)} patches asked for "
                f"(e.g. {missing[0]}); prepare it from a tree holding them (sen12ms-models prepare)"
            )
        return np.array([where[patch] for patch in patches], dtype=np.int64)

    def index(self, root: PathLike) -> Sen12msIndex:
        """A ``Sen12msIndex`` of the stored patches, with GeoTIFF paths below ``root``."""
        return Sen12msIndex(tuple(sorted(self.patches)), Path(root))


def open_store(path: PathLike) -> PreparedStore:
    """Open a complete store read-only; ``ValueError`` naming the folder when it is not one."""
    path = Path(path)
    manifest = _read_manifest(path)
    if manifest is None:
        raise ValueError(f"{path} is not a prepared store (no {MANIFEST}); write one with `sen12ms-models prepare`")
    if not manifest["complete"]:
        raise ValueError(f"the store {path} is incomplete (prepare was interrupted); rerun the same prepare command")
    s2, s1 = (np.load(path / f"{name}.npy", mmap_mode="r") for name in ("s2", "s1"))
    patches = tuple(PatchId(*patch) for patch in manifest["patches"])
    probabilities = np.load(path / "probabilities.npy")
    return PreparedStore(path, Path(manifest["source"]), patches, manifest["size"], s2, s1, probabilities)


def prepare_store(
    index: Sen12msIndex,
    output: PathLike,
    patches: Sequence[PatchId] | None = None,
    *,
    workers: int = 0,
    progress: bool | None = None,
) -> PreparedStore:
    """Pack ``patches`` (default: all) of ``index`` into a store at ``output`` with ``workers``
    processes (0: this one), and open it. Each patch is read with ``read_checked``, written, flushed, read back,
    compared bit for bit and flagged in ``written.npy``: rerun after a kill, it continues where it stopped."""
    if index.root is None:
        raise ValueError("prepare_store needs an index with a root folder (Sen12msIndex.scan(root))")
    chosen = tuple(index.patches if patches is None else patches)
    if not chosen:
        raise ValueError(f"no patch to prepare from {index.root}")
    output = Path(output)
    manifest = _read_manifest(output)
    ids = [[p.season, p.scene, p.patch] for p in chosen]
    if manifest is None:
        size = read_patch(index.path(chosen[0], "s2"), "s2").array.shape[-1]
        source = str(Path(index.root).resolve())  # a relative root would mean another tree from another folder
        manifest = {"format": FORMAT, "version": VERSION, "source": source, "size": size}
        manifest |= {"s2_bands": S2_SURFACE_BANDS, "s1_bands": S1_BANDS, "patches": ids, "complete": False}
        output.mkdir(parents=True, exist_ok=True)
        for name, dtype, shape in (
            ("s2", np.uint16, (len(S2_SURFACE_BANDS), size, size)),
            ("s1", np.float32, (len(S1_BANDS), size, size)),
            ("probabilities", np.float64, (NUM_CLASSES,)),
            ("written", np.uint8, ()),
        ):  # zero-filled (sparse) files, before the manifest
            np.lib.format.open_memmap(output / f"{name}.npy", "w+", dtype, (len(chosen), *shape)).flush()
        _write_manifest(output, manifest)
    elif manifest["patches"] != ids:
        raise ValueError(
            f"{output} holds a store of other patches ({len(manifest['patches'])}); "
            "choose another output folder or delete it"
        )
    written = np.load(output / "written.npy", mmap_mode="r+")
    probabilities = np.load(output / "probabilities.npy", mmap_mode="r+")
    todo = np.flatnonzero(written == 0)
    chunks = [[(int(row), chosen[row]) for row in todo[i : i + CHUNK]] for i in range(0, len(todo), CHUNK)]
    pack = partial(_pack_chunk, index.root, output, manifest["size"])
    # spawned: a worker forked after the parent has used torch can deadlock in it
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers else None
    bar = Progress(len(chosen), "prepare", "patch", enabled=progress, initial=len(chosen) - len(todo))
    with bar, pool or nullcontext():
        for rows, shares in pool.map(pack, chunks) if pool else map(pack, chunks):
            probabilities[rows] = shares
            probabilities.flush()
            written[rows] = 1
            written.flush()
            bar.update(len(rows))
    _write_manifest(output, manifest | {"complete": True})
    return open_store(output)


def _pack_chunk(root: Path, output: Path, size: int, chunk: list[tuple[int, PatchId]]) -> tuple[list[int], np.ndarray]:
    """Read, write, flush and verify (by bits, NaN included) one chunk; its rows and class shares."""
    index, rows = Sen12msIndex((), root), [row for row, _ in chunk]
    shares, packed = np.empty((len(chunk), NUM_CLASSES)), dict[str, list[np.ndarray]](s2=[], s1=[])
    for k, (_, patch) in enumerate(chunk):
        arrays, shares[k] = read_checked(index, patch, STORED)
        if arrays["s2"].shape[-2:] != (size, size):
            shape = "x".join(map(str, arrays["s2"].shape[-2:]))
            raise PatchFileError(f"{index.path(patch, 's2')}: {shape} pixels, the store's patches are {size}x{size}")
        packed["s2"].append(arrays["s2"])
        packed["s1"].append(arrays["s1"])
    for name, values in packed.items():
        out = np.load(output / f"{name}.npy", mmap_mode="r+")
        out[rows] = values
        out.flush()
        back = np.load(output / f"{name}.npy", mmap_mode="r")[rows]
        if bad := [patch for (_, patch), a, b in zip(chunk, back, values, strict=True) if a.tobytes() != b.tobytes()]:
            raise OSError(f"{output}: patch {bad[0]} reads back differently from what was written (disk or filesystem)")
    return rows, shares


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not (file := path / MANIFEST).is_file():
        return None
    manifest = json.loads(file.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{file} is not a {FORMAT} manifest of version {VERSION}")
    return dict(manifest)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a manifest."""
    temporary = path / (MANIFEST + ".tmp")
    temporary.write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    os.replace(temporary, path / MANIFEST)


class StoreDataset(Sen12msDataset):
    """``Sen12msDataset``'s items and ``transform`` over the tree ``store`` was prepared from (which
    need not exist any more), read from the store; ``ValueError`` names the patches it lacks."""

    def __init__(
        self, store: PreparedStore, patches: Sequence[PatchId], modality: str, label_type: str = "multi"
    ) -> None:
        super().__init__(store.index(store.source), patches, modality, label_type)
        self.store, self.rows = store, store.rows(self.patches)  # the store row of each position
        used = self.transform.s2_bands
        if used != S2_SURFACE_BANDS[: len(used)]:
            raise ValueError(f"modality {modality}: its S2 bands {used} do not lead the store's {S2_SURFACE_BANDS}")
        bands = {"s2": store.s2[:, : len(used)], "s1": store.s1}
        #: The memory-mapped bands this modality reads by store row (S2: its leading rows, one copy), by item key.
        self.bands: dict[str, np.ndarray] = {sensor: bands[sensor] for sensor in self._sensors}
        shares = store.probabilities[self.rows]
        #: Each position's labels, by item key.
        self.labels = {"target": label_target(shares, label_type), "shares": shares}

    def __getitem__(self, position: int) -> dict[str, Any]:
        labels = {k: np.array(v[position]) for k, v in self.labels.items()}
        return {"index": position, **labels} | {k: np.array(v[self.rows[position]]) for k, v in self.bands.items()}


class StoreLoader:
    """``make_loader``'s batches, each gathered by ``threads`` threads from the memory maps straight into the
    batch tensor (pinned on CUDA), ``prefetch`` batches ahead; ``device_copy`` (default: on CUDA) also copies
    each batch but its ``index`` to ``device`` one batch ahead on a side stream, overlapping the step before."""

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
        with ThreadPoolExecutor(self.threads, thread_name_prefix="store-loader") as pool:
            pending: deque[tuple[Batch, list[Future[None]]]] = deque()
            for start in range(0, len(positions), self.batch_size):
                pending.append(self._submit(pool, positions[start : start + self.batch_size]))
                if len(pending) > self.prefetch:
                    yield _finish(*pending.popleft())
            while pending:
                yield _finish(*pending.popleft())

    def _submit(self, pool: ThreadPoolExecutor, positions: np.ndarray) -> tuple[Batch, list[Future[None]]]:
        """Allocate one batch and start its gather: ``threads`` pieces of consecutive patches."""
        data, n = self.dataset, len(positions)
        batch: Batch = {"index": torch.from_numpy(positions)}
        for key, source in data.bands.items():
            batch[key] = self._empty((n, *source.shape[1:]), getattr(torch, source.dtype.name))
        sources = [(source, batch[key].numpy()) for key, source in data.bands.items()]
        for key, labels in data.labels.items():
            batch[key] = torch.from_numpy(labels[positions])
            batch[key] = batch[key].pin_memory() if self.pin else batch[key]
        rows = data.rows[positions]
        pieces = np.array_split(np.arange(n), min(self.threads, n))
        return batch, [pool.submit(_gather, sources, rows, piece) for piece in pieces]

    def _empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A batch tensor: pinned from torch's caching host allocator on CUDA, else from ``_free``
        (fresh memory page-faults on first touch: gathering into it ran 10x slower than into reused)."""
        if self.pin:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        full = (self.batch_size, *shape[1:])
        free = self._free.setdefault((full, dtype), [])
        base = free.pop() if free else torch.empty(full, dtype=dtype).numpy()
        view = base[: shape[0]]  # the tensor's storage keeps this view alive, and only it
        weakref.finalize(view, free.append, base)  # back to the pool when the last tensor on it is gone
        return torch.from_numpy(view)


def _gather(sources: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray, piece: np.ndarray) -> None:
    """Copy store rows ``rows[piece]`` into batch positions ``piece`` of every (source, batch) pair
    (numpy releases the GIL while it copies, page faults included)."""
    for source, out in sources:
        for k in piece:
            np.copyto(out[k], source[rows[k]])


def _finish(batch: Batch, futures: list[Future[None]]) -> Batch:
    for future in futures:
        future.result()  # re-raises a thread's error here
    return batch


def make_batches(
    dataset: Sen12msDataset, sampler: Iterable[int], batch_size: int, workers: int, device: torch.device
) -> Iterable[Batch]:
    """``StoreLoader`` with ``workers`` threads (at least one) for a ``StoreDataset``, else ``make_loader``'s
    DataLoader with ``workers`` processes: the same batches."""
    if isinstance(dataset, StoreDataset):
        return StoreLoader(dataset, sampler, batch_size, max(1, workers), device)
    return make_loader(dataset, sampler, batch_size, workers, device)
