"""training's data side on real GeoTIFFs: items, labels, device-side standardization, samplers, config
checks, and damaged trees (patches of another size named, also from loader workers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from torch.utils.data import default_collate

from sen12ms_models.bands import MODALITIES, S2_BANDS
from sen12ms_models.cli.main import main
from sen12ms_models.datasets import tree as io
from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader
from sen12ms_models.datasets.splits import make_split
from sen12ms_models.errors import InputUnitsError, PatchFileError
from sen12ms_models.synthetic import DEFAULT_SCENES, draw_class_rows, write_tree, write_triplet
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.loop import ResumableSampler
from sen12ms_models.transforms import Sen12msTransform


@pytest.mark.parametrize("modality", MODALITIES)
def test_items_are_raw_bands_and_standardize_like_the_published_transform(sen12ms_tree, modality: str) -> None:
    root, _ = sen12ms_tree
    index = io.Sen12msIndex.scan(root)
    patches = make_split(index, "paper").train[:3]
    dataset = Sen12msDataset(index, patches, modality, "multi")
    items = [dataset[i] for i in range(len(dataset))]
    published = Sen12msTransform.for_modality(modality)
    assert ("s2" in items[0]) == bool(published.s2_bands_used) and ("s1" in items[0]) == bool(published.s1_bands_used)
    if "s2" in items[0]:
        assert items[0]["s2"].dtype == np.uint16 and items[0]["s2"].shape == (len(published.s2_bands_used), 256, 256)
    if "s1" in items[0]:
        assert items[0]["s1"].dtype == np.float32 and np.isnan(items[0]["s1"]).any()  # NaN kept for the transform

    batch = default_collate(items)
    x = dataset.to_input(batch, torch.device("cpu"), torch.channels_last)
    triplets = [io.read_triplet(index.path(p, "s2")) for p in patches]
    expected = published(
        s1=np.stack([t.s1.array for t in triplets]), s2=np.stack([t.s2.array for t in triplets])
    )  # from the full 13-band S2 and 2-band S1 files, as predict() does
    assert x.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)


@pytest.mark.parametrize("label_type", ["multi", "single"])
def test_targets_are_the_known_labels(sen12ms_tree, label_type: str) -> None:
    root, written = sen12ms_tree
    index = io.Sen12msIndex.scan(root)
    truth = {p.id: p.probabilities for p in written}
    patches = [p.id for p in written if p.id not in io.BROKEN_PATCHES]
    dataset = Sen12msDataset(index, patches, "s1", label_type)
    for position, patch in enumerate(patches):
        target = dataset[position]["target"]
        if label_type == "multi":
            assert target.dtype == np.float32 and (target == (truth[patch] >= 0.1)).all()
        else:
            assert target.dtype == np.int64 and target == np.argmax(truth[patch])


def test_worker_processes_deliver_the_same_batches(sen12ms_tree) -> None:
    root, _ = sen12ms_tree
    index = io.Sen12msIndex.scan(root)
    dataset = Sen12msDataset(index, make_split(index, "paper").validation, "s1s2", "multi")
    batches = {}
    for workers in (0, 2):
        loader = make_loader(dataset, range(len(dataset)), 4, workers, torch.device("cpu"))
        batches[workers] = list(loader)
    for a, b in zip(batches[0], batches[2], strict=True):
        for key in ("s1", "s2", "target", "index"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, equal_nan=True)


def test_a_patch_whose_grids_differ_is_named(tmp_path) -> None:
    written = write_tree(tmp_path, scenes=DEFAULT_SCENES[4:5], patches_per_scene=1, size=32)
    index = io.Sen12msIndex.scan(tmp_path)
    lc_path = index.path(written[0].id, "lc")
    with rasterio.open(lc_path) as src:
        profile, lc = src.profile, src.read()
    profile.update(width=16, height=16)
    with rasterio.open(lc_path, "w", **profile) as dst:
        dst.write(lc[:, :16, :16])
    with pytest.raises(PatchFileError, match=f"{written[0].id}: s2 is \\(32, 32\\) pixels, its LC patch .*lc"):
        Sen12msDataset(index, [written[0].id], "s2")[0]
    with pytest.raises(ValueError, match="needs an index with a root"):
        Sen12msDataset(io.Sen12msIndex.from_names([lc_path.name]), [written[0].id], "s2")


def test_items_check_and_hold_the_bands_their_modality_reads_by_name(tmp_path) -> None:
    written = write_tree(tmp_path, scenes=DEFAULT_SCENES[:1], patches_per_scene=1, size=32)
    index, patch = io.Sen12msIndex.scan(tmp_path), written[0].id
    clear = Sen12msDataset(index, [patch], "s2")[0]["s2"]
    path = index.path(patch, "s2")
    with rasterio.open(path) as src:
        profile, s2 = src.profile, src.read()
    kept = [b for b in S2_BANDS if b != "B10"]  # 12 bands, named by their descriptions
    with rasterio.open(path, "w", **(profile | {"count": 12})) as dst:
        dst.write(s2[[S2_BANDS.index(b) for b in kept]])
        dst.descriptions = tuple(kept)
    np.testing.assert_array_equal(Sen12msDataset(index, [patch], "s2")[0]["s2"], clear)  # B11, B12 by name
    with rasterio.open(path, "r+") as dst:
        dst.write(np.zeros((32, 32), np.uint16), kept.index("B12") + 1)  # missing from the product
    assert Sen12msDataset(index, [patch], "rgb")[0]["s2"].shape == (3, 32, 32)  # rgb does not read B12
    with pytest.raises(InputUnitsError, match=r"band B12 is 0 in every valid pixel"):
        Sen12msDataset(index, [patch], "s2")[0]


@pytest.mark.parametrize(("length", "world_size", "batch"), [(47, 1, 8), (47, 2, 4), (50, 2, 4), (9, 4, 2)])
def test_sampler_semantics(length: int, world_size: int, batch: int) -> None:
    """Each rank gets ceil(n / w) samples (padded), an epoch is ceil(n / (w * batch)) steps, and skip resumes."""
    data = range(length)
    ranks = [ResumableSampler(data, world_size, rank, seed=3) for rank in range(world_size)]
    for sampler in ranks:
        sampler.start_epoch(5)
    orders = [list(s) for s in ranks]
    assert all(len(o) == math.ceil(length / world_size) for o in orders)
    assert set().union(*orders) == set(data)
    assert math.ceil(len(orders[0]) / batch) == math.ceil(length / (world_size * batch))
    again = ResumableSampler(data, world_size, 0, seed=3)
    again.start_epoch(5, skip=batch)
    assert list(again) == orders[0][batch:] and len(again) == len(orders[0]) - batch
    again.start_epoch(6)
    assert list(again) != orders[0]  # a new order each epoch
    shards = [list(range(rank, length, world_size)) for rank in range(world_size)]  # evaluation_loader's
    assert sorted(i for shard in shards for i in shard) == list(data)  # evaluation: every sample exactly once


def test_config_errors_name_the_setting(tmp_path) -> None:
    for kwargs, message in (
        ({"arch": "vgg16"}, "arch must be one of resnet50, densenet121"),
        ({"modality": "rgbn"}, "unknown modality 'rgbn'"),
        ({"split": "mine"}, "split must be one of paper, clean, random"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"precision": "fp16"}, "precision must be one of fp32, tf32, bf16"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"workers": -1}, "workers must be >= 0"),
        ({"lr": 0}, "lr must be > 0"),
    ):
        with pytest.raises(ValueError, match=message):
            TrainConfig(tmp_path, tmp_path / "run", **kwargs)


@pytest.fixture(scope="module")
def mixed_sizes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A tiny 32x32 tree whose first triplet of every scene is rewritten at 16x16."""
    root = tmp_path_factory.mktemp("SEN12MS-mixed")
    written = write_tree(root, patches_per_scene=3, size=32, seed=3)
    rng = np.random.default_rng(0)
    odd = [p for p in written if p.id.patch == 200]
    for patch in odd:
        write_triplet(root, patch.id, draw_class_rows(rng, 16), rng=rng)
    return root, [patch.id.file_name("s2") for patch in odd]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_patches_of_another_size_are_named_not_a_stack_error(mixed_sizes, tmp_path: Path, capsys, workers) -> None:
    root, odd = mixed_sizes
    args = ["train", "--data-dir", str(root), "--output-dir", str(tmp_path / "run"), "--arch", "resnet50"]
    args += ["--modality", "rgb", "--epochs", "1", "--batch-size", "32", "--workers", workers, "--device", "cpu"]
    assert main([*args, "--no-progress"]) == 2
    log = capsys.readouterr().err.strip().splitlines()
    error = log[-1]  # after the plan's lines
    assert error.startswith("sen12ms-models train: error: patches of different sizes in one batch: ")
    assert any(name in error for name in odd) and "(16x16)" in error and "(32x32)" in error
    assert not any("Traceback" in line for line in log)
