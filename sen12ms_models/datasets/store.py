"""A prepared store: SEN12MS triplets packed once into memory-mappable ``.npy`` arrays.

Reading three GeoTIFFs per triplet tops out near 1,400 triplets/s on 16 cores (GDAL open and
decode), below what one H200 trains on. ``prepare_store`` reads every triplet once with
``read_patch`` and writes, in the folder it is given:

- ``s2.npy``: ``(N, 10, H, W)`` uint16, the 10 surface bands B2..B12 (``bands.S2_SURFACE_BANDS``),
  the S2 input of every modality (``rgb`` and ``s1rgb`` use the first three);
- ``s1.npy``: ``(N, 2, H, W)`` float32 dB, VV and VH, NaN kept as stored;
- ``probabilities.npy``: ``(N, 10)`` float64, the simplified-IGBP class shares of each LC patch
  (``labels.class_probabilities``), from which both label types follow;
- ``written.npy``: ``(N,)`` uint8, 1 once a patch is written, flushed and verified;
- ``manifest.json``: format version, source tree, patch size, band names, the patch ids in
  store order, and ``complete``.

The format is numpy's own ``.npy`` (chosen over zarr, WebDataset or LitData: no extra
dependency, random access to any patch with ``np.load(mmap_mode="r")`` and no decoding, so a
batch is a gather of memory-mapped rows; the alternatives compress or shard, which costs CPU
per read and buys nothing for incompressible reflectances). 1.83 MB per 256x256 patch.

Writing is resumable: a run killed at any point continues where ``written.npy`` says, and
rewrites only the patches whose flag was not yet set. Each written patch is read back through a
fresh read-only memory map and compared bit for bit with what ``read_patch`` returned.

>>> store = prepare_store("/data/SEN12MS", "/scratch/sen12ms-store", workers=15)   # doctest: +SKIP
>>> data = StoreDataset(open_store("/scratch/sen12ms-store"), split.train, "s1s2")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sen12ms_models._types import PathLike
from sen12ms_models.bands import S1_BANDS, S2_BANDS, S2_SURFACE_BANDS
from sen12ms_models.classes import NUM_CLASSES
from sen12ms_models.datasets.readers import read_patch
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.errors import PatchFileError
from sen12ms_models.labels import class_probabilities

FORMAT = "sen12ms-models-store"
VERSION = 1
MANIFEST = "manifest.json"
#: Rows of the stored S2 bands in a 13-band S2 file.
S2_ROWS = tuple(S2_BANDS.index(band) for band in S2_SURFACE_BANDS)
#: Patches a worker writes, flushes and verifies before it reports them done.
CHUNK = 32


@dataclass(frozen=True)
class PreparedStore:
    """An opened store: its folder, patch ids in store order, patch size and read-only arrays."""

    path: Path
    source: Path  # the SEN12MS tree it was prepared from
    patches: tuple[PatchId, ...]
    size: int
    s2: np.ndarray  # (N, 10, H, W) uint16, memory-mapped
    s1: np.ndarray  # (N, 2, H, W) float32 dB, memory-mapped
    probabilities: np.ndarray  # (N, 10) float64, in memory

    @property
    def s2_bands(self) -> tuple[str, ...]:
        return S2_SURFACE_BANDS

    @property
    def bytes_per_patch(self) -> int:
        """Bytes a reader touches per patch with all bands (S2 + S1; labels are in memory)."""
        return int(self.s2[0].nbytes + self.s1[0].nbytes)

    def rows(self, patches: Sequence[PatchId]) -> np.ndarray:
        """Store rows of ``patches`` (int64); ``ValueError`` naming the missing ones and the remedy."""
        where = {patch: row for row, patch in enumerate(self.patches)}
        missing = [patch for patch in patches if patch not in where]
        if missing:
            raise ValueError(
                f"the store {self.path} lacks {len(missing)} of the {len(patches)} patches asked for "
                f"(e.g. {missing[0]}); prepare it from a tree holding them (sen12ms-models prepare)"
            )
        return np.fromiter((where[patch] for patch in patches), dtype=np.int64, count=len(patches))

    def index(self, root: PathLike | None = None) -> Sen12msIndex:
        """A ``Sen12msIndex`` of the stored patches (GeoTIFF paths below ``root``, when given)."""
        return Sen12msIndex(tuple(sorted(self.patches)), Path(root) if root is not None else None)


def open_store(path: PathLike) -> PreparedStore:
    """Open a complete store read-only; ``ValueError`` naming the folder when it is not one."""
    path = Path(path)
    manifest = _read_manifest(path)
    if manifest is None:
        raise ValueError(f"{path} is not a prepared store (no {MANIFEST}); write one with `sen12ms-models prepare`")
    if not manifest["complete"]:
        raise ValueError(f"the store {path} is incomplete (prepare was interrupted); rerun the same prepare command")
    arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in ("s2", "s1", "probabilities")}
    patches = tuple(PatchId(season, scene, patch) for season, scene, patch in manifest["patches"])
    for name, array in arrays.items():
        if len(array) != len(patches):
            raise ValueError(f"{path / (name + '.npy')} holds {len(array)} patches, its manifest {len(patches)}")
    probabilities = np.array(arrays["probabilities"])
    return PreparedStore(
        path, Path(manifest["source"]), patches, manifest["size"], arrays["s2"], arrays["s1"], probabilities
    )


def prepare_store(
    index: Sen12msIndex,
    output: PathLike,
    patches: Sequence[PatchId] | None = None,
    *,
    workers: int = 0,
    progress: bool | None = None,
) -> PreparedStore:
    """Pack ``patches`` (default: all) of ``index`` (built with a root) into a store at ``output``.

    ``workers`` processes read and write (0: this process). ``progress``: a bar (None: on a
    terminal, else a log line on stderr every 30 s; False: silent). Resumes an interrupted store of the
    same patches; refuses a folder holding another store. Raises ``PatchFileError`` naming a
    damaged file or a patch whose size differs from the first one's, ``ValueError`` for an
    empty selection. Returns the opened store.
    """
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
        manifest = {"format": FORMAT, "version": VERSION, "source": str(index.root), "size": size}
        manifest |= {"s2_bands": S2_SURFACE_BANDS, "s1_bands": S1_BANDS, "patches": ids, "complete": False}
        _create(output, manifest, len(chosen))
    elif manifest["patches"] != ids:
        raise ValueError(
            f"{output} holds a store of other patches ({len(manifest['patches'])}); "
            "choose another output folder or delete it"
        )
    written = np.load(output / "written.npy", mmap_mode="r+")
    todo = np.flatnonzero(written == 0)
    chunks = [[(int(row), chosen[row]) for row in todo[i : i + CHUNK]] for i in range(0, len(todo), CHUNK)]
    probabilities = np.load(output / "probabilities.npy", mmap_mode="r+")
    bar = tqdm(
        total=len(chosen),
        initial=len(chosen) - len(todo),
        desc="prepare",
        unit="patch",
        disable=None if progress is None else not progress,
    )
    started, logged = time.perf_counter(), 0.0
    for rows, shares in _pack_all(index.root, output, chunks, manifest["size"], workers):
        probabilities[rows] = shares
        probabilities.flush()
        written[rows] = 1
        written.flush()
        bar.update(len(rows))
        if bar.disable and progress is None and time.perf_counter() - logged > 30:  # not a terminal: log lines
            logged = time.perf_counter()
            done = int(written.sum())
            print(f"prepare: {done}/{len(chosen)} patches, {done / (logged - started):.0f}/s", file=sys.stderr)
    bar.close()
    _write_manifest(output, manifest | {"complete": True})
    return open_store(output)


def _pack_all(
    root: Path, output: Path, chunks: list[list[tuple[int, PatchId]]], size: int, workers: int
) -> Iterator[tuple[list[int], np.ndarray]]:
    """``_pack_chunk`` over ``chunks``, in this process or ``workers`` processes (as they finish)."""
    if workers == 0:
        yield from (_pack_chunk(root, output, chunk, size) for chunk in chunks)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_pack_chunk, [root] * len(chunks), [output] * len(chunks), chunks, [size] * len(chunks))


def _pack_chunk(root: Path, output: Path, chunk: list[tuple[int, PatchId]], size: int) -> tuple[list[int], np.ndarray]:
    """Read, write, flush and verify one chunk; its rows and class probabilities."""
    index = Sen12msIndex((), root)
    s2_out = np.load(output / "s2.npy", mmap_mode="r+")
    s1_out = np.load(output / "s1.npy", mmap_mode="r+")
    read: list[tuple[int, np.ndarray, np.ndarray]] = []
    shares = np.empty((len(chunk), NUM_CLASSES))
    for k, (row, patch) in enumerate(chunk):
        s2 = read_patch(index.path(patch, "s2"), "s2").array[list(S2_ROWS)]
        s1 = read_patch(index.path(patch, "s1"), "s1").array
        lc_path = index.path(patch, "lc")
        igbp = read_patch(lc_path, "lc").array[0]
        for sensor, array in (("s2", s2), ("s1", s1), ("lc", igbp)):
            if array.shape[-2:] != (size, size):
                raise PatchFileError(
                    f"{index.path(patch, sensor)}: {array.shape[-2]}x{array.shape[-1]} pixels, "  # type: ignore[arg-type]
                    f"the store's patches are {size}x{size}"
                )
        shares[k] = class_probabilities(igbp, name=str(lc_path))
        s2_out[row], s1_out[row] = s2, s1
        read.append((row, s2, s1))
    s2_out.flush()
    s1_out.flush()
    del s2_out, s1_out
    s2_back = np.load(output / "s2.npy", mmap_mode="r")
    s1_back = np.load(output / "s1.npy", mmap_mode="r")
    for (row, s2, s1), (_, patch) in zip(read, chunk, strict=True):
        # bit for bit: NaN compares by its bits, not as float
        if s2_back[row].tobytes() != s2.tobytes() or s1_back[row].tobytes() != s1.tobytes():
            raise OSError(f"{output}: patch {patch} reads back differently from what was written (disk or filesystem)")
    return [row for row, _ in chunk], shares


def _create(output: Path, manifest: dict[str, Any], count: int) -> None:
    """The folder, its zero-filled (sparse) arrays, then the manifest, in that order."""
    output.mkdir(parents=True, exist_ok=True)
    size = manifest["size"]
    layout = {
        "s2": ((count, len(S2_SURFACE_BANDS), size, size), np.uint16),
        "s1": ((count, len(S1_BANDS), size, size), np.float32),
        "probabilities": ((count, NUM_CLASSES), np.float64),
        "written": ((count,), np.uint8),
    }
    for name, (shape, dtype) in layout.items():
        np.lib.format.open_memmap(output / f"{name}.npy", mode="w+", dtype=dtype, shape=shape).flush()
    _write_manifest(output, manifest)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    file = path / MANIFEST
    if not file.is_file():
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
