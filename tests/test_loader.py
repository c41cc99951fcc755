"""The store loader yields make_loader's batches, and the trainer learns the same weights from either,
from a store of the tree it is told about only."""

from __future__ import annotations

import json

import pytest
import torch

from sen12ms_models.cli.main import main
from sen12ms_models.datasets.sen12ms import Sen12msDataset, make_loader
from sen12ms_models.datasets.store import PreparedStore, StoreDataset, StoreLoader, make_batches, prepare_store
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.models.api import load_checkpoint
from sen12ms_models.synthetic import write_tree
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.loop import ResumableSampler, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sen12msIndex, PreparedStore]:
    """8 scenes x 4 triplets of 32x32 (NaN in S1) and a store of them all."""
    root = tmp_path_factory.mktemp("SEN12MS-loader")
    write_tree(root, patches_per_scene=4, size=32, nan_fraction=0.05)
    index = Sen12msIndex.scan(root)
    return index, prepare_store(index, root / "store", progress=False)


def assert_same_batch(expected: dict, actual: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for key, tensor in expected.items():
        assert actual[key].dtype == tensor.dtype and actual[key].shape == tensor.shape, key
        # by bits: S1 holds NaN, and uint16 has few torch operations
        assert actual[key].numpy().tobytes() == tensor.numpy().tobytes(), key


@pytest.mark.parametrize(("modality", "label_type"), [("s1s2", "multi"), ("rgb", "single"), ("s1", "multi")])
def test_store_batches_are_the_geotiff_loaders_batches(prepared, modality: str, label_type: str) -> None:
    index, store = prepared
    patches = index.patches[3:]  # a subset, in another order than the store's rows
    tiffs = Sen12msDataset(index, patches, modality, label_type)
    packed = StoreDataset(store, patches, modality, label_type)
    sampler = ResumableSampler(tiffs, num_replicas=1, rank=0, seed=7)
    sampler.start_epoch(2, skip=3)  # shuffled, resumed mid-epoch; 26 left, batches of 5 leave a partial one
    expected = list(make_loader(tiffs, sampler, 5, 0, CPU))
    loader = StoreLoader(packed, sampler, 5, threads=3, device=CPU, prefetch=2)
    assert len(loader) == len(expected) == 6
    for _ in range(2):  # iterable again, as each epoch needs
        actual = list(loader)
        assert len(actual) == len(expected)
        for e, a in zip(expected, actual, strict=True):
            assert_same_batch(e, a)
    for position in (0, len(packed) - 1):
        item, reference = packed[position], tiffs[position]
        assert {k: v.tobytes() for k, v in item.items() if k != "index"} == {
            k: v.tobytes() for k, v in reference.items() if k != "index"
        }


def test_make_batches_picks_the_loader_and_shards_evaluation_exactly(prepared) -> None:
    index, store = prepared
    packed = StoreDataset(store, index.patches, "s2", "multi")
    tiffs = Sen12msDataset(index, index.patches, "s2", "multi")
    seen = []
    for rank in range(3):
        sampler = range(rank, len(packed), 3)  # evaluation_loader's shard
        loader = make_batches(packed, sampler, 4, 2, CPU)
        assert isinstance(loader, StoreLoader)
        for e, a in zip(make_batches(tiffs, sampler, 4, 0, CPU), loader, strict=True):
            assert_same_batch(e, a)
            seen += a["index"].tolist()
    assert sorted(seen) == list(range(len(packed)))


def test_a_thread_error_reaches_the_consumer(prepared) -> None:
    index, store = prepared
    packed = StoreDataset(store, index.patches, "s1s2")
    packed.rows = packed.rows.copy()
    packed.rows[5] = len(store.patches) + 10  # a row past the end of the arrays
    with pytest.raises(IndexError):
        list(StoreLoader(packed, range(len(packed)), 4, threads=2, device=CPU))
    with pytest.raises(ValueError, match="device_copy needs a CUDA device, got cpu"):
        StoreLoader(packed, range(len(packed)), 4, threads=2, device=CPU, device_copy=True)


def test_training_from_the_store_gives_the_weights_of_training_from_geotiffs(prepared, tmp_path, one_thread) -> None:
    index, store = prepared
    runs = {}
    for name, extra in (("tiff", []), ("store", ["--store", str(store.path)])):
        runs[name] = tmp_path / name
        args = ["train", "--data-dir", str(index.root), "--output-dir", str(runs[name]), "--arch", "resnet50"]
        args += ["--modality", "s1s2", "--epochs", "1", "--batch-size", "8", "--workers", "0", "--deterministic"]
        assert main([*args, *extra, "--no-progress"]) == 0
    logs = {name: json.loads((run / "metrics.jsonl").read_text()) for name, run in runs.items()}
    for record in logs.values():
        record.pop("seconds")
    assert logs["tiff"] == logs["store"]
    weights = {name: load_checkpoint(run / "best.pt")["model"] for name, run in runs.items()}  # epoch 1 is best
    assert all(torch.equal(weights["tiff"][k], weights["store"][k]) for k in weights["tiff"])
    assert json.loads((runs["store"] / "run.json").read_text())["config"]["store"] == str(store.path)


def test_a_store_of_another_tree_than_the_data_dir_is_refused(prepared, tmp_path) -> None:
    index, store = prepared
    other = tmp_path / "other-SEN12MS"
    write_tree(other, patches_per_scene=1, size=32)
    with pytest.raises(ValueError, match=r"the store .* holds the SEN12MS tree .*, not the data dir") as raised:
        train(TrainConfig(other, tmp_path / "run", store=store.path, epochs=1, workers=0, progress=False))
    assert str(index.root) in str(raised.value) and str(other) in str(raised.value)
    assert f"--data-dir {index.root}" in str(raised.value)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_cpu_batch_memory_is_reused_once_no_tensor_uses_it(prepared) -> None:
    index, store = prepared
    packed = StoreDataset(store, index.patches, "s1s2")
    loader = StoreLoader(packed, range(len(packed)), 2, threads=2, device=CPU, prefetch=2)
    # each batch is dropped before the next is taken: at most prefetch + 2 arrays ever exist
    assert len({batch["s2"].data_ptr() for batch in loader}) <= 4
    kept = list(loader)  # kept batches never share memory (their values are checked above)
    assert len({batch["s2"].data_ptr() for batch in kept}) == len(kept)
