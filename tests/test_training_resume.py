"""Training runs that stop and go on: a SIGKILLed run resumes to the uninterrupted run's exact bits; DDP
with two real processes (Gloo); refusals that name the problem; single-label and DenseNet121 runs.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.datasets.splits import make_split
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.models.api import load_checkpoint
from sen12ms_models.synthetic import write_tree

#: One torch thread in every training process: steady on a shared 2-core machine, and the in-process
#: and subprocess runs compute with the same kernels, so their results can be compared bit for bit.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes x 8 triplets of 32x32: 47 training patches (paper split; one broken), 16 validation, 16 test."""
    root = tmp_path_factory.mktemp("SEN12MS-tiny")
    write_tree(root, patches_per_scene=8, size=32, seed=1)
    return root


def _train_args(data_dir: Path, run: Path, *extra: str) -> list[str]:
    return [
        "train", "--data-dir", str(data_dir), "--output-dir", str(run), "--arch", "resnet50", "--modality", "s1s2",
        "--epochs", "2", "--batch-size", "8", "--workers", "0", "--deterministic", "--no-progress", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    run = tmp_path_factory.mktemp("runs") / "uninterrupted"
    assert main(_train_args(data_dir, run)) == 0
    return run


def _log(run: Path) -> list[dict]:
    """The metrics log without wall-clock times."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_a_killed_run_resumes_to_the_uninterrupted_runs_exact_weights(data_dir, uninterrupted, tmp_path) -> None:
    run = tmp_path / "killed"
    args = _train_args(data_dir, run, "--checkpoint-every", "4")  # steps 4 (mid-epoch 1), 6 (end), 8, 12
    process = subprocess.Popen([sys.executable, "-m", "sen12ms_models", *args], env=ONE_THREAD)
    deadline = time.monotonic() + 300
    while not (run / "last.pt").exists():
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    stopped = load_checkpoint(run / "last.pt")["progress"]
    steps = math.ceil(47 / 8)
    assert stopped["global_step"] < 2 * steps, "killed after the run had finished: nothing left to resume"

    assert main([*args, "--resume"]) == 0
    resumed, reference = load_checkpoint(run / "last.pt"), load_checkpoint(uninterrupted / "last.pt")
    assert resumed["progress"] == reference["progress"] and resumed["progress"]["global_step"] == 2 * steps
    (model_name,) = reference["members"]  # a run of one model is a training group of one
    resumed_model, reference_model = resumed["members"][model_name], reference["members"][model_name]
    assert resumed_model["progress"] == reference_model["progress"]
    for key, tensor in reference_model["model"].items():
        assert torch.equal(resumed_model["model"][key], tensor), key
    for index, state in reference_model["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(resumed_model["optimizer"]["state"][index][name], state[name]), (index, name)
    assert _log(run) == _log(uninterrupted)  # losses and validation scores of both epochs, once each
    best, reference_best = load_checkpoint(run / "best.pt"), load_checkpoint(uninterrupted / "best.pt")
    assert best["epoch"] == reference_best["epoch"]
    assert all(torch.equal(best["model"][k], v) for k, v in reference_best["model"].items())


def test_a_run_folder_is_continued_only_on_purpose_and_with_the_same_recipe(data_dir, uninterrupted, capsys) -> None:
    assert main(_train_args(data_dir, uninterrupted)) == 2
    assert "already holds a run" in capsys.readouterr().err
    changed = ["--lr", "0.01", "--seed", "1", "--precision", "bf16"]
    assert main([*_train_args(data_dir, uninterrupted, "--resume"), *changed]) == 2
    error = capsys.readouterr().err
    assert "cannot resume" in error and "lr: checkpoint 0.001, now 0.01" in error and "seed: checkpoint 0" in error
    assert "precision: checkpoint 'tf32', now 'bf16'" in error  # bf16 rounds otherwise: another recipe
    assert "resnet50-s1s2-multi lr" in error  # the model whose recipe differs is named
    before = (uninterrupted / "last.pt").stat().st_mtime_ns
    assert main(_train_args(data_dir, uninterrupted, "--resume")) == 0  # 2 of 2 epochs done: nothing to train
    assert (uninterrupted / "last.pt").stat().st_mtime_ns == before


def test_checkpoints_load_weights_only_and_pickles_are_refused(uninterrupted, tmp_path) -> None:
    state = load_checkpoint(uninterrupted / "best.pt")
    model = sm.build_model("resnet50", 12)
    model.load_state_dict(state["model"])
    assert state["validation"]["num_samples"] == 16
    hostile = tmp_path / "hostile.pt"
    torch.save({"format": "sen12ms-models/training-checkpoint", "payload": print}, hostile)
    with pytest.raises(ValueError, match=r"hostile\.pt: not a loadable training checkpoint"):
        load_checkpoint(hostile)


def test_two_processes_with_ddp_split_each_global_batch(data_dir, tmp_path) -> None:
    """torchrun, 2 ranks, Gloo: a global batch of 8 is 4 per rank, so an epoch is ceil(47 / 8) steps."""
    run = tmp_path / "ddp"
    args = _train_args(data_dir, run)
    args[args.index("--epochs") + 1] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    result = subprocess.run(
        [*command, "-m", "sen12ms_models", *args], env=ONE_THREAD, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    split = make_split(Sen12msIndex.scan(data_dir), "paper")
    (record,) = _log(run)
    assert record["steps"] == record["global_step"] == math.ceil(len(split.train) / 8) == 6
    assert record["train_samples"] == 2 * math.ceil(len(split.train) / 2)  # the sampler pads 47 to 48
    assert record["validation"]["num_samples"] == len(split.validation)  # evaluation shards: no padding
    info = json.loads((run / "run.json").read_text())
    assert (info["world_size"], info["batch_per_process"], info["steps_per_epoch"]) == (2, 4, 6)
    state = load_checkpoint(run / "last.pt")
    assert state["world_size"] == 2 and state["progress"]["global_step"] == 6
    model = sm.build_model("resnet50", 12)
    model.load_state_dict(state["members"]["resnet50-s1s2-multi"]["model"])
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "metrics.jsonl", "run.json"]


def test_single_label_run(data_dir, tmp_path, one_thread) -> None:
    run = tmp_path / "single"
    args = _train_args(data_dir, run, "--label-type", "single")
    args[args.index("--modality") + 1] = "rgb"
    args[args.index("--epochs") + 1] = "1"
    assert main(args) == 0
    (record,) = _log(run)
    validation = record["validation"]
    assert validation["label_type"] == "single" and validation["accuracy"] == validation["f1_micro"]
    assert len(validation["confusion_matrix"]) == 10 and sum(map(sum, validation["confusion_matrix"])) == 16
    model = sm.build_model("resnet50", 3)
    model.load_state_dict(load_checkpoint(run / "best.pt")["model"])


def test_densenet121_needs_256_pixel_patches(data_dir, tmp_path, capsys) -> None:
    args = _train_args(data_dir, tmp_path / "d121")
    args[args.index("resnet50")] = "densenet121"
    assert main(args) == 2
    assert "256x256" in capsys.readouterr().err
