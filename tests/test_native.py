"""What a torchvision/timm user expects: a spec that follows the model, one name everywhere, a
training checkpoint usable anywhere, registered weights shown as what they are, one-line errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.training.checkpoint import BEST, save_checkpoint
from sen12ms_models.training.config import TrainConfig
from sen12ms_models.weights import (
    MANIFEST_FILE,
    ManifestEntry,
    label_type_given,
    register_weights,
    write_manifest_entry,
)
from tests.support.hub_env import point_hub_at
from tests.support.patches import clear_patches

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_S2 = "examples/data/ROIs1158_spring/s2_63/ROIs1158_spring_s2_63_p100.tif"


def test_the_spec_follows_a_new_head_and_new_input_channels() -> None:
    model = sm.load_model("resnet50-s2-multi", pretrained=False)
    model.reset_classifier(6, label_type="single", classes=[f"c{i}" for i in range(6)])
    assert (model.spec.num_classes, model.spec.label_type, model.spec.classes[0]) == (6, "single", "c0")
    adapted = sm.load_model("resnet50", "s2", pretrained=False, in_chans=4, adapt_first_conv=True)
    assert adapted.spec.in_chans == 4 and adapted.spec.bands is None
    with pytest.raises(ValueError, match="reads 4 channels without band names"):
        sm.predict(adapted, s2=np.zeros((1, 13, 32, 32), np.uint16))
    adapted.adapt_in_chans(4, bands=["B2", "B3", "B4", "B8"])
    assert sm.predict(adapted, s2=clear_patches()[1]).probabilities.shape == (1, 10)


def test_one_name_everywhere() -> None:
    for name in sm.list_models():
        assert sm.get_weights(name).value == name
    assert sm.load_model(sm.list_models()[-1], pretrained=False).spec.name == sm.list_models()[-1]
    assert sm.get_weights("densenet121-rgb") is sm.DenseNet121_Weights.SEN12MS_RGB_MULTI
    with pytest.raises(sm.ManifestError, match=r"unknown model 'bogus'; known: densenet121-rgb-multi"):
        sm.load_model("bogus")


def test_a_name_without_label_type_takes_the_files_with_weights(tmp_path) -> None:
    assert not label_type_given("resnet50-s2") and not label_type_given("resnet50", "s2")
    assert label_type_given("resnet50-s2-multi") and label_type_given("resnet50", "s2", "multi")
    assert label_type_given(sm.ResNet50_Weights.DEFAULT)
    folder = sm.load_model("resnet50-s2-single", pretrained=False).save_pretrained(tmp_path / "single").parent
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert sm.load_model("resnet50-s2", weights=folder).spec.label_type == "single"
    with pytest.raises(ValueError, match=r"holds resnet50-s2-single .*, but resnet50-s2-multi was asked for"):
        sm.load_model("resnet50-s2-multi", weights=folder)


def test_the_cli_names_models_as_python_does(capsys) -> None:
    assert main(["download", "bogus"]) == 2
    assert "unknown model 'bogus'; known: densenet121-rgb-multi" in capsys.readouterr().err
    assert main(["info", "resnet50-s2"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "resnet50-s2-multi"


def test_a_training_checkpoint_is_accepted_where_weights_are(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    trained = sm.build_model("resnet50", 12)
    config = TrainConfig(tmp_path, tmp_path, arch="resnet50", modality="s1s2")
    save_checkpoint(tmp_path / BEST, {"config": config.to_json(), "epoch": 1, "model": trained.state_dict()})
    loaded = sm.load_model("resnet50-s1s2-multi", weights=tmp_path / BEST)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in trained.state_dict().items())
    assert (
        main(["predict", str(REPO / EXAMPLE_S2), "--model", "resnet50-s1s2-multi", "--weights", str(tmp_path / BEST)])
        == 0
    )
    assert capsys.readouterr().out.startswith("resnet50-s1s2-multi:\nPrediction(1 patch")
    with pytest.raises(ValueError, match=r"best.pt holds resnet50-s1s2-multi .*, but resnet50-s2-multi was asked for"):
        sm.load_model("resnet50-s2-multi", weights=tmp_path / BEST)


def test_registered_weights_show_as_what_they_are(tmp_path, capsys) -> None:
    torch.manual_seed(1)
    file = tmp_path / "mine.safetensors"
    save_file(sm.build_model("densenet121", 3).state_dict(), file)
    entry = ManifestEntry("densenet121-rgb-multi", "me/densenet121-rgb-multi", "original-release-converted", "x")
    register_weights(entry, file.read_bytes())
    assert main(["list", "--published"]) == 0
    assert "densenet121-rgb-multi" in capsys.readouterr().out
    assert main(["info", "densenet121-rgb-multi"]) == 0
    info = json.loads(capsys.readouterr().out)
    # the licence, source and hash shown are those of the file that loads, not the manifest's plan
    assert info["weights"] == "registered" and info["license"] == "x" and info["source"] == "original-release-converted"
    assert info["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert info == json.loads(json.dumps(sm.get_weights("densenet121-rgb-multi").meta))  # Python says the same
    assert main(["download", "densenet121-rgb-multi"]) == 0
    assert "registered locally" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error", sm.UnverifiedWeightsWarning)  # the registry knows its hash
        model = sm.load_model("densenet121-rgb-multi", weights=file)
    assert model.spec.weights == "densenet121-rgb-multi"


def test_publish_without_a_network_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    file = folder / "resnet50-rgb-multi.safetensors"
    save_file({"w": torch.zeros(1)}, file)
    data = file.read_bytes()
    entry = ManifestEntry(
        "resnet50-rgb-multi", "me/r", "retrained", "CC-BY-4.0", sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    write_manifest_entry(entry, folder / MANIFEST_FILE)
    point_hub_at(monkeypatch, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert main(["publish", str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("sen12ms-models publish: error: could not upload") and error.count("\n") == 1


def test_evaluate_names_where_its_weights_came_from(sen12ms_tree, tmp_path, capsys) -> None:
    root, _ = sen12ms_tree
    torch.manual_seed(2)
    file = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 3).state_dict(), file)
    entry = ManifestEntry("resnet50-rgb-multi", "me/resnet50-rgb-multi", "retrained", "CC-BY-4.0")
    register_weights(entry, file.read_bytes())
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    output = tmp_path / "scores.json"
    args = [
        "evaluate",
        "--data-dir",
        str(root),
        "--model",
        "resnet50-rgb-multi",
        "--workers",
        "0",
        "--output",
        str(output),
    ]
    assert main(args) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert f"(registered resnet50-rgb-multi (retrained, sha256 {digest[:12]}))" in heading
    assert "published" not in heading


def test_a_warning_on_the_command_line_is_one_line(tmp_path) -> None:
    torch.manual_seed(3)
    file = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 12).state_dict(), file)
    command = [sys.executable, "-m", "sen12ms_models", "predict", EXAMPLE_S2, "--model", "resnet50-s1s2-multi"]
    result = subprocess.run([*command, "--weights", str(file)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "warning" in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("sen12ms-models: warning: ") and "warnings.warn" not in result.stderr
