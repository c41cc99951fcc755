"""SEN12MS as files and as a torch dataset.

- ``tree``: scene and patch names, sibling paths, the index of a tree (file names only);
- ``readers``: GeoTIFF reading with rasterio (``read_patch``, ``read_triplet``);
- ``splits``: the paper's, a clean and a seeded random train/validation/test split;
- ``sen12ms``: ``Sen12msDataset`` and its loader, for training and evaluation.
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
        "Triplet": ".readers",
        "make_loader": ".sen12ms",
        "make_split": ".splits",
        "open_raster": ".readers",
        "parse_file_name": ".tree",
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
    "SceneId",
    "Sen12msDataset",
    "Sen12msIndex",
    "Sensor",
    "Split",
    "SplitName",
    "Triplet",
    "make_loader",
    "make_split",
    "open_raster",
    "parse_file_name",
    "read_patch",
    "read_triplet",
    "sibling_path",
]

if TYPE_CHECKING:
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
