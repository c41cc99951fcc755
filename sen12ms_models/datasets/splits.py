"""Train/validation/test splits of SEN12MS by scene (docs/data.md), from the two published scene lists
(``sen12ms_models/datasets/lists``); the known broken triplet (``tree.BROKEN_PATCHES``) is in none."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

if TYPE_CHECKING:  # imported when used, so that the command line's --help reads SPLITS without rasterio
    from sen12ms_models.datasets.tree import PatchId, SceneId, Sen12msIndex

SplitName = Literal["paper", "clean", "random"]
SPLITS: tuple[str, ...] = get_args(SplitName)


@cache
def _scene_list(file_name: str) -> frozenset[SceneId]:
    from sen12ms_models.inputs.files import SceneId

    text = (resources.files(__package__) / "lists" / file_name).read_text(encoding="ascii")
    return frozenset(SceneId.parse(line) for line in text.splitlines() if line.strip())


def holdout_scenes() -> frozenset[SceneId]:
    """The 26 hold-out (test) scenes of SEN12MS."""
    return _scene_list("holdout_scenes.txt")


def published_validation_scenes() -> frozenset[SceneId]:
    """The 25 validation scenes the published baselines used."""
    return _scene_list("val_scenes.txt")


@dataclass(frozen=True)
class Split:
    """The patches of each subset, and how they were chosen (recorded with every run)."""

    name: str
    train: tuple[PatchId, ...]
    validation: tuple[PatchId, ...]
    test: tuple[PatchId, ...]
    validation_scenes: tuple[SceneId, ...]
    test_scenes: tuple[SceneId, ...]
    seed: int | None = None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record of the split: name, seed, sizes and scenes."""
        return {
            "name": self.name,
            "seed": self.seed,
            "sizes": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
            "validation_scenes": [str(s) for s in self.validation_scenes],
            "test_scenes": [str(s) for s in self.test_scenes],
            "validation_in_train": bool(set(self.validation_scenes) & {p.scene_id for p in self.train}),
        }


def make_split(
    index: Sen12msIndex, name: SplitName = "paper", *, seed: int = 0, num_validation_scenes: int = 25
) -> Split:
    """Split ``index`` by scene; test is always the 26 hold-out scenes.

    Args:
        name: ``paper``: validation = the 25 published validation scenes, train = every other patch,
            validation INCLUDED (as the published baselines were trained); ``clean``: ``paper``
            without them in train; ``random``: validation = ``num_validation_scenes`` non-test
            scenes drawn with ``seed``, not in train.

    Raises:
        ValueError: an unknown ``name``, or a ``num_validation_scenes`` the index cannot give.

    >>> split = make_split(Sen12msIndex.scan("/data/SEN12MS"), "clean")  # doctest: +SKIP
    >>> len(split.train), len(split.validation), len(split.test)          # doctest: +SKIP
    (144005, 18550, 18106)
    """
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
    test_scenes = holdout_scenes()
    usable = index.usable()
    if name == "random":
        candidates = sorted({p.scene_id for p in usable} - test_scenes)
        if not 0 < num_validation_scenes < len(candidates):
            raise ValueError(
                f"num_validation_scenes must be between 1 and {len(candidates) - 1} "
                f"for this index, got {num_validation_scenes}"
            )
        drawn = np.random.default_rng(seed).choice(len(candidates), num_validation_scenes, replace=False)
        validation_scenes = frozenset(candidates[i] for i in drawn)
    else:
        validation_scenes = published_validation_scenes()
    not_train = test_scenes if name == "paper" else test_scenes | validation_scenes
    return Split(
        name=name,
        train=tuple(p for p in usable if p.scene_id not in not_train),
        validation=tuple(p for p in usable if p.scene_id in validation_scenes),
        test=tuple(p for p in usable if p.scene_id in test_scenes),
        validation_scenes=tuple(sorted(validation_scenes)),
        test_scenes=tuple(sorted(test_scenes)),
        seed=seed if name == "random" else None,
    )
