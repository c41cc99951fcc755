"""train -> evaluate -> export -> publish on real GeoTIFFs, through the CLI: the loop learns, exports load.

One short ResNet50 run (32x32 synthetic patches, class-dependent spectra) is shared by the
module; it must beat the best constant prediction on the test scenes by a wide margin. It is
trained from the data's parent folder with a relative --data-dir, and exported from elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub.repocard import metadata_load
from safetensors.torch import load_file

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import make_split
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.models.api import load_checkpoint
from sen12ms_models.synthetic import write_tree
from sen12ms_models.training.checkpoint import BEST, save_checkpoint
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.distributed import Performance
from sen12ms_models.training.export import export_run
from sen12ms_models.weights import read_manifest, sha256_hex

NAME = "resnet50-s1s2-multi"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes x 24 triplets of 32x32: 143 training (paper split), 48 validation, 48 test patches."""
    root = tmp_path_factory.mktemp("SEN12MS-32")
    write_tree(root, patches_per_scene=24, size=32, seed=0)
    return root


@pytest.fixture(scope="module")
def run_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "r50"
    args = ["train", "--data-dir", data_dir.name, "--output-dir", str(run), "--arch", "resnet50"]  # relative
    args += ["--modality", "s1s2", "--epochs", "6", "--batch-size", "16", "--workers", "0", "--deterministic"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(data_dir.parent)
        assert main([*args, "--no-progress"]) == 0
    assert Path.cwd() != data_dir.parent  # the tests below run, and export, from another folder
    return run


def test_a_short_run_learns_well_beyond_the_best_constant_prediction(run_dir, data_dir, tmp_path, capsys) -> None:
    split = make_split(Sen12msIndex.scan(data_dir), "paper")
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert all(r["steps"] == math.ceil(len(split.train) / 16) for r in log)
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["split"]["name"] == "paper" and record["split"]["validation_in_train"] is True
    assert record["split"]["sizes"] == {"train": 143, "validation": 48, "test": 48}
    assert len(record["split"]["train_scenes"]) == 6 and record["world_size"] == 1
    assert record["config"]["data_dir"] == str(data_dir)  # given relative, recorded absolute

    output = tmp_path / "test.json"
    args = ["evaluate", "--data-dir", str(data_dir), "--arch", "resnet50", "--modality", "s1s2"]
    assert main([*args, "--weights", str(run_dir / "best.pt"), "--output", str(output), "--workers", "0"]) == 0
    table = capsys.readouterr().out
    assert "Average F1" in table and "Overall F1" in table and "Forest (" in table
    scores = json.loads(output.read_text())["scores"]
    model, constant = scores["f1_micro"], scores["best_constant_f1_micro"]
    with capsys.disabled():
        print(f"\ntest micro F1: trained {model:.3f}, best constant prediction {constant:.3f}")
    assert model >= constant + 0.2, (model, constant)

    assert main([*args, "--weights", str(tmp_path / "missing.pt"), "--output", str(output)]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err


def _export(run_dir: Path, folder: Path, *extra: str) -> None:
    assert main(["export", str(run_dir), "--output-dir", str(folder), "--workers", "0", "--no-progress", *extra]) == 0


def test_export_loads_through_load_model_with_the_checkpoints_logits(run_dir, data_dir, tmp_path, capsys) -> None:
    folder = tmp_path / "export"
    _export(run_dir, folder, "--register")
    weights = folder / f"{NAME}.safetensors"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["README.md", "config.json", "metrics.json", "training.json", "weights_manifest.json", weights.name]
    )
    reference = sm.build_model("resnet50", 12)
    assert sorted(load_file(weights)) == sorted(reference.state_dict())  # weights only, build_model's keys
    umask = os.umask(0)
    os.umask(umask)
    for file in folder.iterdir():  # the weights too follow the umask (safetensors alone writes 0600)
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file.name

    spec = read_manifest(folder / "weights_manifest.json")[NAME]
    data = weights.read_bytes()
    assert (spec.sha256, spec.size, spec.source, spec.revision) == (sha256_hex(data), len(data), "retrained", None)
    scores = json.loads((folder / "metrics.json").read_text())
    assert spec.metrics["overall_f1"] == round(100 * scores["f1_micro"], 2)
    assert spec.metrics["average_f1"] == round(100 * scores["f1_macro"], 2)
    card = (folder / "README.md").read_text()
    assert "CC-BY 4.0" in card and 'sm.load_model("resnet50", "s1s2", label_type="multi")' in card
    assert "Overall F1" in card and spec.sha256 in card and "V-2-2021" in card
    meta = metadata_load(folder / "README.md")
    assert meta["license"] == "cc-by-4.0" and meta["datasets"] == ["sen12ms"]
    assert {"sentinel-1", "sentinel-2", "multi-label-classification"} <= set(meta["tags"])
    training = json.loads((folder / "training.json").read_text())
    assert (
        "data_dir" not in training["config"] and training["best_epoch"] == load_checkpoint(run_dir / "best.pt")["epoch"]
    )

    reference.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
    reference.eval()  # as load_model returns it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # registered, so its hash is known: no unverified-weights warning
        from_file = sm.load_model("resnet50", "s1s2", "multi", weights=weights)
        from_registry = sm.load_model("resnet50", "s1s2", "multi")
    x = torch.randn(3, 12, 32, 32)
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(from_file(x), expected) and torch.equal(from_registry(x), expected)

    output = tmp_path / "scores.json"
    args = ["evaluate", "--data-dir", str(data_dir), "--arch", "resnet50", "--modality", "s1s2", "--workers", "0"]
    assert main([*args, "--weights", str(weights), "--output", str(output)]) == 0
    assert json.loads(output.read_text())["scores"]["f1_micro"] == scores["f1_micro"]


def test_publish_dry_run_lists_the_upload_and_the_manifest_entry(run_dir, tmp_path, capsys) -> None:
    folder = tmp_path / "export"
    _export(run_dir, folder, "--repo-id", "someone/r50-s1s2")
    capsys.readouterr()
    manifest = tmp_path / "weights_manifest.json"
    assert main(["publish", str(folder), "--dry-run", "--manifest", str(manifest)]) == 0
    plan = json.loads(capsys.readouterr().out)
    files = sorted(["README.md", "config.json", "metrics.json", "training.json", f"{NAME}.safetensors"])
    assert plan["dry_run"] is True and plan["repo_id"] == "someone/r50-s1s2"
    assert [f["path"] for f in plan["files"]] == files
    assert all(f["sha256"] == sha256_hex((folder / f["path"]).read_bytes()) for f in plan["files"])
    entry = plan["entry"][NAME]
    assert entry["sha256"] == sha256_hex((folder / f"{NAME}.safetensors").read_bytes())
    assert entry["source"] == "retrained" and entry["metrics"]["overall_f1"] > 0
    assert plan["manifest"] == str(manifest) and not manifest.exists()  # a dry run writes nothing

    (folder / f"{NAME}.safetensors").write_bytes(b"tampered")
    assert main(["publish", str(folder), "--dry-run"]) == 2
    assert "does not match the manifest's" in capsys.readouterr().err  # refused before anything is sent


def test_export_names_the_data_dir_it_tried_and_suggests_data_dir(run_dir, data_dir, tmp_path, capsys) -> None:
    moved = tmp_path / "run"  # a run whose data has moved since it was trained
    moved.mkdir()
    best = load_checkpoint(run_dir / BEST)
    best["config"]["data_dir"] = str(tmp_path / "old-SEN12MS")
    save_checkpoint(moved / BEST, best)
    for name in ("run.json", "metrics.jsonl"):
        (moved / name).write_bytes((run_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError) as raised:
        export_run(moved, tmp_path / "export", workers=0, progress=False)
    message = str(raised.value)
    assert str(tmp_path / "old-SEN12MS") in message and "run.json" in message and "--data-dir" in message
    assert main(["export", str(run_dir), "--output-dir", str(tmp_path / "e"), "--data-dir", "nowhere"]) == 2
    error = capsys.readouterr().err
    assert str(Path("nowhere").absolute()) in error and "--data-dir" in error
    assert not (tmp_path / "e").exists()  # refused before anything is written
    assert export_run(moved, tmp_path / "export", data_dir=data_dir, workers=0, progress=False).scores.num_samples == 48


def test_config_paths_are_absolute_wherever_the_run_is_made(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = TrainConfig("SEN12MS", "runs/r50", store="store")
    assert (config.data_dir, config.output_dir, config.store) == (
        tmp_path / "SEN12MS",
        tmp_path / "runs/r50",
        tmp_path / "store",
    )
    assert TrainConfig(**config.to_json()) == config


def test_evaluate_decides_with_the_models_threshold_in_predicts_arithmetic(data_dir) -> None:
    index = Sen12msIndex.scan(data_dir)
    patches = make_split(index, "paper").test[:8]
    dataset = Sen12msDataset(index, patches, "s1s2", "multi")
    files = {sensor: [index.path(p, sensor) for p in patches] for sensor in ("s1", "s2")}
    options = sm.InputOptions(clouds=False, min_valid=0)  # what training reads
    torch.manual_seed(0)
    model = sm.load_model(NAME, pretrained=False)
    flags: list[tuple[bool, bool]] = []
    model.register_forward_hook(
        lambda *_: flags.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
    )
    probabilities = sm.predict(model, **files, options=options).probabilities
    for threshold in (0.0, float(np.median(probabilities))):  # the model's own rule, as predict applies it
        model.set_labels("multi", threshold=threshold)
        labelled = sm.predict(model, **files, options=options).label_mask.sum(axis=0).tolist()
        assert sm.evaluate(model, dataset, batch_size=8, progress=False).predicted == labelled
        wrapped = torch.nn.DataParallel(model)  # its network's rule, as predict reads it
        assert sm.evaluate(wrapped, dataset, batch_size=8, progress=False).predicted == labelled
    assert set(flags) == {(False, False)}  # fp32 is strict in both: no TF32 in cuBLAS or cuDNN
    assert Performance.choose(torch.device("cpu"), "tf32").precision == "fp32"  # TF32 exists on CUDA only
