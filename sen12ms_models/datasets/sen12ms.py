"""SEN12MS patches as a torch ``Dataset``: raw input bands and the scene label of each triplet.

Items hold the raw pixels the model's modality needs, as they are stored (S2 bands uint16 DN,
float32 DN where the file declared a scale/offset; S1 bands float32 dB), not standardized: the
standardization runs once per batch on the training device (``Sen12msDataset.transform``),
which on a GPU is nearly free, and raw uint16 S2 is half the bytes of float32 through pinned
memory and the host-to-device copy. Files are read with ``read_patch`` (through
``sen12ms_models.inputs``: band descriptions, declared scale/offset and nodata applied, wrong
units refused), so a damaged or mis-scaled one raises an error naming it; labels come from
band 1 (IGBP) of the LC patch via ``labels.class_probabilities``.

>>> index = Sen12msIndex.scan("/data/SEN12MS")                             # doctest: +SKIP
>>> split = make_split(index, "paper")                                     # doctest: +SKIP
>>> data = Sen12msDataset(index, split.train, "s1s2", "multi")            # doctest: +SKIP
>>> item = data[0]; item["s2"].shape, item["s1"].shape, item["target"]    # doctest: +SKIP
((10, 256, 256), (2, 256, 256), array([1., 0., ...], dtype=float32))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sen12ms_models.bands import S2_BANDS
from sen12ms_models.datasets.readers import read_patch
from sen12ms_models.datasets.tree import PatchId, Sen12msIndex
from sen12ms_models.errors import PatchFileError
from sen12ms_models.labels import check_label_type, class_probabilities, label_target
from sen12ms_models.transforms import Sen12msTransform


class Sen12msDataset(Dataset[dict[str, Any]]):
    """The triplets ``patches`` of ``index`` (built with a root), for ``modality`` and ``label_type``.

    An item is a dict: ``s2`` (the modality's S2 bands, uint16) and/or ``s1`` (VV and VH,
    float32, NaN kept), ``target`` (multi: float32 0/1 vector of the 10 classes; single: int64
    class index) and ``index`` (position in ``patches``). ``transform`` turns a batch of them
    into standardized model input on any device.
    """

    def __init__(
        self,
        index: Sen12msIndex,
        patches: Sequence[PatchId],
        modality: str,
        label_type: str = "multi",
    ) -> None:
        check_label_type(label_type)
        if index.root is None:
            raise ValueError("Sen12msDataset needs an index with a root folder (Sen12msIndex.scan(root))")
        self.index = index
        self.patches = tuple(patches)
        self.modality = modality
        self.label_type = label_type
        published = Sen12msTransform.for_modality(modality)
        self._s2_rows = [S2_BANDS.index(b) for b in published.s2_bands_used]
        self._reads_s1 = bool(published.s1_bands_used)
        #: Standardizes a (collated) item's ``s1``/``s2`` into the model's input channels.
        self.transform = published.with_s2_bands(published.s2_bands_used)

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, position: int) -> dict[str, Any]:
        patch = self.patches[position]
        item: dict[str, Any] = {"index": position}
        # read_patch takes the files through sen12ms_models.inputs: band descriptions, declared
        # scale/offset and nodata applied, reflectance/8-bit S2 and linear S1 refused, naming the file.
        if self._s2_rows:
            item["s2"] = read_patch(self.index.path(patch, "s2"), "s2").array[self._s2_rows]
        if self._reads_s1:
            item["s1"] = read_patch(self.index.path(patch, "s1"), "s1").array
        lc_path = self.index.path(patch, "lc")
        igbp = read_patch(lc_path, "lc").array[0]
        for sensor in ("s2", "s1"):
            if sensor in item and item[sensor].shape[1:] != igbp.shape:
                raise PatchFileError(
                    f"{patch}: {sensor} is {item[sensor].shape[1:]} pixels, its LC patch {lc_path} {igbp.shape}"
                )
        probabilities = class_probabilities(igbp, name=str(lc_path))
        item["target"] = label_target(probabilities, self.label_type)
        return item

    def to_input(
        self, batch: dict[str, Any], device: torch.device, memory_format: torch.memory_format = torch.contiguous_format
    ) -> torch.Tensor:
        """Copy a collated batch's raw bands to ``device`` and standardize them there."""
        raw = {k: batch[k].to(device, non_blocking=True) for k in ("s1", "s2") if k in batch}
        return self.transform(**raw).contiguous(memory_format=memory_format)


def make_loader(
    dataset: Sen12msDataset, sampler: Sampler[int], batch_size: int, workers: int, device: torch.device
) -> DataLoader:
    """Batches of ``dataset`` in ``sampler``'s order, read by ``workers`` processes.

    Memory is pinned for CUDA (so copies can be non-blocking), workers persist across epochs,
    and worker seeds come from the loader's own generator, so loading never advances the
    global RNG that a checkpoint restores.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
