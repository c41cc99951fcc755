"""Native to the libraries our users know: torchvision's weights enums and builders, timm's Hub
loading of an exported ResNet50, torchgeo's SEN12MS samples as model input; each with the real library."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save

import sen12ms_models as sm
from sen12ms_models.bands import S2_BANDS, TORCHGEO_SEN12MS_BANDS
from sen12ms_models.datasets.sen12ms import Sen12msDataset
from sen12ms_models.datasets.tree import Sen12msIndex
from sen12ms_models.interop.torchgeo import FromTorchGeoSen12ms
from sen12ms_models.models.base import CONFIG_FILE, ModelSpec, config_json
from sen12ms_models.models.resnet import Sen12msResNet50
from sen12ms_models.synthetic import write_tree
from tests.support.published import COMMIT, publish, state_digest


def test_weights_enums_name_every_model_and_build_its_transform() -> None:
    values = [m.value for enum in (sm.ResNet50_Weights, sm.DenseNet121_Weights) for m in enum]  # aliases listed once
    assert sorted(values) == sm.list_models()
    assert sm.ResNet50_Weights.DEFAULT is sm.ResNet50_Weights.SEN12MS_S1S2_MULTI
    rgb = sm.DenseNet121_Weights.SEN12MS_RGB_SINGLE
    assert rgb.transforms().bands == ("B2", "B3", "B4") and rgb.meta["label_type"] == "single"


def test_builders_as_torchvision_spells_them(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch, "resnet50", "s1s2")
    model = sm.resnet50(weights=sm.ResNet50_Weights.DEFAULT)
    assert state_digest(model) == state_digest(published.model) and model.spec.name == "resnet50-s1s2-multi"
    assert state_digest(sm.resnet50(weights="SEN12MS_S1S2_MULTI")) == state_digest(published.model)  # a member name
    fresh = sm.densenet121(weights=None, in_chans=3, num_classes=4)
    assert (fresh.in_chans, fresh.num_classes) == (3, 4)
    assert (fresh.spec.weights, fresh.spec.bands, fresh.spec.label_type) == (None, None, None)  # no SEN12MS weights
    with pytest.raises(ValueError, match="not resnet50 weights"):
        sm.resnet50(weights=sm.DenseNet121_Weights.DEFAULT)


def test_weights_none_builds_what_load_model_builds_without_weights() -> None:
    for builder, arch in ((sm.resnet50, "resnet50"), (sm.densenet121, "densenet121")):
        model = builder(weights=None, device="cpu")  # load_model's arguments work
        assert model.spec == sm.load_model(arch, "s1s2", pretrained=False).spec and not model.training
        assert (model.spec.bands, model.spec.label_type) == (sm.get_weights(arch, "s1s2").bands, "multi")
    pooled = sm.densenet121(weights=None, global_pool="avg", num_classes=3)
    assert pooled.spec.global_pool == "avg" and pooled(torch.zeros(1, 12, 64, 64)).shape == (1, 3)


def test_an_exported_resnet50_loads_in_timm_from_the_hub(hub, tmp_path) -> None:
    timm = pytest.importorskip("timm")
    spec = sm.get_weights("resnet50-s2-single")
    torch.manual_seed(1)
    ours = sm.build_model("resnet50", spec.in_chans).eval()
    config = config_json(ModelSpec.of(spec), spec.filename)  # the config.json that export and convert write
    repo = "sen12ms-models/resnet50-s2-single"
    hub.add_file(repo, COMMIT, spec.filename, save(ours.state_dict()))
    hub.add_file(repo, COMMIT, CONFIG_FILE, json.dumps(config).encode())
    theirs = timm.create_model(f"hf-hub:{repo}@{COMMIT}", pretrained=True).eval()
    x = torch.randn(2, spec.in_chans, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
    assert theirs.pretrained_cfg["label_names"] == list(spec.classes)


def test_densenet121_says_it_has_no_timm_equivalent() -> None:
    densenet = config_json(ModelSpec.of(sm.get_weights("densenet121-s1s2-multi")), "densenet121-s1s2-multi.safetensors")
    assert "architecture" not in densenet and "pretrained_cfg" not in densenet
    assert densenet["sen12ms"]["name"] == "densenet121-s1s2-multi"
    resnet = config_json(ModelSpec.of(sm.get_weights("resnet50-s1s2-multi")), "resnet50-s1s2-multi.safetensors")
    assert resnet["architecture"] == "resnet50" and resnet["model_args"] == {"in_chans": 12}
    network = sm.build_model("resnet50", 12)
    assert resnet["num_features"] == Sen12msResNet50.num_features == network.get_classifier().in_features == 2048
    assert network.get_submodule(resnet["pretrained_cfg"]["first_conv"]) is network.first_conv()
    assert network.get_submodule(resnet["pretrained_cfg"]["classifier"]) is network.get_classifier()


@pytest.mark.parametrize("name", ["resnet50-s1s2-multi", "densenet121-rgb-single"])
def test_torchgeo_sen12ms_samples_become_the_same_input_and_label_as_ours(tmp_path, name) -> None:
    datasets = pytest.importorskip("torchgeo.datasets")
    patches = write_tree(tmp_path, patches_per_scene=1, size=32)
    names = [p.id.file_name("s2") for p in patches]
    for split in ("train", "test"):
        (tmp_path / f"{split}_list.txt").write_text("".join(f"{n}\n" for n in names))
    spec = sm.get_weights(name)
    theirs = datasets.SEN12MS(str(tmp_path), split="train", transforms=FromTorchGeoSen12ms(name))
    index = Sen12msIndex.scan(tmp_path)
    ours = Sen12msDataset(index, [p.id for p in patches], spec.modality, spec.label_type)
    for i in range(len(patches)):
        sample, item = theirs[i], ours[i]
        raw = {k: torch.as_tensor(item[k]) for k in ("s1", "s2") if k in item}
        torch.testing.assert_close(sample["image"], ours.transform(**raw))
        np.testing.assert_array_equal(sample["label"].numpy(), item["target"])


def test_torchgeo_band_subsets_are_picked_by_name() -> None:
    with pytest.raises(ValueError, match=r"reads bands \['VV', 'VH'\]"):
        FromTorchGeoSen12ms("resnet50-s1s2-multi", bands=TORCHGEO_SEN12MS_BANDS[2:])
    transform = FromTorchGeoSen12ms("resnet50-rgb-multi", bands=("B04", "B03", "B02"))
    image = torch.tensor([3000.0, 2000.0, 1000.0])[:, None, None].expand(3, 4, 4)  # B4, B3, B2
    x = transform({"image": image})["image"]
    expected = sm.get_weights("resnet50-rgb-multi").transforms()(s2=_s2_with({"B2": 1000, "B3": 2000, "B4": 3000}))
    torch.testing.assert_close(x, expected)


def _s2_with(values: dict[str, float]) -> np.ndarray:
    s2 = np.zeros((13, 4, 4), np.float32)
    for band, value in values.items():
        s2[S2_BANDS.index(band)] = value
    return s2
