"""The sen12ms-models command line: list, info, download and predict, run in-process and as a script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from tests.support.published import publish


def test_list_and_info(capsys) -> None:
    assert main(["list"]) == 0
    table = capsys.readouterr().out
    assert "resnet50-s1s2-multi" in table and "71.4" in table  # the paper's Overall F1 for R50 S1+S2
    assert main(["list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 20 and {e["arch"] for e in entries} == {"resnet50", "densenet121"}
    assert main(["info", "densenet121-s2-single"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["in_chans"] == 10 and info["published"] is False
    assert main(["list", "--published"]) == 0  # none yet: said, with how to get some
    assert "(none: no weights are published" in capsys.readouterr().out


def test_download_verifies(hub, tmp_path, monkeypatch, capsys) -> None:
    publish(hub, tmp_path, monkeypatch, "densenet121", "rgb")
    assert main(["download", "densenet121-rgb-multi", "--cache-dir", str(tmp_path / "c")]) == 0
    assert "sha256 verified" in capsys.readouterr().out
    assert main(["list", "--published"]) == 0
    assert "densenet121-rgb-multi" in capsys.readouterr().out


def test_predict_files_and_folders_with_local_weights(sen12ms_tree, tmp_path, capsys) -> None:
    root, written = sen12ms_tree
    torch.manual_seed(0)
    weights = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 12).state_dict(), weights)
    s2 = root / written[0].id.relative_path("s2")
    lc = root / written[1].id.relative_path("lc")  # any file of a triplet will do
    args = ["predict", str(s2), str(lc), "--arch", "resnet50", "--modality", "s1s2", "--weights", str(weights)]
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "resnet50-s1s2-multi" and len(result["patches"]) == 2
    assert result["patches"][0]["source"] == str(s2)
    folder = root / written[0].id.season
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert (
            main(["predict", str(folder), "--arch", "resnet50", "--modality", "s1s2", "--weights", str(weights)]) == 0
        )
    text = capsys.readouterr().out
    assert text.startswith("resnet50-s1s2-multi:\nPrediction(")


def test_predict_without_published_weights_explains_and_exits_2(sen12ms_tree, capsys) -> None:
    root, written = sen12ms_tree
    s2 = root / written[0].id.relative_path("s2")
    assert main(["predict", str(s2), "--arch", "resnet50", "--modality", "s1s2"]) == 2
    error = capsys.readouterr().err
    assert "no weights are published yet for resnet50-s1s2-multi" in error and "sen12ms-models convert" in error


def test_not_a_sen12ms_file(tmp_path, capsys) -> None:
    other = tmp_path / "scene.tif"
    other.write_bytes(b"")
    assert main(["predict", str(other), "--arch", "resnet50", "--modality", "rgb"]) == 2
    assert "is not a SEN12MS file name" in capsys.readouterr().err


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sen12ms_models", "--help"], capture_output=True, text=True, check=True
    )
    assert "predict" in result.stdout and "download" in result.stdout and "reproduce" in result.stdout


def test_a_folder_prints_every_result(sen12ms_tree, tmp_path, capsys) -> None:
    root, written = sen12ms_tree
    torch.manual_seed(0)
    weights = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 3).state_dict(), weights)
    with pytest.warns(sm.UnverifiedWeightsWarning):
        assert main(["predict", str(root), "--model", "resnet50-rgb", "--weights", str(weights)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(written) > 10 and sum(line.startswith("  ROIs") for line in lines) == len(written)
    assert not any("more" in line for line in lines)


@pytest.mark.parametrize(("device", "message"), [("gpu", "unknown device 'gpu'"), ("cuda", "CUDA is not available")])
def test_a_device_the_machine_lacks_is_one_line(sen12ms_tree, tmp_path, capsys, device, message) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    root, written = sen12ms_tree
    weights = tmp_path / "mine.safetensors"
    save_file(sm.build_model("resnet50", 3).state_dict(), weights)
    s2 = str(root / written[0].id.relative_path("s2"))
    for command in (["predict", s2], ["map", "--s2", s2, "-o", str(tmp_path / "m.tif")]):
        with pytest.warns(sm.UnverifiedWeightsWarning):
            assert main([*command, "--model", "resnet50-rgb", "--weights", str(weights), "--device", device]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1


def test_a_reader_that_goes_away_ends_the_output_quietly() -> None:
    shell = f"{sys.executable} -m sen12ms_models list --json | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
    assert result.stderr == "" and result.stdout.strip() == "0"


def test_no_weights_is_said_before_torch_is_loaded_and_names_the_cli_option(tmp_path) -> None:
    probe = (
        "import sys; from sen12ms_models.cli.main import main\n"
        "code = main(['predict', 'ROIs1158_spring_s2_63_p100.tif', '--model', 'resnet50-s1s2'])\n"
        "print(code, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert result.stdout.split() == ["2", "False"]
    assert "--weights DIR/FILE.safetensors" in result.stderr


def test_convert_and_export_of_a_folder_that_is_no_run_say_what_they_read(tmp_path, capsys) -> None:
    assert main(["convert", str(tmp_path), "--model", "resnet50-s2", "-o", str(tmp_path / "o")]) == 2
    assert "is a folder: convert reads a SEN12MS toolbox checkpoint file" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--output-dir", str(tmp_path / "o")]) == 2
    assert "holds run.json, metrics.jsonl" in capsys.readouterr().err
