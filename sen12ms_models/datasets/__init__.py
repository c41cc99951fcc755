"""SEN12MS as files and as a torch dataset.

- ``tree``: scene and patch names, sibling paths, the index of a tree (file names only);
- ``readers``: GeoTIFF reading with rasterio (``read_patch``, ``read_triplet``);
- ``splits``: the paper's, a clean and a seeded random train/validation/test split;
- ``sen12ms``: ``Sen12msDataset`` and its loader, for training and evaluation;
- ``store``: the prepared store (``prepare_store``, ``open_store``): triplets packed once into
  memory-mapped ``.npy`` arrays;
- ``loader``: ``StoreDataset`` and ``StoreLoader`` (threads gather batches from a store), and
  ``make_batches``/``make_dataset``, which pick the store or the GeoTIFFs.
"""

from typing import TYPE_CHECKING

from sen12ms_models._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BROKEN_PATCHES": ".tree",
        "MAX_PATCH_PIXELS": ".readers",
        "Patch": ".readers",
        "PatchId": ".tree",
        "PreparedStore": ".store",
        "SEASONS": ".tree",
        "SENSORS": ".tree",
        "SENSOR_LAYOUT": ".readers",
        "SPLITS": ".splits",
        "SceneId": ".tree",
        "Sen12msDataset": ".sen12ms",
        "Sen12msIndex": ".tree",
        "Sensor": ".tree",
        "Split": ".splits",
        "SplitName": ".splits",
        "StoreDataset": ".loader",
        "StoreLoader": ".loader",
        "Triplet": ".readers",
        "make_batches": ".loader",
        "make_dataset": ".loader",
        "make_loader": ".sen12ms",
        "make_split": ".splits",
        "open_raster": ".readers",
        "open_store": ".store",
        "parse_file_name": ".tree",
        "prepare_store": ".store",
        "read_patch": ".readers",
        "read_triplet": ".readers",
        "sibling_path": ".tree",
    },
)
__all__ = [
    "BROKEN_PATCHES",
    "MAX_PATCH_PIXELS",
    "SEASONS",
    "SENSORS",
    "SENSOR_LAYOUT",
    "SPLITS",
    "Patch",
    "PatchId",
    "PreparedStore",
    "SceneId",
    "Sen12msDataset",
    "Sen12msIndex",
    "Sensor",
    "Split",
    "SplitName",
    "StoreDataset",
    "StoreLoader",
    "Triplet",
    "make_batches",
    "make_dataset",
    "make_loader",
    "make_split",
    "open_raster",
    "open_store",
    "parse_file_name",
    "prepare_store",
    "read_patch",
    "read_triplet",
    "sibling_path",
]

if TYPE_CHECKING:
    from sen12ms_models.datasets.loader import StoreDataset, StoreLoader, make_batches, make_dataset
    from sen12ms_models.datasets.readers import (
        MAX_PATCH_PIXELS,
        SENSOR_LAYOUT,
        Patch,
        Triplet,
        open_raster,
        read_patch,
        read_triplet,
    )
    from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader
    from sen12ms_models.datasets.splits import SPLITS, Split, SplitName, make_split
    from sen12ms_models.datasets.store import PreparedStore, open_store, prepare_store
    from sen12ms_models.datasets.tree import (
        BROKEN_PATCHES,
        SEASONS,
        SENSORS,
        PatchId,
        SceneId,
        Sen12msIndex,
        Sensor,
        parse_file_name,
        sibling_path,
    )
