"""SEN12MS triplets as a torch ``Dataset`` of raw bands (standardized per batch on the device by ``to_input``:
nearly free on a GPU, and uint16 S2 is half the bytes of float32 to pin and copy) and the scene label."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from sen12ms_models.bands import S2_NODATA, S2_SATURATED
from sen12ms_models.datasets.tree import Sen12msIndex, check_triplet
from sen12ms_models.errors import PatchFileError
from sen12ms_models.inputs.checks import inspect
from sen12ms_models.inputs.files import PatchId, Sensor, read_patch
from sen12ms_models.inputs.options import InputOptions
from sen12ms_models.labels import check_label_type, class_probabilities, label_target
from sen12ms_models.transforms import Sen12msTransform, s2_invalid

#: How training reads SEN12MS: units and VV/VH order checked as for predict; no cloud test (SEN12MS
#: was built from cloud-free composites); fill is filled, never refused (the labels say what is there).
TRAINING_INPUT = InputOptions(clouds=False, min_valid=0)


class Sen12msDataset(Dataset[dict[str, Any]]):
    """The triplets ``patches`` of ``index`` (built with a root) for ``modality`` and ``label_type``.

    An item is a dict: ``s2``/``s1`` as ``read_checked`` returns them for ``transform`` (the modality's
    S2 bands, uint16 DN, fill 0; VV, VH, float32 dB, NaN kept), ``target`` (multi: float32 0/1 ``(10,)``;
    single: int64 class index), ``shares`` (the float64 class shares ``(10,)`` both targets follow) and
    ``index`` (position in ``patches``): a file's units are checked on its first read and whenever it
    changes (inode, size, mtime; recorded across loader workers).

    Raises:
        ValueError: an unknown label type, or an index without a root.
    """

    def __init__(
        self, index: Sen12msIndex, patches: Sequence[PatchId], modality: str, label_type: str = "multi"
    ) -> None:
        check_label_type(label_type)
        if index.root is None:
            raise ValueError("Sen12msDataset needs an index with a root folder (Sen12msIndex.scan(root))")
        self.index, self.patches, self.modality, self.label_type = index, tuple(patches), modality, label_type
        published = Sen12msTransform.for_modality(modality)
        wanted: dict[Sensor, tuple[str, ...]] = {"s2": published.s2_bands_used, "s1": published.s1_bands_used}
        self._sensors = tuple(sensor for sensor, bands in wanted.items() if bands)
        #: Standardizes a (collated) item's ``s1``/``s2`` into the model's input channels.
        self.transform = published.replace(s2_bands=published.s2_bands_used)
        #: Each position's file version whose units passed, in shared memory for the loader's workers.
        self._checked = torch.full((len(self.patches),), -1, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, position: int) -> dict[str, Any]:
        patch = self.patches[position]
        version = _version(self.index.path(patch, sensor) for sensor in self._sensors)
        check = version == -1 or version != int(self._checked[position])
        arrays, shares = read_checked(self.index, patch, self.transform, check=check)
        self._checked[position] = version
        return {"index": position, "target": label_target(shares, self.label_type), "shares": shares, **arrays}

    def to_input(
        self, batch: dict[str, Any], device: torch.device, memory_format: torch.memory_format = torch.contiguous_format
    ) -> torch.Tensor:
        """Copy a collated batch's raw bands to ``device`` and standardize them there."""
        raw = {k: batch[k].to(device, non_blocking=True) for k in ("s1", "s2") if k in batch}
        return self.transform(**raw).contiguous(memory_format=memory_format)


def _version(paths: Iterable[Path]) -> int:
    """Changes when a file of ``paths`` is rewritten (inode, size, mtime); -1: one is missing."""
    try:
        return hash(tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in map(os.stat, paths)))
    except OSError:
        return -1


def read_checked(
    index: Sen12msIndex, patch: PatchId, transform: Sen12msTransform, *, check: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A triplet's bands that ``transform`` reads, in the form SEN12MS stores them, and its IGBP class
    shares ``(10,)``: the one training input of the Dataset and the prepared store.

    Returns:
        ``s2``: ``transform.s2_bands_used`` (by name), uint16 DN, pixels the fill rule (``s2_invalid``)
        finds set to 0 (L1C ``NODATA``) in every band; ``s1``: VV, VH, float32 dB, NaN kept. Each only
        when ``transform`` reads it.

    Raises:
        PatchFileError: files off one grid (``check_triplet``), an S2 file lacking a band read.
        InputUnitsError: with ``check``, the bands read fail the unit and VV/VH order checks of ``predict``.
    """
    sensors: tuple[Sensor, ...] = ("s2", "s1", "lc")
    wanted = [s for s in sensors if s == "lc" or getattr(transform, f"{s}_bands_used")]
    read = {sensor: read_patch(index.path(patch, sensor), sensor) for sensor in wanted}
    check_triplet(patch, read)
    s1, s2, lc = read.get("s1"), read.get("s2"), read.pop("lc")
    arrays = {"s1": s1.array} if s1 else {}
    if s2:
        if missing := [b for b in transform.s2_bands_used if b not in s2.bands]:
            raise PatchFileError(f"{s2.path}: holds bands {list(s2.bands)}, not {missing}, which are read")
        arrays["s2"] = s2.array[[s2.bands.index(b) for b in transform.s2_bands_used]]
    if check:
        inspect(
            transform,
            TRAINING_INPUT,
            s1=s1.array[None] if s1 else None,
            s2=arrays["s2"][None] if s2 else None,
            s2_bands=transform.s2_bands_used,
            s1_names=[s1.path] if s1 else [],
            s2_names=[s2.path] if s2 else [],
            s1_named=[s1.named] if s1 else [],
        )
    if s2 and arrays["s2"].dtype != np.uint16:  # e.g. a declared offset applied, or signed/float fill
        fill = s2_invalid(torch.from_numpy(arrays["s2"].astype(np.float32))).numpy()
        dn = np.rint(arrays["s2"]).clip(S2_NODATA, S2_SATURATED - 1)
        arrays["s2"] = np.where(fill, S2_NODATA, dn).astype(np.uint16)
    return arrays, class_probabilities(lc.array[0], name=lc.path)


def make_loader(
    dataset: Sen12msDataset, sampler: Iterable[int], batch_size: int, workers: int, device: torch.device
) -> DataLoader:
    """Batches of ``dataset`` in ``sampler``'s order, read by ``workers`` persistent processes (pinned for CUDA;
    their seeds come from the loader's own generator, so loading never advances torch's global RNG)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=functools.partial(_collate, dataset),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )


def _collate(dataset: Sen12msDataset, items: list[dict[str, Any]]) -> dict[str, Any]:
    """``default_collate``, or a ``PatchFileError`` naming the files when patches differ in size."""
    try:
        return default_collate(items)
    except RuntimeError:
        sensor, sizes = dataset._sensors[0], dict[tuple[int, ...], Path]()
        for item in items:
            sizes.setdefault(tuple(item[sensor].shape[-2:]), dataset.index.path(dataset.patches[item["index"]], sensor))
        if len(sizes) < 2:
            raise
        found = ", ".join(f"{path} ({'x'.join(map(str, size))})" for size, path in sizes.items())
        raise PatchFileError(
            f"patches of different sizes in one batch: {found}; a training set's patches share one size "
            "(SEN12MS: 256x256): remove or re-export the odd ones"
        ) from None
