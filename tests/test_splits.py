"""splits: the shipped scene lists reproduce the published test and validation lists exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from sen12ms_models.datasets.splits import holdout_scenes, make_split, published_validation_scenes
from sen12ms_models.datasets.tree import BROKEN_PATCHES, PatchId, Sen12msIndex

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
#: The published file lists, as the authors published them (CRLF line ends): only tests read them.
TEST_DATA = Path(__file__).resolve().parent / "data"


def _published(name: str) -> list[str]:
    """A list as the authors published it: CRLF line ends, read byte for byte."""
    raw = (TEST_DATA / f"{name}_list.txt").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n"), f"{name}_list.txt lost its CRLF line ends"
    return raw.decode("ascii").removesuffix("\r\n").split("\r\n")


def test_the_lists_here_are_the_published_bytes() -> None:
    if not SHARED.exists():
        pytest.skip("../shared/data is not beside this checkout")
    assert (TEST_DATA / "test_list.txt").read_bytes() == (SHARED / "sen12ms_test_list.txt").read_bytes()
    assert (TEST_DATA / "val_list.txt").read_bytes() == (SHARED / "sen12ms_val_list.txt").read_bytes()


def test_scene_lists_produce_exactly_the_published_lists() -> None:
    test_names, val_names = _published("test"), _published("val")
    assert len(test_names) == 18106 and len(val_names) == 18550
    test_ids = {PatchId.from_path(n) for n in test_names}
    val_ids = {PatchId.from_path(n) for n in val_names}
    assert {p.scene_id for p in test_ids} == holdout_scenes() and len(holdout_scenes()) == 26
    assert {p.scene_id for p in val_ids} == published_validation_scenes() and len(published_validation_scenes()) == 25
    assert not holdout_scenes() & published_validation_scenes()
    index = Sen12msIndex.from_names(test_names + val_names)
    for name in ("paper", "clean"):
        split = make_split(index, name)
        assert set(split.test) == test_ids and len(split.test) == 18106
        assert set(split.validation) == val_ids and len(split.validation) == 18550


def test_paper_keeps_validation_in_train_and_clean_removes_it() -> None:
    index = Sen12msIndex.from_names(_published("test") + _published("val"))
    paper, clean = make_split(index, "paper"), make_split(index, "clean")
    assert set(paper.validation) <= set(paper.train)
    assert not set(clean.validation) & set(clean.train)
    assert paper.describe()["validation_in_train"] and not clean.describe()["validation_in_train"]
    assert not set(paper.test) & set(paper.train)


def test_splits_on_a_real_tree(sen12ms_tree) -> None:
    root, written = sen12ms_tree
    index = Sen12msIndex.scan(root)
    paper = make_split(index, "paper")
    assert not BROKEN_PATCHES & set(paper.train + paper.validation + paper.test)
    assert len(paper.test) == 6 and len(paper.validation) == 6
    assert len(paper.train) == len(written) - 6 - len(BROKEN_PATCHES)
    clean = make_split(index, "clean")
    assert len(clean.train) == len(paper.train) - 6


def test_random_split_is_seeded_by_scene_and_clean() -> None:
    index = Sen12msIndex.from_names(_published("test") + _published("val"))
    first = make_split(index, "random", seed=7, num_validation_scenes=5)
    again = make_split(index, "random", seed=7, num_validation_scenes=5)
    other = make_split(index, "random", seed=8, num_validation_scenes=5)
    assert first == again and first.validation_scenes != other.validation_scenes
    assert len(first.validation_scenes) == 5 and not set(first.validation_scenes) & holdout_scenes()
    assert {p.scene_id for p in first.validation} == set(first.validation_scenes)
    assert not set(first.validation) & set(first.train)
    assert first.describe()["seed"] == 7


def test_bad_split_arguments() -> None:
    index = Sen12msIndex.from_names(_published("val"))
    with pytest.raises(ValueError, match="unknown split 'test'"):
        make_split(index, "test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_validation_scenes must be between 1 and 24"):
        make_split(index, "random", num_validation_scenes=25)
