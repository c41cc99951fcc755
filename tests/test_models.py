"""models: the two baselines exactly as DOMAIN.md describes them, for every modality."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import densenet121, resnet50

from sen12ms_models.bands import MODALITY_BANDS
from sen12ms_models.models.api import build_model, optimize_for_inference

CHANNELS = {"rgb": 3, "s2": 10, "s1s2": 12, "s1": 2, "s1rgb": 5}


def _torchvision_resnet50(in_chans: int) -> nn.Module:
    reference = resnet50(num_classes=10)
    reference.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
    return reference


def test_modalities_have_the_documented_channel_counts() -> None:
    assert {m: len(b) for m, b in MODALITY_BANDS.items()} == CHANNELS


@pytest.mark.parametrize("modality", list(CHANNELS))
def test_resnet50_keys_shapes_and_logits_match_torchvision(modality: str) -> None:
    in_chans = CHANNELS[modality]
    model = build_model("resnet50", in_chans).eval()
    reference = _torchvision_resnet50(in_chans).eval()
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    reference.load_state_dict(model.state_dict())
    x = torch.randn(2, in_chans, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
        assert model.forward_features(x).shape == (2, 2048)
    assert model.conv1.bias is None and model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)


@pytest.mark.parametrize("modality", list(CHANNELS))
def test_densenet121_flattens_norm5_into_linear_65536(modality: str) -> None:
    in_chans = CHANNELS[modality]
    model = build_model("densenet121", in_chans).eval()
    reference = densenet121(num_classes=10)
    reference.features.conv0 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
    expected_keys = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith("classifier")}
    expected_keys |= {"classifier.weight": torch.Size([10, 65536]), "classifier.bias": torch.Size([10])}
    assert {k: v.shape for k, v in model.state_dict().items()} == expected_keys
    if modality != "s1s2":
        return  # one full 256x256 forward pass is enough to check the head's arithmetic
    reference.features.load_state_dict(model.features.state_dict())
    reference.eval()
    x = torch.randn(1, in_chans, 256, 256)
    with torch.no_grad():
        fmap = reference.features(x)  # through norm5; the baseline has no ReLU and no pooling after it
        expected = torch.flatten(fmap, 1) @ model.classifier.weight.T + model.classifier.bias
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(model.forward_features(x), fmap.mean(dim=(-2, -1)))


def test_densenet121_other_input_sizes_get_a_clear_error_and_avg_head_frees_them() -> None:
    model = build_model("densenet121", 10).eval()
    with pytest.raises(ValueError, match=r"flattens the 8x8 map of a 256x256 patch, got input \(120, 120\)"):
        model(torch.randn(1, 10, 120, 120))
    assert model.forward_features(torch.randn(1, 10, 120, 120)).shape == (1, 1024)  # embeddings work at any size
    model.reset_classifier(19, global_pool="avg")
    assert model(torch.randn(2, 10, 120, 120)).shape == (2, 19)


@pytest.mark.parametrize("arch", ["resnet50", "densenet121"])
def test_wrong_channel_count_is_named(arch: str) -> None:
    model = build_model(arch, 12)
    with pytest.raises(ValueError, match=rf"{arch} expects a batch \(N, 12, H, W\), got shape \(1, 13, 256, 256\)"):
        model(torch.randn(1, 13, 256, 256))


@pytest.mark.parametrize("arch", ["resnet50", "densenet121"])
def test_reset_classifier_and_forward_head_compose_to_forward(arch: str) -> None:
    model = build_model(arch, 3).eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_feature_map(x)), model(x))
    model.reset_classifier(4)
    assert model.get_classifier().out_features == 4 and model(x).shape == (1, 4)


def test_kaiming_normal_init_on_conv_and_linear_weights() -> None:
    torch.manual_seed(0)
    model = build_model("resnet50", 12)
    # Kaiming normal (fan_in, gain sqrt(2)): std = sqrt(2 / fan_in)
    for weight in (model.layer3[0].conv2.weight, model.fc.weight):
        fan_in = weight[0].numel()
        assert abs(weight.std().item() / (2 / fan_in) ** 0.5 - 1) < 0.05


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="unknown arch 'vit'"):
        build_model("vit", 3)


@pytest.mark.parametrize(("arch", "size"), [("resnet50", 64), ("densenet121", 256)])
def test_optimize_for_inference_folds_batchnorm_and_keeps_outputs(arch: str, size: int) -> None:
    torch.manual_seed(0)
    model = build_model(arch, 5).eval()
    with torch.no_grad():  # trained-looking BN statistics, so the fold has something to do
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    fast = optimize_for_inference(model)
    folded = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) - sum(
        isinstance(m, nn.BatchNorm2d) for m in fast.modules()
    )
    assert folded == (53 if arch == "resnet50" else 1)
    x = torch.randn(2, 5, size, size)
    with torch.no_grad():
        reference = model(x)
        torch.testing.assert_close(fast(x), reference, rtol=1e-3, atol=1e-3 * reference.abs().max().item())
    assert not any(p.requires_grad for p in fast.parameters())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
