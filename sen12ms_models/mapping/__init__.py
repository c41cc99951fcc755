"""Whole-scene land-cover maps: slide a model over a Sentinel scene, write georeferenced GeoTIFFs.

- ``scene``: ``map_scene`` and its ``SceneMap`` summary;
- ``grid``: which window each output pixel is predicted from;
- ``inputs``: the scene files, checked, and windowed reads (S1 reprojected on the fly);
- ``reader``: windows read into batches in a background thread;
- ``output``: the probability and class-map GeoTIFFs, written row by row;
- ``options``: the choices of output resolution and encoding.
"""

from typing import TYPE_CHECKING

from sen12ms_models._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SceneMap": ".scene",
        "map_scene": ".scene",
    },
)
__all__ = [
    "SceneMap",
    "map_scene",
]

if TYPE_CHECKING:
    from sen12ms_models.mapping.scene import SceneMap, map_scene
