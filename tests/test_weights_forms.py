"""The forms users keep weights in: each loads with the same outputs, or is refused with the way that works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.errors import WeightsIntegrityError
from sen12ms_models.training.evaluation import evaluate_split
from tests.support.patches import clear_patches


@pytest.fixture(scope="module")
def s2() -> np.ndarray:
    return clear_patches(2, 64, "Forest")[1]


def test_a_torch_saved_state_dict_is_refused_with_the_way_that_works(tmp_path: Path, s2: np.ndarray) -> None:
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s2", pretrained=False)
    for path in (tmp_path / "plain.pt", tmp_path / "plain.pth"):
        torch.save(model.state_dict(), path)
        with pytest.raises(WeightsIntegrityError, match=r"safetensors.torch.save_file\(torch.load\(PATH"):
            sm.load_model("resnet50-s2-multi", weights=path)
    save_file(torch.load(tmp_path / "plain.pt", weights_only=True), tmp_path / "model.safetensors")  # the remedy
    with pytest.warns(sm.UnverifiedWeightsWarning):
        loaded = sm.load_model("resnet50-s2-multi", weights=tmp_path / "model.safetensors")
    np.testing.assert_array_equal(sm.predict(loaded, s2=s2).probabilities, sm.predict(model, s2=s2).probabilities)


def test_a_bare_densenet_head_on_pooled_features_loads_pooled(tmp_path: Path, s2: np.ndarray) -> None:
    torch.manual_seed(0)
    model = sm.load_model("densenet121", "s2", pretrained=False)
    model.reset_classifier(3, global_pool="avg", label_type="single")
    save_file(model.state_dict(), tmp_path / "head.safetensors")
    with pytest.warns(sm.UnverifiedWeightsWarning):
        loaded = sm.load_model("densenet121", "s2", "single", weights=tmp_path / "head.safetensors", num_classes=3)
    assert loaded.spec.global_pool == "avg"
    np.testing.assert_array_equal(sm.predict(loaded, s2=s2).probabilities, sm.predict(model, s2=s2).probabilities)


def test_paths_that_do_not_exist_are_said_to_be_missing_files(tmp_path: Path) -> None:
    for missing in ("missing.safetensors", str(tmp_path / "run" / "best.pt"), str(tmp_path / "folder")):
        with pytest.raises(FileNotFoundError, match=r"does not exist"):
            sm.load_model(missing)


def test_an_export_folder_loads_as_a_model_folder(tmp_path: Path, s2: np.ndarray) -> None:
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s2", pretrained=False)
    saved = model.save_pretrained(tmp_path / "saved")
    (tmp_path / "export").mkdir()
    shutil.copy(saved, tmp_path / "export" / "resnet50-s2-multi.safetensors")  # export's file name
    loaded = sm.load_model(tmp_path / "export")
    np.testing.assert_array_equal(sm.predict(loaded, s2=s2).probabilities, sm.predict(model, s2=s2).probabilities)


def test_predict_takes_a_data_parallel_model(s2: np.ndarray) -> None:
    model = sm.load_model("resnet50", "s2", pretrained=False)
    wrapped = sm.predict(torch.nn.DataParallel(model), s2=s2).probabilities
    np.testing.assert_array_equal(wrapped, sm.predict(model, s2=s2).probabilities)


def test_evaluate_refuses_a_model_of_other_classes(sen12ms_tree, tmp_path: Path) -> None:
    model = sm.load_model("resnet50", "s2", pretrained=False, num_classes=5)
    model.set_labels("single", ["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match=r"has 5 classes \(a, b, c, d, e\), not SEN12MS's 10"):
        evaluate_split(sen12ms_tree[0], str(model.save_pretrained(tmp_path / "five")), subset="validation")


def test_adapted_channels_must_be_named_with_sen12ms_bands() -> None:
    model = sm.load_model("resnet50", "s2", pretrained=False)
    with pytest.raises(ValueError, match=r"bands \['B99', 'foo'\] are not SEN12MS bands"):
        model.adapt_in_chans(2, bands=["B99", "foo"])


def test_evaluate_takes_a_saved_folder_without_a_model_name(sen12ms_tree, tmp_path: Path) -> None:
    folder = sm.load_model("resnet50", "s2", pretrained=False).save_pretrained(tmp_path / "mine").parent
    output = tmp_path / "scores.json"
    argv = ["evaluate", "--data-dir", str(sen12ms_tree[0]), "--weights", str(folder), "--subset", "validation"]
    assert main([*argv, "--output", str(output), "--no-progress", "--device", "cpu"]) == 0
    record = json.loads(output.read_text())
    assert record["model"] == "resnet50-s2-multi" and record["weights"] == str(folder)
