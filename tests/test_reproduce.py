"""``reproduce`` on real GeoTIFFs: a group trained on one pass gives each model the weights of a run of it
alone; the run writes both tables and exports that load; the plan comes first, cheap; log lines off-terminal.
"""

from __future__ import annotations

import argparse
import inspect
import json
import warnings
from pathlib import Path

import pytest
import torch

import sen12ms_models as sm
from sen12ms_models.bands import MODALITIES
from sen12ms_models.cli.main import build_parser, main
from sen12ms_models.cli.train import config_from
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.splits import make_split
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.labels import LABEL_TYPES
from sen12ms_models.models.api import load_checkpoint
from sen12ms_models.paper import paper_metrics
from sen12ms_models.synthetic import write_tree
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.training.distributed import Performance, Process
from sen12ms_models.training.evaluation import evaluate_split
from sen12ms_models.training.export import export_run
from sen12ms_models.training.loop import Member, covering_modality, group_dataset
from sen12ms_models.training.reproduce import reproduce

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
def reproduced(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("reproduce") / "table4"
    args = ["reproduce", "--data-dir", str(data_dir), "--output-dir", str(output), "--models", ",".join(MODELS)]
    assert main([*args, *RECIPE]) == 0
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
        section = markdown.split(f"{name}, F1 in %")[1].split("```")[0]  # the model's table4, as evaluate prints it
        overall = next(line.split() for line in section.splitlines() if line.startswith("Overall F1"))
        assert overall[2:] == [f"{row['overall_f1']['ours']:.1f}", str(paper["overall_f1"])]

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
        reference.eval()  # as load_model returns it
        x = torch.randn(2, model.spec.in_chans, 32, 32)
        with torch.no_grad():
            assert torch.equal(model(x), reference(x)), name

    plan = json.loads((reproduced / "plan.json").read_text())
    assert plan["models"] == list(MODELS) and plan["steps_per_epoch"] == 3
    assert plan["performance"]["precision"] == "fp32" and plan["epochs"] == 3 and plan["batch_size"] == 16
    assert plan["sizes"] == {"train": 47, "validation": 16, "test": 16}


def test_plan_only_prints_the_plan_and_writes_nothing(data_dir, tmp_path, capsys) -> None:
    output = tmp_path / "plan"
    args = ["reproduce", "--data-dir", str(data_dir), "--output-dir", str(output), "--models", "resnet50-rgb-multi"]
    assert main([*args, *RECIPE, "--plan-only"]) == 0
    out = capsys.readouterr().err  # the plan is logged
    assert "plan: 1 model(s): resnet50-rgb-multi" in out
    assert "plan: device cpu (fp32), 1 process(es), global batch 16" in out
    assert "train 47, validation 16, test 16 patches; 3 steps per epoch, up to 3 epochs" in out
    assert not output.exists()
    template = TrainConfig(data_dir, output, batch_size=64, workers=0, progress=False, precision="fp32")
    plan = reproduce(template, ["resnet50-rgb-multi"], plan_only=True).plan
    assert plan["batch_per_process"] == 64 and plan["steps_per_epoch"] == 1 and not output.exists()


def test_a_group_reads_the_covering_bands_and_gives_each_model_its_own_inputs_and_targets(data_dir, tmp_path) -> None:
    index = Sen12msIndex.scan(data_dir)
    patches = make_split(index, "paper").test[:4]
    models = [(m, t) for m in MODALITIES for t in LABEL_TYPES]
    group = group_dataset(index, patches, [m for m, _ in models], [t for _, t in models])
    assert group.modality == "s1s2" == covering_modality(MODALITIES)
    assert covering_modality(["rgb", "s1"]) == "s1rgb" and covering_modality(["rgb"]) == "rgb"
    batch = torch.utils.data.default_collate([group[i] for i in range(len(patches))])
    cpu = Process(0, 0, 1, torch.device("cpu"))
    for modality, label_type in models:
        own = Sen12msDataset(index, patches, modality, label_type)
        expected = torch.utils.data.default_collate([own[i] for i in range(len(patches))])
        config = TrainConfig(data_dir, tmp_path, modality=modality, label_type=label_type)
        member = Member(config, group, cpu, Performance.choose(cpu.device))
        part = member.part(batch)
        assert torch.equal(part["target"], expected["target"]), (modality, label_type)
        x = member.dataset.to_input(part, cpu.device)  # its own bands out of the group's, standardized
        assert torch.equal(x, own.to_input(expected, cpu.device)), (modality, label_type)


def test_train_prints_its_plan_and_log_lines_when_not_on_a_terminal(data_dir, tmp_path, capsys) -> None:
    args = ["train", "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "run"), "--model", MODELS[0]]
    assert main([*args, "--epochs", "1", "--batch-size", "16", "--workers", "0", "--log-every", "2"]) == 0
    captured = capsys.readouterr()
    assert "plan: device cpu (fp32), 1 process(es), global batch 16" in captured.err
    assert "train 47, validation 16, test 16 patches; 3 steps per epoch" in captured.err
    lines = [line for line in captured.err.splitlines() if " step " in line]
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1 step 2/3: loss ") and lines[0].endswith(" images/s")
    cpu = torch.device("cpu")
    assert Process(0, 0, 2, cpu).progress(None) is None  # rank 0: a bar on a terminal, else these lines
    assert Process(1, 1, 2, cpu).progress(None) is False and Process(1, 1, 2, cpu).progress(True) is False


def test_the_command_line_and_python_share_the_recipes_precisions(tmp_path: Path) -> None:
    def parsed(*args: str) -> argparse.Namespace:
        return build_parser().parse_args([*args, "--data-dir", str(tmp_path)])

    template = TrainConfig(tmp_path, tmp_path / "out")
    for command in ("train", "reproduce"):
        args = parsed(command, "--output-dir", str(tmp_path / "out"), "--model", "resnet50-s2")
        assert config_from(args, "resnet50-s2-multi").precision == template.precision == "tf32"
    defaults = inspect.signature(evaluate_split).parameters, inspect.signature(export_run).parameters
    assert parsed("evaluate", "--model", "resnet50-s2").precision == "fp32"
    assert [d["precision"].default for d in defaults] == ["fp32", "fp32"]
    assert inspect.signature(reproduce).parameters["score_precision"].default == "fp32"
