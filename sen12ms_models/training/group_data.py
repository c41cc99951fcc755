"""The data of a group of models read once: the union of their bands, and each model's part of a batch.

``GroupDataset`` is a ``Sen12msDataset`` for the smallest modality whose bands cover every
member's (``s1s2`` covers all five modalities; ``rgb`` and ``s2`` are slices of it) and, when
the group mixes label types, it adds the other target under ``target_<label type>``.
``MemberView`` picks one model's channels and target out of such a batch, on the device, so
each model sees exactly the values its own ``Sen12msDataset`` would have read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sen12ms_models.bands import MODALITIES, modality_bands
from sen12ms_models.datasets.loader import StoreDataset
from sen12ms_models.datasets.readers import read_patch
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.store import PreparedStore
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.labels import class_probabilities, label_target


def covering_modality(modalities: Sequence[str]) -> str:
    """The modality with the fewest bands that holds every band of ``modalities`` (``ValueError`` if none)."""
    needed = {band for modality in modalities for band in modality_bands(modality)}
    covering = [m for m in MODALITIES if needed <= set(modality_bands(m))]
    if not covering:
        raise ValueError(f"no modality holds all bands of {list(modalities)}; known: {', '.join(MODALITIES)}")
    return min(covering, key=lambda m: len(modality_bands(m)))


def target_key(first: str, label_type: str) -> str:
    """The batch key of ``label_type``'s targets in a group whose ``target`` is ``first``'s."""
    return "target" if label_type == first else f"target_{label_type}"


class GroupDataset(Sen12msDataset):
    """The patches with the bands of every modality in ``modalities`` and a target per label type.

    ``target`` follows ``label_types[0]``; each other label type ``t`` adds ``target_<t>`` (its
    LC patch is read a second time for it: 4 uint16 bands, small beside the S1/S2 reads).
    """

    def __init__(
        self, index: Sen12msIndex, patches: Sequence[PatchId], modalities: Sequence[str], label_types: Sequence[str]
    ) -> None:
        super().__init__(index, patches, covering_modality(modalities), label_types[0])
        self.extra_label_types = tuple(sorted(set(label_types) - {self.label_type}))

    def target_key(self, label_type: str) -> str:
        """The batch key holding the targets of ``label_type``."""
        return target_key(self.label_type, label_type)

    def __getitem__(self, position: int) -> dict[str, Any]:
        item = super().__getitem__(position)
        if self.extra_label_types:
            lc_path = self.index.path(self.patches[position], "lc")
            probabilities = class_probabilities(read_patch(lc_path, "lc").array[0], name=str(lc_path))
            for label_type in self.extra_label_types:
                item[self.target_key(label_type)] = label_target(probabilities, label_type)
        return item


class StoreGroupDataset(StoreDataset):
    """``GroupDataset`` read from a prepared store: the extra targets come from its class shares."""

    def __init__(
        self, store: PreparedStore, patches: Sequence[PatchId], modalities: Sequence[str], label_types: Sequence[str]
    ) -> None:
        super().__init__(store, patches, covering_modality(modalities), label_types[0])
        self.extra_label_types = tuple(sorted(set(label_types) - {self.label_type}))
        self.extra_targets = {self.target_key(t): label_target(self.shares, t) for t in self.extra_label_types}

    def target_key(self, label_type: str) -> str:
        """The batch key holding the targets of ``label_type``."""
        return target_key(self.label_type, label_type)


#: What a group trains on: the same items from GeoTIFFs or from a store.
AnyGroupDataset = GroupDataset | StoreGroupDataset


def group_dataset(
    index: Sen12msIndex,
    patches: Sequence[PatchId],
    modalities: Sequence[str],
    label_types: Sequence[str],
    store: PreparedStore | None = None,
) -> AnyGroupDataset:
    """The group's data, read from ``store`` when given, else from ``index``'s GeoTIFFs."""
    if store is not None:
        return StoreGroupDataset(store, patches, modalities, label_types)
    return GroupDataset(index, patches, modalities, label_types)


@dataclass(frozen=True)
class MemberView:
    """One model's part of a ``GroupDataset`` batch: its S2 rows, S1 if it reads it, its target."""

    s2_rows: tuple[int, ...] | None  # None: the batch's S2 as it is (or no S2 at all)
    reads_s1: bool
    target_key: str

    @classmethod
    def of(cls, group: AnyGroupDataset, member: Sen12msDataset) -> MemberView:
        """The view that turns ``group``'s batches into ``member``'s (same patches, fewer bands)."""
        mine, theirs = member.transform.s2_bands_used, group.transform.s2_bands_used
        rows = tuple(theirs.index(band) for band in mine)
        whole = rows == tuple(range(len(theirs)))
        return cls(None if whole else rows, bool(member.transform.s1_bands_used), group.target_key(member.label_type))

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        part: dict[str, Any] = {"target": batch[self.target_key]}
        if "s2" in batch and self.s2_rows != ():
            part["s2"] = batch["s2"] if self.s2_rows is None else batch["s2"][:, list(self.s2_rows)]
        if self.reads_s1:
            part["s1"] = batch["s1"]
        return part


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The tensors of a collated batch on ``device`` (copied once for all members; non-blocking)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
