"""A reproduction SIGKILLed mid-epoch resumes the whole group to the uninterrupted run's exact bits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sen12ms_models.cli.main import main
from sen12ms_models.models.api import load_checkpoint
from sen12ms_models.synthetic import write_tree

MODELS = "resnet50-rgb-multi,resnet50-s1-single"  # two label types, disjoint bands: the group reads s1rgb
#: One torch thread in every process, so the in-process and subprocess runs compute alike, bit for bit.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def _args(data_dir: Path, output: Path) -> list[str]:
    return [
        "reproduce", "--data-dir", str(data_dir), "--output-dir", str(output), "--models", MODELS, "--epochs", "2",
        "--batch-size", "16", "--workers", "0", "--deterministic", "--no-progress",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes x 8 triplets of 32x32: 47 training patches (3 steps of 16), 16 validation, 16 test."""
    root = tmp_path_factory.mktemp("SEN12MS-tiny")
    write_tree(root, patches_per_scene=8, size=32, seed=2)
    return root


def test_a_killed_group_resumes_to_the_uninterrupted_groups_exact_weights(data_dir, tmp_path, one_thread) -> None:
    reference = tmp_path / "uninterrupted"
    assert main(_args(data_dir, reference)) == 0

    killed = tmp_path / "killed"
    args = [*_args(data_dir, killed), "--checkpoint-every", "2"]  # steps 2 (mid-epoch 1), 3 (end), 4 (mid-epoch 2)
    process = subprocess.Popen([sys.executable, "-m", "sen12ms_models", *args], env=ONE_THREAD)
    state = killed / "runs" / "last.pt"
    deadline = time.monotonic() + 300
    while not state.exists():
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    stopped = load_checkpoint(state)["progress"]
    assert stopped["global_step"] < 2 * 3, "killed after training had finished: nothing left to resume"
    assert not (killed / "table4.json").exists()

    assert main([*args, "--resume"]) == 0
    resumed, expected = load_checkpoint(state), load_checkpoint(reference / "runs" / "last.pt")
    assert resumed["progress"] == expected["progress"] == {"epochs_done": 2, "batches_done": 0, "global_step": 6}
    assert sorted(resumed["members"]) == sorted(MODELS.split(","))
    for name, member in expected["members"].items():
        assert resumed["members"][name]["progress"] == member["progress"]
        for key, tensor in member["model"].items():
            assert torch.equal(resumed["members"][name]["model"][key], tensor), (name, key)
        for index, values in member["optimizer"]["state"].items():
            for part in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(resumed["members"][name]["optimizer"]["state"][index][part], values[part])
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed["members"][name]["history"]] == [
            {k: v for k, v in r.items() if k != "seconds"} for r in member["history"]
        ]
    tables = [json.loads((folder / "table4.json").read_text()) for folder in (killed, reference)]
    assert tables[0] == tables[1] and tables[0]["models"]["resnet50-s1-single"]["label_type"] == "single"
    assert "accuracy" in tables[0]["models"]["resnet50-s1-single"]
