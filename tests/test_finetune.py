"""Fine-tuned models that survive a save and reload, and the inputs users pass (issue 22).

A head is trained on embeddings of real-looking patches until it separates them, saved with
``save_pretrained`` (or as a bare state dict), reloaded in a fresh process, and must give the same
probabilities with its decision rule and class names kept.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.classes import CLASSES
from sen12ms_models.cli.main import main
from sen12ms_models.labels import DECISION_THRESHOLD
from tests.support.geotiff import write_geotiff
from tests.support.patches import clear_patches

REPO = Path(__file__).resolve().parents[1]
KEEP = ("Forest", "Grassland", "Water")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S1, S2 of 2 patches of each kept class (64x64) and their class index in KEEP."""
    parts = [clear_patches(2, 64, name, seed=i) for i, name in enumerate(KEEP)]
    s1 = np.concatenate([p[0] for p in parts])
    s2 = np.concatenate([p[1] for p in parts])
    return s1, s2, np.repeat(np.arange(len(KEEP)), 2)


@pytest.fixture(scope="module")
def finetuned(data, one_thread) -> sm.Sen12msClassifier:
    """A ResNet50 S2 whose new 3-class single-label head is trained on the frozen backbone's features."""
    _, s2, target = data
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s2", pretrained=False, num_classes=len(KEEP))
    model.set_labels("single", classes=KEEP)
    with torch.no_grad():
        features = model.forward_features(model.spec.transforms(s2=s2))
    optimizer = torch.optim.Adam(model.get_classifier().parameters(), lr=1e-2)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(model.get_classifier()(features), torch.from_numpy(target))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_the_head_learns(finetuned, data) -> None:
    _, s2, target = data
    result = sm.predict(finetuned, s2=s2)
    assert [KEEP.index(labels[0]) for labels in result.labels] == target.tolist()  # accuracy 1.00


def test_save_pretrained_and_reload_in_a_fresh_process(finetuned, data, tmp_path: Path) -> None:
    _, s2, _ = data
    np.save(tmp_path / "s2.npy", s2)
    expected = sm.predict(finetuned, s2=s2).probabilities
    folder = finetuned.save_pretrained(tmp_path / "my-model").parent
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text())["sen12ms"]["classes"] == list(KEEP)
    probe = (
        "import sys, json, numpy as np, torch, sen12ms_models as sm\n"
        "torch.set_num_threads(1)  # as this process runs: the same float rounding\n"
        "for saved in sys.argv[2:]:\n"
        "    r = sm.predict(sm.load_model(saved), s2=np.load(sys.argv[1]))\n"
        "    print(json.dumps({'p': r.probabilities.tolist(), 'classes': r.class_names, 'rule': r.label_type}))\n"
    )
    saved = (folder, folder / "model.safetensors")  # the folder, or the file alone
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "s2.npy"), *map(str, saved)],
        capture_output=True, text=True, check=True, cwd=REPO,
    ).stdout  # fmt: skip
    lines = out.splitlines()[-len(saved) :]
    for line in lines:
        reloaded = json.loads(line)
        np.testing.assert_allclose(reloaded["p"], expected, rtol=1e-5, atol=1e-6)
        assert reloaded["classes"] == list(KEEP) and reloaded["rule"] == "single"
    assert len(lines) == len(saved)


def test_a_bare_state_dict_loads_with_its_head_size_and_the_rule_is_said_without_touching_it(
    finetuned, data, tmp_path: Path
) -> None:
    _, s2, _ = data
    path = tmp_path / "ft.safetensors"
    save_file({k: v.contiguous() for k, v in finetuned.state_dict().items()}, path)  # as the user did
    with pytest.warns(sm.UnverifiedWeightsWarning):
        model = sm.load_model("resnet50", "s2", weights=path, num_classes=len(KEEP))  # a K-class file: loaded as is
    assert torch.equal(model.fc.weight, finetuned.fc.weight)
    with pytest.raises(
        ValueError, match=r"no decision rule: say it with model.set_labels\(.*keeps the trained weights"
    ):
        sm.predict(model, s2=s2)
    model.set_labels("single", classes=KEEP)
    np.testing.assert_allclose(sm.predict(model, s2=s2).probabilities, sm.predict(finetuned, s2=s2).probabilities)
    with (
        pytest.warns(sm.UnverifiedWeightsWarning),
        pytest.raises(sm.WeightsIntegrityError, match=r"fc.weight: file \(3, 2048\).*pass num_classes=3"),
    ):
        sm.load_model("resnet50", "s2", weights=path)  # without num_classes, a 3-class file does not fit
    with pytest.warns(sm.UnverifiedWeightsWarning):  # the rule the caller names is kept
        assert sm.load_model("resnet50", "s2", "single", weights=path, num_classes=3).spec.label_type == "single"


def test_a_file_that_records_another_model_than_the_one_named_is_refused(finetuned, tmp_path: Path, capsys) -> None:
    folder = finetuned.save_pretrained(tmp_path / "ft").parent
    for asked, weights in (
        (("densenet121", "s2"), folder / "model.safetensors"),
        (("resnet50", "s1s2", "single"), folder),  # a save_pretrained folder is accepted as weights= too
        (("resnet50-s2-multi",), folder),
    ):
        with pytest.raises(ValueError, match=rf"{folder}/model.safetensors holds resnet50-custom .*label_type=single"):
            sm.load_model(*asked, weights=weights)
    assert sm.load_model("resnet50", "s2", weights=folder).spec == finetuned.spec  # unsaid label type: the file's
    assert main(["predict", "--s2", "x.tif", "--model", "resnet50-s2-multi", "--weights", str(folder)]) == 2
    assert "holds resnet50-custom" in capsys.readouterr().err


def test_a_tuned_threshold_is_saved_with_the_model_and_used_by_predict(finetuned, data, tmp_path: Path) -> None:
    _, s2, _ = data
    model = copy.deepcopy(finetuned)
    model.set_labels("multi", threshold=0.3)
    with pytest.raises(ValueError, match=r"threshold=0.3 for label_type='single'"):
        model.set_labels("single", threshold=0.3)
    reloaded = sm.load_model(model.save_pretrained(tmp_path / "t").parent)
    assert reloaded.spec.threshold == 0.3 and sm.predict(reloaded, s2=s2).threshold == 0.3
    assert sm.predict(reloaded, s2=s2, threshold=0.7).threshold == 0.7
    reloaded.reset_classifier(3)  # a new head: the default rule
    assert reloaded.spec.threshold == DECISION_THRESHOLD


def test_an_adapted_stem_with_named_bands_survives_the_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = sm.load_model("resnet50", "s2", pretrained=False)
    model.adapt_in_chans(4, bands=("B2", "B3", "B4", "B8"))
    _, s2 = clear_patches(2, 32)
    expected = sm.predict(model, s2=s2).probabilities
    reloaded = sm.load_model(model.save_pretrained(tmp_path / "four").parent)
    assert reloaded.spec == model.spec and reloaded.in_chans == 4
    np.testing.assert_allclose(sm.predict(reloaded, s2=s2).probabilities, expected, rtol=1e-5)


def test_densenet_with_a_pooled_head_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = sm.load_model("densenet121", "rgb", pretrained=False)
    model.reset_classifier(2, global_pool="avg", label_type="multi", classes=("a", "b"))
    reloaded = sm.load_model(model.save_pretrained(tmp_path / "d").parent)
    assert reloaded.global_pool == "avg" and reloaded.spec.classes == ("a", "b")
    x = torch.randn(1, 3, 64, 64)  # any size: the pooled head frees it
    torch.testing.assert_close(reloaded(x), model(x))


def test_urls_and_gdal_paths_go_to_rasterio_as_they_are(tmp_path: Path, capsys) -> None:
    _, s2 = clear_patches(1, 32)
    write_geotiff(tmp_path / "ROIs1158_spring_s2_63_p1.tif", s2[0])
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )  # its own process: GDAL holds the GIL while it reads
    try:
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/ROIs1158_spring_s2_63_p1.tif"  # type: ignore[union-attr]
        model = sm.load_model("resnet50", "rgb", pretrained=False)
        local = sm.predict(model, s2=tmp_path / "ROIs1158_spring_s2_63_p1.tif").probabilities
        for remote in (url, f"/vsicurl/{url}"):
            result = sm.predict(model, s2=remote)
            np.testing.assert_allclose(result.probabilities, local)
            assert result.sources == (remote,)
        model.set_labels("multi")  # as the command line: the positional path is a URL, kept as written
        assert main(["predict", url, "--weights", str(model.save_pretrained(tmp_path / "m").parent), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["patches"][0]["source"] == url
    finally:
        server.terminate()


SERVE = (
    "import functools, sys; from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer\n"
    "handler = functools.partial(SimpleHTTPRequestHandler, directory=sys.argv[1])\n"
    "handler.func.log_message = lambda *args: None\n"
    "server = ThreadingHTTPServer(('127.0.0.1', 0), handler)\n"
    "print(server.server_address[1], flush=True); server.serve_forever()\n"
)


def test_a_sen12ms_named_file_outside_the_tree_finds_its_sibling_beside_it(tmp_path: Path, capsys) -> None:
    s1, s2 = clear_patches(1, 32, "Water")
    write_geotiff(tmp_path / "ROIs1158_spring_s1_63_p100.tif", s1[0])
    s2_file = write_geotiff(tmp_path / "ROIs1158_spring_s2_63_p100.tif", s2[0])
    weights = tmp_path / "w.safetensors"
    save_file(sm.build_model("resnet50", 12).state_dict(), weights)
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main(["predict", str(s2_file), "--model", "resnet50-s1s2", "--weights", str(weights), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["patches"][0]["source"] == str(s2_file)


def test_bf16_precision_on_the_command_line(tmp_path: Path, capsys) -> None:
    _, s2 = clear_patches(1, 32)
    s2_file = write_geotiff(tmp_path / "ROIs1158_spring_s2_63_p100.tif", s2[0])
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_file(sm.build_model("resnet50", 3).state_dict(), weights)
    args = ["predict", "--s2", str(s2_file), "--model", "resnet50-rgb", "--weights", str(weights), "--json"]
    runs = {}
    for precision in ("fp32", "bf16"):
        with pytest.warns(sm.UnverifiedWeightsWarning):
            assert main([*args, "--precision", precision]) == 0
        runs[precision] = json.loads(capsys.readouterr().out)["patches"][0]["probabilities"]
    assert list(runs["bf16"]) == list(CLASSES)
    np.testing.assert_allclose([runs["bf16"][c] for c in CLASSES], [runs["fp32"][c] for c in CLASSES], atol=0.05)


def test_the_command_line_takes_a_saved_folder_as_weights_without_a_model_name(
    finetuned, tmp_path: Path, capsys
) -> None:
    folder = finetuned.save_pretrained(tmp_path / "ft").parent
    _, s2 = clear_patches(1, 32, "Water")
    s2_file = write_geotiff(tmp_path / "ROIs1158_spring_s2_63_p100.tif", s2[0])
    assert main(["predict", str(s2_file), "--weights", str(folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "resnet50-custom" and result["classes"] == list(KEEP)
    assert main(["predict", "--s2", str(s2_file), "--model", "resnet50-s2", "--weights", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("resnet50-custom:")  # the model that runs, not the name given
    missing = ["map", "--s2", str(s2_file), "--weights", str(tmp_path / "nothing"), "-o", str(tmp_path / "no/m.tif")]
    assert main(missing) == 2  # the arguments are checked before any weights are read
    assert f"output folder {tmp_path / 'no'} does not exist" in capsys.readouterr().err
