"""``reproduce`` on real GeoTIFFs: a group trained on one pass gives each model the weights of a run of it
alone; the run writes both tables and exports that load; the plan comes first; log lines off-terminal.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import sen12ms_models as sm
from sen12ms_models.bands import MODALITIES
from sen12ms_models.cli.main import main
from sen12ms_models.datasets import Sen12msDataset, Sen12msIndex
from sen12ms_models.datasets.splits import make_split
from sen12ms_models.labels import LABEL_TYPES
from sen12ms_models.paper import paper_metrics
from sen12ms_models.testing.synthetic import write_tree
from sen12ms_models.training.checkpoint import load_checkpoint
from sen12ms_models.training.group_data import GroupDataset, MemberView, covering_modality
from sen12ms_models.training.plan import ModelCost, split_passes
from sen12ms_models.training.step_log import wants_log_lines

MODELS = ("resnet50-rgb-multi", "resnet50-s2-multi")
#: The recipe both the group and the single runs use: up to 3 epochs, early stopping after one without
#: a better validation micro F1, batch 16 (3 steps an epoch), fp32, deterministic.
RECIPE = (
    "--epochs",
    "3",
    "--patience",
    "1",
    "--batch-size",
    "16",
    "--workers",
    "0",
    "--deterministic",
    "--no-progress",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 scenes x 8 triplets of 32x32: 47 training patches (paper split; one broken), 16 validation, 16 test."""
    root = tmp_path_factory.mktemp("SEN12MS-tiny")
    write_tree(root, patches_per_scene=8, size=32, seed=1)
    return root


@pytest.fixture(scope="module")
def reproduced(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    output = tmp_path_factory.mktemp("reproduce") / "table4"
    args = ["reproduce", "--data-dir", str(data_dir), "--output-dir", str(output), "--models", ",".join(MODELS)]
    assert main([*args, *RECIPE, "--timed-steps", "1"]) == 0
    return output


def _log(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_each_model_of_a_group_gets_the_weights_of_a_run_of_it_alone(data_dir, reproduced, tmp_path) -> None:
    group = load_checkpoint(reproduced / "runs" / "last.pt")
    assert sorted(group["members"]) == sorted(MODELS)
    epochs = {name: group["members"][name]["progress"]["epochs_done"] for name in MODELS}
    assert group["progress"]["epochs_done"] == max(epochs.values()) and min(epochs.values()) < 3, epochs
    for name, done in epochs.items():  # a model that stopped early took no step after it stopped
        assert group["members"][name]["progress"]["global_step"] == 3 * done, name
    for name in MODELS:
        alone = tmp_path / name
        assert main(["train", "--data-dir", str(data_dir), "--output-dir", str(alone), "--model", name, *RECIPE]) == 0
        single = load_checkpoint(alone / "last.pt")["members"][name]
        member = group["members"][name]
        assert member["progress"] == single["progress"]
        for key, tensor in single["model"].items():
            assert torch.equal(member["model"][key], tensor), (name, key)
        for index, state in single["optimizer"]["state"].items():
            for part in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(member["optimizer"]["state"][index][part], state[part]), (name, index, part)
        assert _log(reproduced / "runs" / name) == _log(alone)  # losses and validation scores, epoch by epoch
        best, best_alone = load_checkpoint(reproduced / "runs" / name / "best.pt"), load_checkpoint(alone / "best.pt")
        assert best["epoch"] == best_alone["epoch"]
        assert all(torch.equal(best["model"][k], v) for k, v in best_alone["model"].items())


def test_the_run_writes_both_tables_and_exports_that_load_model_loads(reproduced, data_dir) -> None:
    table = json.loads((reproduced / "table4.json").read_text())
    assert sorted(table["models"]) == sorted(MODELS)
    assert table["precision"] == {"training": "fp32", "scores": "fp32"}
    markdown = (reproduced / "table4.md").read_text()
    for name in MODELS:
        folder = reproduced / "export" / name
        scores = json.loads((folder / "metrics.json").read_text())
        row, paper = table["models"][name], paper_metrics(name)
        assert paper is not None and name in markdown
        assert row["overall_f1"] == {
            "ours": round(100 * scores["f1_micro"], 2),
            "paper": paper["overall_f1"],
            "difference": round(round(100 * scores["f1_micro"], 2) - paper["overall_f1"], 2),
        }
        assert row["average_f1"]["ours"] == round(100 * scores["f1_macro"], 2)
        assert row["average_f1"]["paper"] == paper["average_f1"]
        assert row["per_class_f1"]["Water"]["paper"] == paper["per_class_f1"]["Water"]
        assert row["f1_macro_all_classes"] == round(100 * scores["f1_macro_all_classes"], 2)
        assert f"{row['overall_f1']['ours']:.1f} ({paper['overall_f1']:.1f}," in markdown

        training = json.loads((folder / "training.json").read_text())
        assert training["test_precision"] == "fp32" and training["performance"]["precision"] == "fp32"
        assert "trained (and validated) in fp32" in (folder / "README.md").read_text()
        run = json.loads((reproduced / "runs" / name / "run.json").read_text())
        assert run["precision"] == {"training": "fp32", "validation": "fp32", "test": "fp32"}
        assert run["group"] == list(MODELS)

        weights = folder / f"{name}.safetensors"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sm.UnverifiedWeightsWarning)
            model = sm.load_model(name, weights=weights)
        reference = sm.build_model("resnet50", model.spec.in_chans)
        reference.load_state_dict(load_checkpoint(reproduced / "runs" / name / "best.pt")["model"])
        reference.eval().to(memory_format=torch.channels_last)  # as load_model prepares it for inference
        x = torch.randn(2, model.spec.in_chans, 32, 32).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            assert torch.equal(model(x), reference(x)), name

    plan = json.loads((reproduced / "plan.json").read_text())
    assert (
        plan["models"] == list(MODELS) and plan["steps_per_epoch"] == 3 and plan["estimate"]["passes"] == [list(MODELS)]
    )
    assert plan["sizes"] == {"train": 47, "validation": 16, "test": 16}


def test_plan_only_prints_the_plan_and_an_estimate_and_writes_nothing(data_dir, tmp_path, capsys) -> None:
    output = tmp_path / "plan"
    args = ["reproduce", "--data-dir", str(data_dir), "--output-dir", str(output), "--models", "resnet50-rgb-multi"]
    assert main([*args, *RECIPE, "--plan-only", "--timed-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "train 47, validation 16, test 16 patches; 3 steps per epoch, up to 3 epochs" in out
    assert "resnet50-rgb-multi:" in out and "images/s per training step" in out
    assert "plan: estimate for 3 epochs:" in out and "CPU-hours" in out
    assert not output.exists()


def test_a_group_reads_the_covering_bands_and_gives_each_model_its_own_items(data_dir) -> None:
    index = Sen12msIndex.scan(data_dir)
    patches = make_split(index, "paper").test[:4]
    models = [(m, t) for m in MODALITIES for t in LABEL_TYPES]
    group = GroupDataset(index, patches, [m for m, _ in models], [t for _, t in models])
    assert group.modality == "s1s2" == covering_modality(MODALITIES)
    assert covering_modality(["rgb", "s1"]) == "s1rgb" and covering_modality(["rgb"]) == "rgb"
    batch = torch.utils.data.default_collate([group[i] for i in range(len(patches))])
    for modality, label_type in models:
        own = Sen12msDataset(index, patches, modality, label_type)
        expected = torch.utils.data.default_collate([own[i] for i in range(len(patches))])
        part = MemberView.of(group, own)(batch)
        assert sorted(part) == sorted(k for k in expected if k != "index"), (modality, label_type)
        for key, value in part.items():
            assert torch.equal(value, expected[key]), (modality, label_type, key)
        assert torch.equal(own.to_input(part, torch.device("cpu")), own.to_input(expected, torch.device("cpu")))


def test_passes_split_the_group_only_when_the_memory_budget_says_so() -> None:
    gib = 2**30
    costs = [ModelCost(f"m{i}", 0.1, 1 * gib, 9 * gib) for i in range(4)]  # 1 GiB held, 8 GiB transient
    assert split_passes(costs, None) == [["m0", "m1", "m2", "m3"]]
    assert split_passes(costs, 12 * gib) == [["m0", "m1", "m2", "m3"]]  # 4 held + 8 transient
    assert split_passes(costs, 10 * gib) == [["m0", "m1"], ["m2", "m3"]]  # 2 held + 8 transient each
    assert split_passes(costs, 5 * gib) == [["m0"], ["m1"], ["m2"], ["m3"]]  # alone too big: a pass each
    unmeasured = [ModelCost("cpu", 0.1, None, None)]
    assert split_passes(unmeasured, 1) == [["cpu"]]


def test_train_prints_its_plan_and_log_lines_when_not_on_a_terminal(data_dir, tmp_path, capsys, one_thread) -> None:
    args = ["train", "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "run"), "--model", MODELS[0]]
    assert main([*args, "--epochs", "1", "--batch-size", "16", "--workers", "0", "--log-every", "2"]) == 0
    captured = capsys.readouterr()
    assert "plan: device cpu (fp32), 1 process(es), global batch 16" in captured.out
    assert "train 47, validation 16, test 16 patches; 3 steps per epoch" in captured.out
    lines = [line for line in captured.err.splitlines() if " step " in line]
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1 step 2/3: loss ") and lines[0].endswith(" images/s")
    assert wants_log_lines(50, True, None) is True  # pytest's stderr is no terminal
    assert not wants_log_lines(50, False, None) and not wants_log_lines(0, True, None)
    assert not wants_log_lines(50, True, True)  # a bar forced on (--progress) replaces the lines
