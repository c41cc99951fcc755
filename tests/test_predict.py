"""predict: arrays, tensors and GeoTIFF paths in; named, correctly thresholded labels out."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import rasterio
import torch

import sen12ms_models as sm
from sen12ms_models.classes import CLASSES
from sen12ms_models.inputs.files import PatchId
from tests.support.geotiff import write_geotiff
from tests.support.patches import clear_patches


@pytest.fixture(scope="module")
def model() -> sm.Sen12msClassifier:
    torch.manual_seed(0)
    model = sm.load_model("resnet50", "s1s2", pretrained=False)
    with torch.no_grad():  # a calmer head, so probabilities spread over (0, 1)
        model.fc.weight.mul_(0.02)
    return model


def _triplet_paths(tree, n: int = 3):
    root, written = tree
    ids = [p.id for p in written[:n]]
    return [root / i.relative_path("s1") for i in ids], [root / i.relative_path("s2") for i in ids]


def test_paths_arrays_and_tensors_agree(model, sen12ms_tree) -> None:
    s1_paths, s2_paths = _triplet_paths(sen12ms_tree)
    from_paths = sm.predict(model, s1=s1_paths, s2=s2_paths)
    s1 = np.stack([sm.read_patch(p).array for p in s1_paths])
    s2 = np.stack([sm.read_patch(p).array for p in s2_paths])
    from_arrays = sm.predict(model, s1=s1, s2=s2, batch_size=2)
    from_tensors = sm.predict(model, s1=torch.from_numpy(s1), s2=torch.from_numpy(s2.astype(np.int32)))
    from_lists = sm.predict(model, s1=list(s1), s2=[torch.from_numpy(a.astype(np.int32)) for a in s2])
    assert from_paths.probabilities.shape == (3, 10)
    np.testing.assert_allclose(from_paths.probabilities, from_arrays.probabilities, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(from_tensors.probabilities, from_arrays.probabilities, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(from_lists.probabilities, from_arrays.probabilities, rtol=1e-4, atol=1e-5)
    assert from_paths.sources == tuple(str(p) for p in s2_paths)
    single = sm.predict(model, s1=str(s1_paths[0]), s2=str(s2_paths[0]))
    np.testing.assert_allclose(single.probabilities[0], from_arrays.probabilities[0], rtol=1e-4, atol=1e-5)


def test_probabilities_are_the_sigmoid_of_the_model_on_the_spec_transform(model) -> None:
    rng = np.random.default_rng(0)
    s1 = rng.normal(-12, 4, (2, 2, 64, 64)).astype(np.float32)
    s1[:, 1] -= 6  # VH ~6 dB below VV, as on real land
    s2 = rng.integers(0, 5000, (2, 13, 64, 64)).astype(np.uint16)
    with torch.no_grad():
        expected = torch.sigmoid(model(model.spec.transforms(s1=s1, s2=s2))).numpy()
    random_bands = sm.InputOptions(clouds=False)  # uniform DN would read as cirrus in B10
    prediction = sm.predict(model, s1=s1, s2=s2, options=random_bands)
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-4, atol=1e-5)
    mask = expected >= 0.5
    assert [set(labels) for labels in prediction.labels] == [{CLASSES[j] for j in np.flatnonzero(m)} for m in mask]
    strict = sm.predict(model, s1=s1, s2=s2, threshold=0.9, options=random_bands)
    assert all(len(a) <= len(b) for a, b in zip(strict.labels, prediction.labels, strict=True))


def test_single_label_models_use_softmax_argmax() -> None:
    torch.manual_seed(1)
    model = sm.load_model("densenet121", "rgb", "single", pretrained=False)
    s2 = np.random.default_rng(1).integers(0, 5000, (2, 13, 256, 256)).astype(np.uint16)
    prediction = sm.predict(model, s2=s2, options=sm.InputOptions(clouds=False))
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert prediction.labels == [[CLASSES[i]] for i in prediction.probabilities.argmax(axis=1)]
    assert prediction.threshold is None and "argmax" in repr(prediction)


def test_to_dict_and_repr_are_readable(model, sen12ms_tree) -> None:
    s1_paths, s2_paths = _triplet_paths(sen12ms_tree, 2)
    prediction = sm.predict(model, s1=s1_paths, s2=s2_paths)
    record = json.loads(json.dumps(prediction.to_dict()))
    assert record["label_type"] == "multi" and record["threshold"] == 0.5 and record["classes"] == list(CLASSES)
    assert record["patches"][1]["source"] == str(s2_paths[1])
    assert set(record["patches"][0]["probabilities"]) == set(CLASSES)
    text = repr(prediction)
    assert text.startswith("Prediction(2 patches, multi-label, sigmoid >= 0.5)")
    assert s2_paths[0].name in text


def test_training_mode_is_restored_and_eval_is_used(model) -> None:
    s1, s2 = clear_patches(2)
    expected = sm.predict(model, s1=s1, s2=s2).probabilities
    model.train()
    try:
        np.testing.assert_allclose(sm.predict(model, s1=s1, s2=s2).probabilities, expected, rtol=1e-5)
        assert model.training
    finally:
        model.eval()


def test_bad_inputs_are_named(model) -> None:
    s1 = np.zeros((2, 2, 32, 32), np.float32)
    with pytest.raises(ValueError, match="s2 is required"):
        sm.predict(model, s1=s1)
    with pytest.raises(ValueError, match=r"s2 has 10 bands .* expected 13"):
        sm.predict(model, s1=s1, s2=np.zeros((2, 10, 32, 32), np.uint16))
    with pytest.raises(ValueError, match="s1 and s2 must hold the same patches"):
        sm.predict(model, s1=s1, s2=np.zeros((3, 13, 32, 32), np.uint16))
    with pytest.raises(ValueError, match=r"threshold=5 for label_type='multi': it is a multi-label rule, in \[0, 1\]"):
        sm.predict(model, s1=clear_patches(2)[0], s2=clear_patches(2)[1], threshold=5)
    single = sm.load_model("resnet50-s1s2-single", pretrained=False)
    with pytest.raises(ValueError, match=r"threshold=0\.3 for label_type='single'"):  # as set_labels refuses it
        sm.predict(single, s1=clear_patches(2)[0], s2=clear_patches(2)[1], threshold=0.3)
    with pytest.raises(sm.PatchFileError, match="no such file"):
        sm.predict(model, s1="ROIs1158_spring_s1_1_p1.tif", s2="ROIs1158_spring_s2_1_p1.tif")


def test_a_new_head_is_predicted_with_the_rule_its_spec_names_never_a_guessed_one() -> None:
    tuned = sm.load_model("resnet50", "s2", pretrained=False, num_classes=3)
    assert tuned.spec.num_classes == 3 and tuned.spec.label_type is None and tuned.spec.weights is None
    s2 = clear_patches(2)[1]
    with pytest.raises(ValueError, match=r"no decision rule: say it with model.set_labels\("):
        sm.predict(tuned, s2=s2)
    head = tuned.fc.weight.clone()
    tuned.set_labels("single", classes=["a", "b", "c"])
    assert torch.equal(tuned.fc.weight, head)  # saying the rule keeps the trained head
    result = sm.predict(tuned, s2=s2)
    assert result.class_names == ("a", "b", "c") and result.label_type == "single"
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)  # softmax, not sigmoid
    assert all(len(labels) == 1 for labels in result.labels)


def test_non_finite_model_output_is_an_error_not_nan_probabilities() -> None:
    broken = sm.load_model("resnet50", "rgb", pretrained=False)
    with torch.no_grad():
        broken.fc.bias.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite outputs"):
        sm.predict(broken, s2=clear_patches()[1])


def test_a_model_cast_to_half_or_bfloat16_predicts_and_says_what_else_to_do(model) -> None:
    s1, s2 = clear_patches(1, 64)
    expected = sm.predict(model, s1=s1, s2=s2).probabilities
    for dtype in (torch.bfloat16, torch.float16):
        cast = sm.load_model("resnet50", "s1s2", pretrained=False)
        cast.load_state_dict(model.state_dict())
        cast.to(dtype)
        np.testing.assert_allclose(sm.predict(cast, s1=s1, s2=s2).probabilities, expected, atol=0.05)
        with pytest.raises(
            TypeError, match=r"the input is torch.float32 but the model's weights are .*precision='bf16'"
        ):
            cast.forward_features(torch.zeros(1, 12, 64, 64))


def test_skip_invalid_gives_mostly_fill_patches_no_label_and_labels_the_rest(model) -> None:
    s1, s2 = clear_patches(3, 64)
    s2[1] = 0  # a tile edge: all fill
    with pytest.raises(sm.NoDataError, match=r"s2\[1\] \+ s1\[1\] \(0% valid.*--skip-invalid"):
        sm.predict(model, s1=s1, s2=s2)
    result = sm.predict(model, s1=s1, s2=s2, options=sm.InputOptions(skip_invalid=True))
    assert np.isnan(result.probabilities[1]).all() and result.labels[1] == [] and result.valid_fraction[1] == 0
    assert not np.isnan(result.probabilities[[0, 2]]).any()
    assert json.loads(json.dumps(result.to_dict()))["patches"][1]["probabilities"] is None


def test_one_patch_is_said_in_the_singular(model) -> None:
    s1, s2 = clear_patches(1)
    assert repr(sm.predict(model, s1=s1, s2=s2)).startswith("Prediction(1 patch, multi-label")


def test_patches_of_other_sizes_are_refused_naming_items_shapes_and_remedy(s1s2_model) -> None:
    s1, s2 = clear_patches(2)
    with pytest.raises(ValueError, match=r"s2: a list of arrays of 2 shapes \(s2\[0\] \(13, 32, 32\), s2\[1\] "
                       r"\(13, 16, 32\)\); predict the patches of each size in their own call"):  # fmt: skip
        sm.predict(s1s2_model, s1=list(s1), s2=[s2[0], s2[1, :, :16]])
    with pytest.raises(ValueError, match=r"s1 and s2 .*s2 has shape \(2, 13, 32, 32\), s1 \(2, 2, 16, 16\)"):
        sm.predict(s1s2_model, s1=s1[:, :, :16, :16], s2=s2)


def test_a_folder_gives_its_sen12ms_files_of_the_sensor_in_patch_order(tmp_path, s1s2_model, sen12ms_tree) -> None:
    root, written = sen12ms_tree
    season = root / written[0].id.season
    s1, s2 = (sorted(season.rglob(f"*_{sensor}_*.tif"), key=PatchId.from_path) for sensor in ("s1", "s2"))
    from_folders = sm.predict(s1s2_model, s1=season, s2=str(season))
    assert from_folders.sources == tuple(map(str, s2)) and len(s2) > 3  # lc files skipped, s1 paired by name
    np.testing.assert_array_equal(from_folders.probabilities, sm.predict(s1s2_model, s1=s1, s2=s2).probabilities)
    s1_only = shutil.copytree(season / f"s1_{written[0].id.scene}", tmp_path / "s1_only")
    with pytest.raises(FileNotFoundError, match=r"no SEN12MS s2 .tif file in .*s1_only"):
        sm.predict(s1s2_model, s1=season, s2=s1_only)


def test_level_2a_is_said_once_whichever_batch_holds_it(tmp_path, s2_model) -> None:
    s2 = clear_patches(1)[1][0]
    clean = write_geotiff(tmp_path / "clean.tif", s2)
    tagged = write_geotiff(tmp_path / "tagged.tif", s2)
    with rasterio.open(tagged, "r+") as dataset:
        dataset.update_tags(PROCESSING_LEVEL="Level-2A")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        sm.predict(s2_model, s2=[clean, tagged, tagged], batch_size=1)  # not in the first batch, in two
    levels = [str(w.message) for w in said if w.category is sm.InputLevelWarning]
    assert len(levels) == 1 and "its metadata says Level-2A" in levels[0]


def test_an_8bit_patch_is_refused_whatever_else_its_batch_holds(tmp_path, s2_model) -> None:
    s2 = clear_patches(2)[1]
    eight = (s2[1] // 64).astype(np.uint8)
    paths = [write_geotiff(tmp_path / "dn.tif", s2[0]), write_geotiff(tmp_path / "eight.tif", eight)]
    with pytest.raises(sm.InputUnitsError, match=r"eight.tif is 8-bit \(uint8"):  # not stacked into uint16
        sm.predict(s2_model, s2=paths)
    with pytest.raises(ValueError, match=r"s2: a list of arrays of 2 dtypes \(s2\[0\] uint16, s2\[1\] uint8\)"):
        sm.predict(s2_model, s2=[s2[0], eight])


def test_a_level_2a_file_leaves_s2cloudless_to_the_level_1c_patches_of_its_batch(tmp_path, s2_model) -> None:
    pytest.importorskip("s2cloudless")
    s2 = clear_patches(1, 64)[1][0]
    hazy = s2.copy()  # thin cloud in the top half: s2cloudless finds it, the fallback's brightness test does not
    hazy[:, :32] = np.array([2000, 1800, 1700, 1600, 1700, 2000, 2300, 2500, 2500, 800, 200, 2000, 1500])[:, None, None]
    l1c = write_geotiff(tmp_path / "l1c.tif", hazy)
    l2a = write_geotiff(tmp_path / "l2a.tif", s2)
    with rasterio.open(l2a, "r+") as dataset:
        dataset.update_tags(PROCESSING_LEVEL="Level-2A")
    options = sm.InputOptions(min_valid=0)
    alone = sm.predict(s2_model, s2=[l1c], options=options).cloud_fraction
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.InputLevelWarning)
        together = sm.predict(s2_model, s2=[l1c, l2a], options=options).cloud_fraction
    assert alone is not None and together is not None
    assert alone[0] == together[0] == pytest.approx(0.5, abs=0.05)
