"""`sen12ms-models convert`: checkpoints in the SEN12MS toolbox's exact format become verified weights
that give exactly the original network's logits, and anything else is refused with its name."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub.repocard import metadata_load
from safetensors import safe_open
from safetensors.torch import save as save_safetensors
from torch import nn

import sen12ms_models as sm
from sen12ms_models.bands import MODALITIES
from sen12ms_models.cli.main import main
from sen12ms_models.convert.card import LICENSE
from sen12ms_models.convert.checkpoint import convert_checkpoint, read_toolbox_checkpoint
from sen12ms_models.convert.toolbox import (
    TOOLBOX_ARCH_NAMES,
    build_toolbox_model,
    logits_difference,
    to_package_state_dict,
)
from sen12ms_models.models.base import SPEC_KEY
from sen12ms_models.weights import MANIFEST_ENV, read_manifest, sha256_hex, write_manifest_entry
from tests.support.hub_env import set_hub_offline


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    set_hub_offline(monkeypatch)


def toolbox_network(arch: str, in_chans: int, seed: int, num_classes: int = 10) -> nn.Module:
    """A toolbox wrapper with random weights AND random BatchNorm statistics and biases, so that
    a BatchNorm or bias mapped to the wrong place changes the logits."""
    torch.manual_seed(seed)
    model = build_toolbox_model(arch, in_chans, num_classes)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, nn.Linear):
                module.bias.normal_(0, 0.1)
    return model.eval()


def toolbox_checkpoint(network: nn.Module, arch: str, /, **changes: object) -> dict[str, object]:
    """The dict the toolbox's training script saves; ``best_prec`` is sklearn's numpy float."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, weight_decay=1e-5)
    checkpoint = {
        "epoch": 41,
        "arch": TOOLBOX_ARCH_NAMES[arch],
        "model_state_dict": network.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "best_prec": np.float64(0.7142),
    }
    return {**checkpoint, **changes}


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def sample_input(arch: str, in_chans: int) -> torch.Tensor:
    size = 256 if arch == "densenet121" else 32
    return torch.randn(1, in_chans, size, size, generator=torch.Generator().manual_seed(7))


def assert_same_logits(model: nn.Module, reference: nn.Module, arch: str) -> None:
    """Bit-identical logits: the loaded model back in the reference's (contiguous) memory format."""
    x = sample_input(arch, model.in_chans)
    with torch.no_grad():
        assert torch.equal(model.to(memory_format=torch.contiguous_format)(x), reference(x))


ARCHS = ("resnet50", "densenet121")


class Released(dict):
    """Toolbox checkpoints written on first use, one per (arch, modality): label types share one."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, key: tuple[str, str]) -> tuple[Path, nn.Module]:
        arch, modality = key
        seed = 10 * ARCHS.index(arch) + MODALITIES.index(modality)
        network = toolbox_network(arch, sm.get_weights(arch, modality).in_chans, seed)
        path = save(toolbox_checkpoint(network, arch), self.folder / f"{arch}_{modality}_model_best.pth")
        self[key] = (path, network)
        return self[key]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    return Released(tmp_path_factory.mktemp("released"))


#: Every ResNet50 modality; DenseNet121 (a 30 MB file, a 256x256 proof each) for the smallest and
#: largest stem; the label type changes nothing in the conversion, so each is tried once per arch.
CASES = [
    *(("resnet50", modality, "multi") for modality in MODALITIES),
    ("resnet50", "s2", "single"),
    ("densenet121", "rgb", "multi"),
    ("densenet121", "s1s2", "multi"),
    ("densenet121", "s1", "single"),
]
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("arch", "modality", "label_type"), CASES)
def test_converted_checkpoint_gives_the_original_logits(released, tmp_path, capsys, arch, modality, label_type):
    checkpoint, network = released[arch, modality]
    out = tmp_path / "out"
    args = ["convert", str(checkpoint), "--arch", arch, "--modality", modality, "--label-type", label_type]
    assert main([*args, "-o", str(out)]) == 0
    assert "max |logit difference| = 0 " in capsys.readouterr().out

    spec = sm.get_weights(arch, modality, label_type)
    weights = out / spec.filename
    entry = read_manifest(out / "weights_manifest.json")[spec.value]
    data = weights.read_bytes()
    assert (entry.sha256, entry.size) == (sha256_hex(data), len(data))
    assert entry.source == "original-release-converted" and entry.revision is None
    assert entry.license == LICENSE and "no commercial use" in entry.license
    assert entry.metrics is None  # measured metrics are evaluate's; the paper's Table 4 is not this file's
    config = json.loads((out / "config.json").read_text())  # timm's fields only for ResNet50 (DenseNet: flatten head)
    assert config["sen12ms"]["name"] == spec.value and ("architecture" in config) == (arch == "resnet50")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "weights_manifest.json", spec.filename, "config.json"]
    )

    with warnings.catch_warnings():
        warnings.simplefilter("error", sm.UnverifiedWeightsWarning)  # registered by default: verified
        model = sm.load_model(arch, modality, label_type, weights=weights)
    assert_same_logits(model, network, arch)


def typed_toolbox_state(arch: str) -> dict[str, tuple[int, ...]]:
    """The toolbox checkpoint's key names and shapes (s1s2: 12 channels, 10 classes), typed as data in
    tests/data from the documented wrapper layout (torchvision's layers renamed), not from our code."""
    lines = (DATA / f"toolbox_{arch}_s1s2_keys.txt").read_text().splitlines()
    return {name: tuple(int(n) for n in shape.split(",") if n) for name, _, shape in (x.partition(" ") for x in lines)}


@pytest.mark.parametrize(("arch", "count"), [("resnet50", 321), ("densenet121", 727)])
def test_the_toolbox_format_as_documented_converts_key_for_key(arch, count) -> None:
    typed = typed_toolbox_state(arch)
    assert len(typed) == count
    if arch == "resnet50":
        assert {"conv1.weight", "encoder.0.weight"} <= set(typed)
    # the re-statement of the wrapper used for the logit proof has exactly these keys and shapes
    assert {k: tuple(v.shape) for k, v in build_toolbox_model(arch, 12).state_dict().items()} == typed
    # a checkpoint built from the typed data alone converts, and every value lands in the model
    generator = torch.Generator().manual_seed(3)
    state = {
        k: torch.randint(0, 9, s, dtype=torch.long)
        if k.endswith("num_batches_tracked")
        else torch.randn(s, generator=generator)
        for k, s in typed.items()
    }
    if arch == "resnet50":
        state["conv1.weight"] = state["encoder.0.weight"]
    converted = to_package_state_dict(state, arch, 12, 10, "typed.pth")
    model = sm.build_model(arch, 12)
    model.load_state_dict(converted, strict=True)
    unique = [v for k, v in state.items() if k != "conv1.weight"]
    assert len(converted) == len(unique)
    assert sorted(float(v.double().sum()) for v in converted.values()) == sorted(
        float(v.double().sum()) for v in unique
    )


@pytest.mark.parametrize("container", ["model_state_dict", "state_dict", "bare"])
def test_state_dict_key_or_bare_state_dict(released, tmp_path, container) -> None:
    _, network = released["densenet121", "rgb"]
    state = network.state_dict()
    path = save(state if container == "bare" else {container: state, "epoch": 3}, tmp_path / "c.pth")
    conversion = convert_checkpoint(path, "densenet121", "rgb", output_dir=tmp_path / "out", register=False)
    assert conversion.max_abs_diff == 0.0 and conversion.registered is None
    assert conversion.checkpoint.epoch == (None if container == "bare" else 3)


def test_register_then_load_without_a_path(released, tmp_path, monkeypatch) -> None:
    registry = tmp_path / "registry_home"
    monkeypatch.setenv("SEN12MS_MODELS_HOME", str(registry))
    checkpoint, network = released["resnet50", "s1s2"]
    with pytest.raises(sm.WeightsNotPublishedError, match="sen12ms-models convert"):
        sm.load_model("resnet50", "s1s2")
    assert (
        main(["convert", str(checkpoint), "--arch", "resnet50", "--modality", "s1s2", "-o", str(tmp_path / "o")]) == 0
    )
    assert (registry / "resnet50-s1s2-multi.safetensors").is_file()
    assert_same_logits(sm.load_model("resnet50", "s1s2"), network, "resnet50")


def test_no_register_leaves_the_registry_alone(released, tmp_path) -> None:
    checkpoint, network = released["densenet121", "s1"]
    out = tmp_path / "o"
    args = ["convert", str(checkpoint), "--arch", "densenet121", "--modality", "s1", "--no-register", "-o", str(out)]
    assert main(args) == 0
    with pytest.raises(sm.WeightsNotPublishedError):
        sm.load_model("densenet121", "s1")
    with warnings.catch_warnings():  # the manifest convert wrote beside the file vouches for it
        warnings.simplefilter("error", sm.UnverifiedWeightsWarning)
        model = sm.load_model("densenet121", "s1", weights=out / "densenet121-s1-multi.safetensors")
    assert model.spec.weights == "densenet121-s1-multi"
    assert_same_logits(model, network, "densenet121")
    (out / "densenet121-s1-multi.safetensors").write_bytes(b"\0" * 16)  # tampered: the entry beside it refuses it
    with pytest.raises(sm.WeightsIntegrityError, match=r"does not match|bytes, but the manifest"):
        sm.load_model("densenet121", "s1", weights=out / "densenet121-s1-multi.safetensors")


def test_model_card_is_a_hub_card_with_licence_and_citations(released, tmp_path) -> None:
    checkpoint, _ = released["resnet50", "s2"]
    conversion = convert_checkpoint(checkpoint, "resnet50", "s2", output_dir=tmp_path, register=False)
    meta = metadata_load(conversion.card)
    assert meta["license"] == "other" and meta["license_name"] == "sen12ms-toolbox"
    assert "sentinel-2" in meta["tags"] and "sentinel-1" not in meta["tags"] and meta["datasets"] == ["sen12ms"]
    card = conversion.card.read_text()
    assert "not allow to use the software, parts or copies of it in a commercial context" in card
    assert "V-2-2021" in card and "101--106" in card and "IV-2/W7" in card
    assert conversion.checkpoint.sha256 in card and str(conversion.weights_entry.sha256) in card
    assert "| **Overall F1** (micro) | 69.9 |" in card  # Table 4, R50 MS, said to be the paper's, not this file's
    assert "## Reported by the paper" in card and "not measured on" in card and "Test metrics" not in card
    assert "validation micro F1 0.7142" in card


def test_released_files_written_with_numpy_1_load(released, tmp_path) -> None:
    """The released files' ``best_prec`` pickles as ``numpy.core.multiarray.scalar`` (numpy 1)."""
    _, network = released["densenet121", "rgb"]
    buffer = io.BytesIO()
    torch.save(toolbox_checkpoint(network, "densenet121"), buffer, _use_new_zipfile_serialization=False)
    numpy2 = b"numpy._core.multiarray\nscalar"
    assert numpy2 in buffer.getvalue()
    path = tmp_path / "old.pth"
    path.write_bytes(buffer.getvalue().replace(numpy2, b"numpy.core.multiarray\nscalar"))
    conversion = convert_checkpoint(path, "densenet121", "rgb", output_dir=tmp_path / "o", register=False)
    assert conversion.checkpoint.best_prec == 0.7142 and conversion.max_abs_diff == 0.0


class Canary:
    """Unpickling this would run ``Path.touch``: what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return Path.touch, (str(self.path),)


def test_code_in_a_pickle_is_refused_and_never_run(released, tmp_path) -> None:
    _, network = released["densenet121", "rgb"]
    touched = tmp_path / "code-ran"
    path = save(toolbox_checkpoint(network, "densenet121", best_prec=Canary(touched)), tmp_path / "evil.pth")
    with pytest.raises(
        sm.WeightsIntegrityError,
        match=r"evil\.pth: refused: .*\(weights_only=True\) allows \(Unsupported global: .+\)\. It is not unpickled",
    ):
        convert_checkpoint(path, "densenet121", "rgb", output_dir=tmp_path / "o")
    assert not touched.exists() and not (tmp_path / "o").exists()


def test_a_whole_saved_module_is_refused_with_the_class_named(tmp_path, capsys) -> None:
    path = save(build_toolbox_model("densenet121", 3), tmp_path / "whole.pth")
    assert main(["convert", str(path), "--arch", "densenet121", "--modality", "rgb", "-o", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert "whole.pth: refused" in error and "ToolboxDenseNet121" in error and "model.state_dict()" in error


@pytest.mark.parametrize(
    ("arch", "change", "message"),
    [
        ("resnet50", lambda s: s.pop("encoder.1.running_var"), r"missing \[encoder\.1\.running_var \(-> bn1\."),
        ("resnet50", lambda s: s.pop("conv1.weight"), r"missing \[conv1\.weight\]"),
        ("resnet50", lambda s: s.update({"encoder.6.6.conv1.weight": torch.zeros(1)}), r"left over \[encoder\.6\.6\."),
        ("resnet50", lambda s: s.update({"encoder.8.weight": torch.zeros(1)}), r"left over \[encoder\.8\.weight\]"),
        ("densenet121", lambda s: s.pop("classifier.bias"), r"missing \[classifier\.bias \(-> classifier\.bias\)\]"),
        ("densenet121", lambda s: s.update({"encoder.12.weight": torch.zeros(1)}), r"left over \[encoder\.12\.weight"),
        ("densenet121", lambda s: s.update({"encoder.11.bias": torch.zeros(3)}), r"encoder\.11\.bias: \(3,\)"),
        ("densenet121", lambda s: s.update({"encoder.1.weight": s["encoder.1.weight"].double()}), r"float64"),
    ],
)
def test_a_missing_extra_or_misshapen_key_is_refused_by_name(tmp_path, arch, change, message) -> None:
    network = toolbox_network(arch, 3, seed=1)
    state = network.state_dict()
    change(state)
    path = save(toolbox_checkpoint(network, arch, model_state_dict=state), tmp_path / "edited.pth")
    with pytest.raises(sm.WeightsIntegrityError, match=rf"edited\.pth is not exactly a toolbox .*{message}"):
        convert_checkpoint(path, arch, "rgb", output_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_conv1_copy_that_differs_from_encoder_0_is_refused(tmp_path) -> None:
    state = toolbox_network("resnet50", 3, seed=2).state_dict()
    state["conv1.weight"] = state["conv1.weight"].clone()
    state["conv1.weight"][0, 0, 0, 0] += 1e-3
    path = save({"model_state_dict": state}, tmp_path / "r.pth")
    with pytest.raises(sm.WeightsIntegrityError, match=r"r\.pth: conv1\.weight and encoder\.0\.weight differ"):
        convert_checkpoint(path, "resnet50", "rgb", output_dir=tmp_path / "o")


@pytest.mark.parametrize(
    ("arch", "in_chans", "num_classes", "flags", "message"),
    [
        (
            "resnet50",
            10,
            10,
            ("resnet50", "s1s2"),
            r"c\.pth has a 10-channel first convolution \(encoder\.0\.weight \(64, 10, 7, 7\)\), but "
            r"resnet50-s1s2-multi reads 12 channels \(B2, .*, VV, VH\); a 10-channel checkpoint is resnet50-s2-multi",
        ),
        (
            "densenet121",
            3,
            10,
            ("resnet50", "rgb"),
            r"holds a toolbox densenet121 .*\(10, 65536\).* resnet50-rgb-multi \(a resnet50\) was named",
        ),
        ("resnet50", 3, 10, ("densenet121", "rgb"), r"holds a toolbox resnet50 \(FC\.weight \(10, 2048\)\)"),
        ("resnet50", 12, 17, ("resnet50", "s1s2"), r"predicts 17 classes .* 10-class simplified IGBP"),
    ],
)
def test_a_checkpoint_that_contradicts_the_flags_is_refused(tmp_path, arch, in_chans, num_classes, flags, message):
    network = toolbox_network(arch, in_chans, seed=3, num_classes=num_classes)
    path = save(toolbox_checkpoint(network, arch), tmp_path / "c.pth")
    with pytest.raises(sm.WeightsIntegrityError, match=message):
        convert_checkpoint(path, *flags, output_dir=tmp_path / "o")


def test_other_toolbox_architectures_and_non_checkpoints_are_refused(tmp_path, capsys) -> None:
    network = toolbox_network("resnet50", 3, seed=4)
    path = save(toolbox_checkpoint(network, "resnet50", arch="ResNet101"), tmp_path / "a.pth")
    with pytest.raises(sm.WeightsIntegrityError, match=r"arch entry says 'ResNet101'"):
        convert_checkpoint(path, "resnet50", "rgb", output_dir=tmp_path / "o")
    lower = save(toolbox_checkpoint(network, "resnet50", arch="resnet50"), tmp_path / "l.pth")  # any case
    assert convert_checkpoint(lower, "resnet50", "rgb", output_dir=tmp_path / "lower", register=False).max_abs_diff == 0
    vgg = save({"arch": "VGG16", "model_state_dict": {"encoder.0.weight": torch.zeros(64, 3, 3, 3)}}, tmp_path / "v")
    with pytest.raises(sm.WeightsIntegrityError, match=r"not a SEN12MS toolbox .* says 'VGG16'"):
        convert_checkpoint(vgg, "resnet50", "rgb", output_dir=tmp_path / "o")
    odd = save({"model_state_dict": {"encoder.0.weight": torch.zeros(1), "note": "x"}}, tmp_path / "odd.pth")
    with pytest.raises(
        sm.WeightsIntegrityError,
        match=r"odd\.pth: its 'model_state_dict' entry is no state dict \(non-tensor entries \[note\]\)",
    ):
        convert_checkpoint(odd, "resnet50", "rgb", output_dir=tmp_path / "o")
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    assert main(["convert", str(text), "--arch", "resnet50", "--modality", "rgb", "-o", str(tmp_path / "o")]) == 2
    assert (
        "notes.pth: not a PyTorch checkpoint (neither torch.save's zip archive nor a pickle" in capsys.readouterr().err
    )
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"PK\x03\x04" + bytes(range(101)))  # starts like a zip archive, is none
    assert main(["convert", str(junk), "--arch", "resnet50", "--modality", "rgb", "-o", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert "junk.pth: a damaged PyTorch checkpoint (" in error and "()" not in error
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(save_safetensors({"w": torch.zeros(1)}))
    assert main(["convert", str(weights), "--arch", "resnet50", "--modality", "rgb", "-o", str(tmp_path / "o")]) == 2
    assert "already a safetensors file, nothing to convert; load it with" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "nothing.pth"), "--arch", "resnet50", "--modality", "rgb", "-o", "o"]) == 2
    assert "nothing.pth does not exist" in capsys.readouterr().err


def test_a_safetensors_file_is_told_apart_from_a_pickle_as_load_model_does(tmp_path) -> None:
    """Byte 0 of a safetensors file is its header length's low byte, which may be 0x80, the pickle opcode."""
    data = next(
        data
        for n in range(256)
        if (data := save_safetensors({"w": torch.zeros(2)}, metadata={"p": "x" * n}))[:1] == b"\x80"
    )
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with pytest.raises(sm.WeightsIntegrityError, match="already a safetensors file, nothing to convert"):
        read_toolbox_checkpoint(path)


def test_a_manifest_without_the_model_is_named_and_nothing_is_written(released, tmp_path, monkeypatch, capsys):
    checkpoint, _ = released["resnet50", "s2"]
    manifest = tmp_path / "mine.json"
    write_manifest_entry(read_manifest()["resnet50-s1s2-multi"], manifest)  # a valid manifest of one model
    monkeypatch.setenv(MANIFEST_ENV, str(manifest))
    out = tmp_path / "o"
    assert main(["convert", str(checkpoint), "--arch", "resnet50", "--modality", "s2", "-o", str(out)]) == 2
    assert f"weights manifest {manifest} has no entry for resnet50-s2-multi" in capsys.readouterr().err
    assert not out.exists()


def test_one_model_per_output_folder(released, tmp_path) -> None:
    checkpoint, _ = released["densenet121", "rgb"]
    first = convert_checkpoint(checkpoint, "densenet121", "rgb", "multi", tmp_path, register=False)
    again = convert_checkpoint(checkpoint, "densenet121", "rgb", "multi", tmp_path, register=False)
    assert again.weights_entry.sha256 == first.weights_entry.sha256  # deterministic: the same release, the same bytes
    with safe_open(first.weights, "pt") as converted:
        header = json.loads(converted.metadata()[SPEC_KEY])
    assert (
        header["original_sha256"] == sha256_hex(checkpoint.read_bytes()) and header["name"] == "densenet121-rgb-multi"
    )
    with pytest.raises(ValueError, match=r"already holds densenet121-rgb-multi; use one folder per model"):
        convert_checkpoint(checkpoint, "densenet121", "rgb", "single", tmp_path, register=False)
    assert json.loads((tmp_path / "weights_manifest.json").read_text())["models"].keys() == {"densenet121-rgb-multi"}


def test_the_proof_detects_a_wrong_mapping(released) -> None:
    """Swapping two same-shaped BatchNorm weights is a mapping error the logits must reveal."""
    checkpoint, _ = released["resnet50", "rgb"]
    read = read_toolbox_checkpoint(checkpoint)
    converted = to_package_state_dict(read.state, read.arch, read.in_chans, read.num_classes, read.path)
    assert logits_difference(read.state, converted, "resnet50") == 0.0
    swapped = dict(converted)
    swapped["layer1.0.bn1.weight"] = converted["layer1.0.bn2.weight"]
    swapped["layer1.0.bn2.weight"] = converted["layer1.0.bn1.weight"]
    assert logits_difference(read.state, swapped, "resnet50") > 1e-3
