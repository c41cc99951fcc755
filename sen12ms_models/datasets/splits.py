"""Train/validation/test splits of SEN12MS, each a named and documented choice.

- ``paper``: test = the 26 hold-out scenes; validation = the 25 published validation scenes;
  train = every other patch, the validation scenes INCLUDED, exactly as the published
  baselines were trained (their early stopping saw patches they had trained on).
- ``clean``: as ``paper``, with the validation scenes removed from train.
- ``random``: test as above; ``num_validation_scenes`` scenes drawn from the non-test scenes
  with a seeded generator, removed from train.

The known broken triplet (``tree.BROKEN_PATCHES``) is left out of every split. The scene lists
and the published file lists ship inside the package (``sen12ms_models/datasets/lists``), as published.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np

from sen12ms_models.datasets.tree import BROKEN_PATCHES, PatchId, SceneId, Sen12msIndex

SplitName = Literal["paper", "clean", "random"]
SPLITS: tuple[str, ...] = ("paper", "clean", "random")

_DATA = resources.files(__package__) / "lists"


@cache
def holdout_scenes() -> frozenset[SceneId]:
    """The 26 hold-out (test) scenes of SEN12MS."""
    return _read_scene_list("holdout_scenes.txt")


@cache
def published_validation_scenes() -> frozenset[SceneId]:
    """The 25 validation scenes the published baselines used."""
    return _read_scene_list("val_scenes.txt")


@cache
def published_file_list(name: Literal["test", "validation"]) -> tuple[str, ...]:
    """The published S2 file names of the test (18,106) or validation (18,550) list."""
    files = {"test": "test_list.txt", "validation": "val_list.txt"}
    if name not in files:
        raise ValueError(f"name must be 'test' or 'validation', got {name!r}")
    return tuple(line for line in _read_lines(files[name]))


def _read_lines(file_name: str) -> list[str]:
    text = (_DATA / file_name).read_text(encoding="ascii")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_scene_list(file_name: str) -> frozenset[SceneId]:
    return frozenset(SceneId.parse(line) for line in _read_lines(file_name))


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
    index: Sen12msIndex,
    name: SplitName = "paper",
    *,
    seed: int = 0,
    num_validation_scenes: int = 25,
) -> Split:
    """Split ``index`` by scene, as ``name`` says (see the module docstring).

    >>> split = make_split(Sen12msIndex.scan("/data/SEN12MS"), "clean")  # doctest: +SKIP
    >>> len(split.train), len(split.validation), len(split.test)          # doctest: +SKIP
    (144005, 18550, 18106)
    """
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
    test_scenes = holdout_scenes()
    usable = [p for p in index.patches if p not in BROKEN_PATCHES]
    non_test_scenes = sorted({p.scene_id for p in usable} - test_scenes)
    if name == "random":
        if not 0 < num_validation_scenes < len(non_test_scenes):
            raise ValueError(
                f"num_validation_scenes must be between 1 and {len(non_test_scenes) - 1} "
                f"for this index, got {num_validation_scenes}"
            )
        drawn = np.random.default_rng(seed).choice(len(non_test_scenes), num_validation_scenes, replace=False)
        validation_scenes = frozenset(non_test_scenes[i] for i in drawn)
    else:
        validation_scenes = published_validation_scenes()
    keep_validation_in_train = name == "paper"
    return Split(
        name=name,
        train=tuple(
            p
            for p in usable
            if p.scene_id not in test_scenes and (keep_validation_in_train or p.scene_id not in validation_scenes)
        ),
        validation=tuple(p for p in usable if p.scene_id in validation_scenes),
        test=tuple(p for p in usable if p.scene_id in test_scenes),
        validation_scenes=tuple(sorted(validation_scenes)),
        test_scenes=tuple(sorted(test_scenes)),
        seed=seed if name == "random" else None,
    )
