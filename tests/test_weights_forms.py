"""The forms users keep weights in: each loads with the same outputs, or is refused with the way that works."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.errors import WeightsIntegrityError
from sen12ms_models.models.base import ModelSpec, save_weights
from sen12ms_models.training.evaluation import evaluate_split
from sen12ms_models.weights import CONVERTED, MANIFEST_FILE, ManifestEntry, sha256_hex, write_manifest_entry
from tests.support.patches import clear_patches

EXAMPLE_S2 = Path(__file__).resolve().parents[1] / "examples/data/ROIs1158_spring/s2_63/ROIs1158_spring_s2_63_p100.tif"


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


def test_adapted_channels_must_be_bands_with_statistics(tmp_path: Path) -> None:
    """B1, B9 and B10 are SEN12MS bands without the baselines' statistics: refused up front, not a KeyError later
    (in spec.transforms, or in save_pretrained after the weights were written)."""
    model = sm.load_model("resnet50", "s2", pretrained=False)
    with pytest.raises(ValueError, match=r"bands \['B1', 'B10'\] are not SEN12MS bands with training statistics"):
        model.adapt_in_chans(4, bands=["B1", "B2", "B3", "B10"])
    assert model.in_chans == 10 and model.spec == sm.load_model("resnet50", "s2", pretrained=False).spec
    model.save_pretrained(tmp_path / "kept")  # the model is unchanged, and still saves


def test_a_tampered_convert_or_export_folder_is_refused_however_it_is_loaded(tmp_path: Path, capsys) -> None:
    """The manifest beside a file of a known model vouches for it whether or not the model is named."""
    weights = sm.get_weights("resnet50-s2-multi")
    torch.manual_seed(0)
    model = sm.load_model(weights, pretrained=False)
    folder, spec = tmp_path / "export", ModelSpec.of(weights)
    folder.mkdir()
    file = folder / weights.filename
    save_weights(model.state_dict(), spec, file)  # as convert and export write it, their manifest beside it
    data = file.read_bytes()
    entry = ManifestEntry(weights.value, "me/r", CONVERTED, "x", sha256=sha256_hex(data), size=len(data))
    write_manifest_entry(entry, folder / MANIFEST_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sm.load_model(folder).spec.name == weights.value  # as written: it loads
    with torch.no_grad():
        model.fc.bias.add_(1.0)
    save_weights(model.state_dict(), spec, file)  # the same size and header, other numbers
    for given in (folder, file, str(folder)):
        with pytest.raises(WeightsIntegrityError, match=rf"{file.name}: sha256 [0-9a-f]{{64}} .* does not match"):
            sm.load_model(given)
    assert main(["predict", str(EXAMPLE_S2), "--weights", str(folder)]) == 2
    assert f"{file.name}: sha256" in capsys.readouterr().err
    published = dataclasses.replace(entry, revision="a" * 40)  # as publish records it in the folder's manifest
    write_manifest_entry(published, folder / MANIFEST_FILE)
    with pytest.raises(WeightsIntegrityError, match="write it anew with `sen12ms-models convert") as refused:
        sm.load_model(folder)  # a local file: fetching the Hub's would not mend it
    assert "force_download" not in str(refused.value)


def test_a_path_object_is_a_path_whatever_its_name(tmp_path: Path, monkeypatch, capsys) -> None:
    """``--weights`` and ``load_model(Path(...))`` are paths: a file of any suffix loads, a missing one is said
    to be missing (not an unknown model)."""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s2", pretrained=False)
    shutil.copy(model.save_pretrained("saved"), "tuned.bin")
    loaded = sm.load_model(Path("tuned.bin"))
    assert loaded.spec == model.spec and torch.equal(loaded.fc.bias, model.fc.bias)
    with pytest.raises(FileNotFoundError, match=r"my-modle does not exist"):
        sm.load_model(Path("my-modle"))
    with pytest.raises(sm.ManifestError, match=r"unknown model 'resnet50-s2\.multi'"):  # a mistyped name
        sm.load_model("resnet50-s2.multi")
    with pytest.raises(ValueError, match=r"saved is a path, whose file records its model"):
        sm.load_model(Path("saved"), "rgb")
    assert main(["predict", str(EXAMPLE_S2), "--weights", "tuned.bin", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "resnet50-s2-multi"
    assert main(["predict", str(EXAMPLE_S2), "--weights", "my-modle"]) == 2
    assert "my-modle does not exist" in capsys.readouterr().err


def test_evaluate_takes_a_saved_folder_without_a_model_name(sen12ms_tree, tmp_path: Path) -> None:
    folder = sm.load_model("resnet50", "s2", pretrained=False).save_pretrained(tmp_path / "mine").parent
    output = tmp_path / "scores.json"
    argv = ["evaluate", "--data-dir", str(sen12ms_tree[0]), "--weights", str(folder), "--subset", "validation"]
    assert main([*argv, "--output", str(output), "--no-progress", "--device", "cpu"]) == 0
    record = json.loads(output.read_text())
    assert record["model"] == "resnet50-s2-multi" and record["weights"] == str(folder)
