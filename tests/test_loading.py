"""load_model end to end over real HTTP: download, cache, offline, verification, local files, heads."""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save, save_file

import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.models.api import resolve_device
from sen12ms_models.weights import ManifestEntry, read_registry, register_weights
from tests.support.hub_env import set_hub_offline, skip_hub_backoff
from tests.support.hub_server import HubServer
from tests.support.published import publish, state_digest


def _gets(hub: HubServer) -> int:
    return sum(method == "GET" for method, _ in hub.requests)


def test_first_download_then_cached_with_no_request(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    model = sm.load_model("resnet50", "s1s2")
    assert state_digest(model) == state_digest(published.model)
    assert not model.training and model.spec == sm.ModelSpec.of(published.weights)
    assert _gets(hub) == 1
    hub.clear_requests()
    again = sm.load_model("resnet50", "s1s2")
    assert state_digest(again) == state_digest(published.model)
    assert hub.requests == []  # a pinned commit in the cache needs no request at all


def test_offline_mode_uses_the_cache_and_fails_clearly_without_it(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    sm.load_model("resnet50", "s1s2")
    set_hub_offline(monkeypatch)
    hub.clear_requests()
    assert state_digest(sm.load_model("resnet50", "s1s2")) == state_digest(published.model)
    assert hub.requests == []
    with pytest.raises(sm.WeightsDownloadError, match=r"HF_HUB_OFFLINE is set"):
        sm.load_model("resnet50", "s1s2", cache_dir=tmp_path / "empty-cache")


def test_cache_dir_is_honoured(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    sm.load_model("resnet50", "s1s2", cache_dir=tmp_path / "my-cache")
    assert list((tmp_path / "my-cache").rglob(published.weights.filename))


def test_wrong_sha256_is_refused_and_nothing_is_deleted(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    entry, tampered = published.entry, bytearray(published.data)
    tampered[-100] ^= 0xFF  # same size, one tensor value changed: still a valid safetensors file
    hub.add_file(
        entry.repo_id, entry.revision, published.weights.filename, bytes(tampered)
    )  # the manifest pins the original
    with pytest.raises(
        sm.WeightsIntegrityError, match=r"sha256 [0-9a-f]{64} \(\d+ bytes\) does not match the manifest's"
    ) as info:
        sm.load_model("resnet50", "s1s2")
    assert "NOT loaded" in str(info.value) and "force_download=True" in str(info.value)
    cached = Path(str(info.value).split(":")[0])
    assert cached.read_bytes() == bytes(tampered)  # the user's file is left for inspection


def test_truncated_file_is_refused(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    entry, original = published.entry, published.data
    hub.add_file(entry.repo_id, entry.revision, published.weights.filename, original[: len(original) // 2])
    sizes = rf"\({len(original) // 2} bytes\) does not match the manifest's [0-9a-f]{{64}} \({len(original)} bytes\)"
    with pytest.raises(sm.WeightsIntegrityError, match=sizes + " for resnet50-s1s2-multi"):
        sm.load_model("resnet50", "s1s2")


def test_a_corrupted_transfer_is_refused_then_fixed_by_force_download(hub, tmp_path, monkeypatch) -> None:
    """The library checks sizes only: bytes corrupted in transit reach the cache, and we catch them."""
    published = publish(hub, tmp_path, monkeypatch)
    hub.fault, hub.fault_times = "wrong_bytes", 1
    with pytest.raises(sm.WeightsIntegrityError, match="does not match the manifest"):
        sm.load_model("resnet50", "s1s2")
    with pytest.raises(sm.WeightsIntegrityError):  # the bad file stays cached, and stays refused
        sm.load_model("resnet50", "s1s2")
    assert state_digest(sm.load_model("resnet50", "s1s2", force_download=True)) == state_digest(published.model)


def test_force_download_replaces_a_corrupted_file_in_a_cache_without_symlinks(hub, tmp_path, monkeypatch) -> None:
    """Such a cache (Windows, some network file systems) keeps a copy in snapshots/, which
    huggingface_hub does not replace on force_download: the advised remedy must still work."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_SYMLINKS", True)
    published = publish(hub, tmp_path, monkeypatch)
    hub.fault, hub.fault_times = "wrong_bytes", 1
    with pytest.raises(sm.WeightsIntegrityError, match="does not match the manifest") as info:
        sm.load_model("resnet50", "s1s2")
    cached = Path(str(info.value).split(":")[0])
    assert not cached.is_symlink()  # a plain copy, as the cache keeps without symlinks
    assert state_digest(sm.load_model("resnet50", "s1s2", force_download=True)) == state_digest(published.model)
    assert state_digest(sm.load_model("resnet50", "s1s2")) == state_digest(published.model)


def test_a_damaged_cached_file_is_replaced_by_the_remedy_the_error_names(hub, tmp_path, monkeypatch, capsys) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    name = published.weights.value
    hub.fault, hub.fault_times = "wrong_bytes", 1
    assert main(["download", name]) == 2
    assert f"(CLI: `sen12ms-models download {name} --force`)" in capsys.readouterr().err
    assert main(["download", name]) == 2  # without --force the cached file is kept, and still refused
    capsys.readouterr()
    assert main(["download", name, "--force"]) == 0
    assert "sha256 verified" in capsys.readouterr().out
    assert state_digest(sm.load_model(name)) == state_digest(published.model)


def test_a_damaged_or_missing_registered_file_names_the_way_to_write_it_anew(tmp_path, capsys) -> None:
    """A registered file was written on this machine (convert, export --register): nothing can fetch it again."""
    torch.manual_seed(5)
    path = tmp_path / "converted.safetensors"
    save_file(sm.build_model("densenet121", 3).state_dict(), path)
    entry = ManifestEntry("densenet121-rgb-multi", "me/d", "original-release-converted", "x")
    registered = register_weights(entry, path.read_bytes())
    registered.write_bytes(path.read_bytes()[:-4] + b"\0" * 4)
    for force in (False, True):  # force_download fetches Hub files only
        with pytest.raises(sm.WeightsIntegrityError, match=r"write it anew with `sen12ms-models convert ") as info:
            sm.load_model("densenet121-rgb-multi", force_download=force)
        assert "force_download" not in str(info.value) and "export RUN --output-dir DIR --register" in str(info.value)
    registered.unlink()
    missing = rf"{re.escape(str(registered))} is registered for densenet121-rgb-multi in .* does not exist; write it"
    with pytest.raises(FileNotFoundError, match=missing):
        sm.load_model("densenet121-rgb-multi")
    assert main(["download", "densenet121-rgb-multi", "--force"]) == 2
    assert re.search(missing, capsys.readouterr().err)


def test_server_down_gives_a_clear_error(hub, tmp_path, monkeypatch) -> None:
    publish(hub, tmp_path, monkeypatch)
    hub.stop()
    skip_hub_backoff(monkeypatch)  # the message is under test, not huggingface_hub's retry schedule
    with pytest.raises(
        sm.WeightsDownloadError, match=r"could not fetch resnet50-s1s2-multi.safetensors .* not in the cache"
    ):
        sm.load_model("resnet50", "s1s2")


def test_missing_file_on_the_hub(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    hub.remove_file(published.entry.repo_id, published.entry.revision, published.weights.filename)
    with pytest.raises(sm.WeightsDownloadError, match=r"EntryNotFound"):
        sm.load_model("resnet50", "s1s2")


def test_unpublished_entry_says_how_to_obtain_weights(hub) -> None:
    with pytest.raises(
        sm.WeightsNotPublishedError, match=r"no weights are published yet for densenet121-s2-single"
    ) as info:
        sm.load_model("densenet121", "s2", "single")
    message = str(info.value)
    assert "sen12ms-models convert" in message and "sen12ms-models train" in message and "pretrained=False" in message
    assert hub.requests == []


def test_local_weights_path_verified_when_the_manifest_knows_it(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    local = tmp_path / published.weights.filename
    local.write_bytes(published.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert state_digest(sm.load_model("resnet50", "s1s2", weights=local)) == state_digest(published.model)
    local.write_bytes(published.data[:-8] + b"\0" * 8)
    with pytest.raises(sm.WeightsIntegrityError, match=rf"{local.name}: sha256"):
        sm.load_model("resnet50", "s1s2", weights=local)
    assert hub.requests == []


def test_unknown_local_weights_load_with_a_warning(tmp_path) -> None:
    torch.manual_seed(3)
    source = sm.build_model("resnet50", 12)
    path = tmp_path / "mine.safetensors"
    save_file(source.state_dict(), path)
    with pytest.warns(
        sm.UnverifiedWeightsWarning, match=r"is recorded for .* by no weights manifest .*without a hash check"
    ):
        model = sm.load_model("resnet50", "s1s2", weights=path)
    assert state_digest(model) == state_digest(source)


def test_pickles_are_refused(tmp_path) -> None:
    checkpoint = tmp_path / "model_best.pth"
    torch.save({"model_state_dict": sm.build_model("resnet50", 12).state_dict()}, checkpoint)
    renamed = tmp_path / "sneaky.safetensors"
    renamed.write_bytes(checkpoint.read_bytes())
    for path in (checkpoint, renamed):
        with pytest.raises(sm.WeightsIntegrityError, match="nothing else is unpickled"):
            sm.load_model("resnet50", "s1s2", weights=path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("fc.bias"), r"missing tensors \[fc.bias\]"),
        (lambda s: s.update(extra=torch.zeros(1)), r"unexpected tensors \[extra\]"),
        (lambda s: s.update({"fc.weight": torch.zeros(10, 1024)}), r"fc.weight: file \(10, 1024\)"),
        (lambda s: s.update({"fc.bias": torch.zeros(10, dtype=torch.float64)}), r"fc.bias: .*torch.float64"),
    ],
)
def test_tensors_that_do_not_fit_the_arch_are_named(tmp_path, change, message) -> None:
    state = sm.build_model("resnet50", 12).state_dict()
    change(state)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(save(state))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.UnverifiedWeightsWarning)
        with pytest.raises(sm.WeightsIntegrityError, match=message):
            sm.load_model("resnet50", "s1s2", weights=path)


def test_registry_finds_a_registered_file_without_a_path(tmp_path) -> None:
    torch.manual_seed(5)
    source = sm.build_model("densenet121", 3)
    path = tmp_path / "converted.safetensors"
    save_file(source.state_dict(), path)
    base = sm.get_weights("densenet121", "rgb").entry
    assert base is not None
    register_weights(dataclasses.replace(base, source="original-release-converted"), path.read_bytes())
    entry = read_registry()["densenet121-rgb-multi"]
    assert entry.sha256 and entry.revision is None
    assert state_digest(sm.load_model("densenet121", "rgb")) == state_digest(source)


def test_num_classes_keeps_the_backbone_and_gives_a_fresh_head(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    model = sm.load_model("resnet50", "s1s2", num_classes=6)
    assert model.fc.out_features == 6 and model.num_classes == 6
    expected = published.model.state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(value, expected[key]), key
    assert model(torch.randn(2, 12, 64, 64)).shape == (2, 6)


def test_in_chans_needs_an_explicit_adaptation(hub, tmp_path, monkeypatch) -> None:
    published = publish(hub, tmp_path, monkeypatch)
    with pytest.raises(ValueError, match=r"reads 12 channels .* in_chans=4; pass adapt_first_conv=True"):
        sm.load_model("resnet50", "s1s2", in_chans=4)
    model = sm.load_model("resnet50", "s1s2", in_chans=4, adapt_first_conv=True)
    old = published.model.conv1.weight
    torch.testing.assert_close(model.conv1.weight, old.mean(1, keepdim=True).expand(-1, 4, -1, -1) * 3.0)
    # a constant input gives the same first-layer response as before: the adaptation keeps the scale
    torch.testing.assert_close(
        model.conv1(torch.ones(1, 4, 16, 16)), published.model.conv1(torch.ones(1, 12, 16, 16)), rtol=1e-4, atol=1e-4
    )


def test_pretrained_false_fetches_nothing(hub) -> None:
    model = sm.load_model("densenet121", "s1s2", pretrained=False)
    assert model.in_chans == 12 and hub.requests == []
    assert model.spec.weights is None  # random weights claim no origin, saved or not
    four = sm.load_model("resnet50", "s2", pretrained=False, in_chans=4)  # nothing to adapt: built with 4 channels
    assert four.conv1.in_channels == 4 and four.spec.in_chans == 4 and four.spec.bands is None


@pytest.mark.parametrize("device", ["mps", "xpu", "meta"])
def test_a_device_torch_cannot_use_here_is_a_value_error(device) -> None:
    backend = getattr(torch, device, None)
    if getattr(backend, "is_available", lambda: False)():
        pytest.skip(f"this machine has {device}")
    with pytest.raises(ValueError, match=f"device '{device}' asked for, but {device} is not available here"):
        resolve_device(device)
