"""The prepared store: it holds exactly what read_patch reads, resumes after SIGKILL, refuses what it must."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

import sen12ms_models.datasets.sen12ms as reader_module
from sen12ms_models.bands import S2_BANDS, S2_SURFACE_BANDS
from sen12ms_models.cli.main import main
from sen12ms_models.datasets.splits import make_split
from sen12ms_models.datasets.store import StoreDataset, open_store, prepare_store
from sen12ms_models.datasets.tree import BROKEN_PATCHES, Sen12msIndex
from sen12ms_models.errors import PatchFileError
from sen12ms_models.inputs.files import read_patch
from sen12ms_models.labels import class_probabilities
from sen12ms_models.synthetic import DEFAULT_SCENES, write_tree

S2_ROWS = [S2_BANDS.index(band) for band in S2_SURFACE_BANDS]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes x 4 triplets of 32x32, S1 with NaN in places."""
    root = tmp_path_factory.mktemp("SEN12MS-store")
    write_tree(root, patches_per_scene=4, size=32, nan_fraction=0.05)
    return root


def assert_store_matches_tree(store_dir: Path, root: Path) -> None:
    """Every stored patch is, bit for bit, what read_patch reads from its three GeoTIFFs."""
    store = open_store(store_dir)
    index = Sen12msIndex((), root)
    assert store.s2.dtype == np.uint16 and store.s1.dtype == np.float32
    for row, patch in enumerate(store.patches):
        s2 = read_patch(index.path(patch, "s2")).array[S2_ROWS]
        s1 = read_patch(index.path(patch, "s1")).array
        igbp = read_patch(index.path(patch, "lc")).array[0]
        assert store.s2[row].tobytes() == s2.tobytes(), patch
        assert store.s1[row].tobytes() == s1.tobytes(), patch  # NaN included, by its bits
        assert np.array_equal(store.probabilities[row], class_probabilities(igbp)), patch


def test_s2_declaring_a_scale_and_offset_is_stored_as_dn(tmp_path: Path) -> None:
    """A baseline-04 tree whose S2 files declare offset -1000: stored as the corrected DN, fill as 0."""
    root = tmp_path / "tree"
    write_tree(root, scenes=DEFAULT_SCENES[:2], patches_per_scene=1, size=32)
    index = Sen12msIndex.scan(root)
    expected = {}
    for patch in index.patches:
        path = index.path(patch, "s2")
        with rasterio.open(path, "r+") as dataset:
            raw = dataset.read()
            raw[:, 0, :4] = 500  # below the offset: no data once it is subtracted
            dataset.write(raw + np.where(raw == 500, 0, 1000).astype(np.uint16))
            dataset.offsets = (-1000.0,) * 13
        expected[patch] = read_patch(path).array[S2_ROWS]
    store = prepare_store(index, tmp_path / "store", workers=0, progress=False)
    for row, patch in enumerate(store.patches):
        assert store.s2[row].dtype == np.uint16
        np.testing.assert_array_equal(store.s2[row], np.clip(np.nan_to_num(expected[patch]), 0, None))
        assert (store.s2[row][:, 0, :4] == 0).all()


@pytest.mark.parametrize(("dtype", "fill"), [("float32", np.nan), ("int16", -9999)])
def test_the_dataset_and_the_store_give_one_input_from_s2_with_fill_in_one_band(tmp_path: Path, dtype, fill) -> None:
    root = tmp_path / "tree"
    write_tree(root, scenes=DEFAULT_SCENES[:1], patches_per_scene=1, size=32)
    index = Sen12msIndex.scan(root)
    path = index.path(index.patches[0], "s2")
    with rasterio.open(path) as dataset:
        profile, raw = dataset.profile, dataset.read().astype(dtype)
    raw[S2_BANDS.index("B2"), :8] = fill  # a quarter of the pixels, in one band
    with rasterio.open(path, "w", **(profile | {"dtype": dtype})) as dataset:
        dataset.write(raw)
    store = prepare_store(index, tmp_path / "store", progress=False)
    from_files, from_store = (
        reader_module.Sen12msDataset(index, index.patches, "s2")[0],
        StoreDataset(store, index.patches, "s2")[0],
    )
    assert from_files["s2"].dtype == from_store["s2"].dtype == np.uint16
    np.testing.assert_array_equal(from_files["s2"], from_store["s2"])
    assert (from_store["s2"][:, :8] == 0).all() and (from_store["s2"][:, 8:] > 0).all()  # fill: 0 in every band


def test_the_store_holds_exactly_what_read_patch_reads(tree: Path, tmp_path: Path) -> None:
    index = Sen12msIndex.scan(tree)
    store = prepare_store(index, tmp_path / "store", workers=2, progress=False)
    assert store.patches == index.patches and store.size == 32
    assert store.bytes_per_patch == 32 * 32 * (10 * 2 + 2 * 4)
    assert np.isnan(store.s1).any(), "the tree has NaN in S1; the store must keep them"
    assert_store_matches_tree(tmp_path / "store", tree)
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["s2_bands"] == list(S2_SURFACE_BANDS)
    assert manifest["source"] == str(tree)


KILLED_CHILD = """
import sys, time
import sen12ms_models.datasets.sen12ms as reader
import sen12ms_models.datasets.store as store
from sen12ms_models.datasets.tree import Sen12msIndex
read = reader.read_patch
reader.read_patch = lambda *a: (time.sleep(0.02), read(*a))[1]   # slow enough to be killed mid-way
store.CHUNK = 2
store.prepare_store(Sen12msIndex.scan(sys.argv[1]), sys.argv[2], progress=False)
"""


def test_prepare_resumes_after_sigkill_and_rewrites_only_what_was_not_done(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "store"
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(tree), str(output)])
    written = output / "written.npy"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if written.exists() and (done := int(np.load(written).sum())) >= 4:
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = int(np.load(written).sum())
    total = len(Sen12msIndex.scan(tree))
    assert 4 <= done < total, f"the child wrote {done} of {total} before the kill"
    with pytest.raises(ValueError, match=r"incomplete.*rerun"):
        open_store(output)
    before = np.load(output / "s2.npy", mmap_mode="r")[np.load(written).astype(bool)].copy()
    flags = np.load(written).astype(bool)
    # A patch already written is not read again: count the files the resumed run reads.
    calls: list[str] = []

    def counting(path, sensor=None):  # type: ignore[no-untyped-def]
        calls.append(Path(path).name)
        return read_patch(path, sensor)

    monkeypatch.setattr(reader_module, "read_patch", counting)  # the store reads triplets through it
    prepare_store(Sen12msIndex.scan(tree), output, progress=False)
    assert len(calls) == 3 * (total - done)
    assert np.array_equal(np.load(output / "s2.npy", mmap_mode="r")[flags], before)
    assert_store_matches_tree(output, tree)


def test_prepare_refuses_another_stores_folder_and_names_missing_patches(tree: Path, tmp_path: Path) -> None:
    index = Sen12msIndex.scan(tree)
    store = prepare_store(index, tmp_path / "store", index.patches[:5], progress=False)
    with pytest.raises(ValueError, match=r"other patches.*another output folder"):
        prepare_store(index, tmp_path / "store", index.patches[:6], progress=False)
    with pytest.raises(ValueError, match=r"lacks 1 of the 2 patches.*sen12ms-models prepare"):
        store.rows(index.patches[4:6])
    with pytest.raises(ValueError, match="not a prepared store"):
        open_store(tmp_path)


def test_a_patch_of_another_size_is_refused_naming_its_file(tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_tree(root, scenes=(make_split(Sen12msIndex.scan(tree), "paper").train[0].scene_id,), size=32)
    odd = sorted(root.rglob("*_s2_*.tif"))[1]
    for sensor in ("s2", "s1", "lc"):  # the whole triplet at 16x16: its files agree, the store's size not
        path = odd.parent.parent / f"{sensor}_{odd.parent.name[3:]}" / odd.name.replace("_s2_", f"_{sensor}_")
        with rasterio.open(path) as source:
            profile, data = source.profile | {"width": 16, "height": 16}, source.read()[:, :16, :16]
        with rasterio.open(path, "w", **profile) as target:
            target.write(data)
    with pytest.raises(PatchFileError, match=rf"{odd.name}: 16x16 pixels, the store's patches are 32x32"):
        prepare_store(Sen12msIndex.scan(root), tmp_path / "store", progress=False)


def test_the_prepare_command_packs_the_chosen_subsets_of_a_split(tree: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "test-store"
    args = ["prepare", "--data-dir", str(tree), "--output", str(output), "--subsets", "test", "--no-progress"]
    assert main(args) == 0
    split = make_split(Sen12msIndex.scan(tree), "paper")
    assert open_store(output).patches == tuple(sorted(split.test))
    assert f"{len(split.test)} patches of 32x32" in capsys.readouterr().out
    assert main(["prepare", "--data-dir", str(tree), "--output", str(tmp_path / "all"), "--no-progress"]) == 0
    everything = open_store(tmp_path / "all").patches
    assert set(everything) == set(Sen12msIndex.scan(tree).patches) - BROKEN_PATCHES


def test_a_store_prepared_from_a_relative_path_records_the_absolute_tree(
    tree: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tree.parent)
    index = Sen12msIndex.scan(Path(tree.name))  # `prepare --data-dir SEN12MS`, then train from another folder
    prepare_store(index, tmp_path / "store", index.patches[:1], progress=False)
    assert json.loads((tmp_path / "store" / "manifest.json").read_text())["source"] == str(tree.resolve())
