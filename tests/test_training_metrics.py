"""training.metrics agrees with scikit-learn (zero_division=0), edge cases included; the table reads like Table 4."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from sen12ms_models.classes import CLASSES
from sen12ms_models.training.export import manifest_metrics, table4, table4_classes
from sen12ms_models.training.metrics import MetricCounts, Scores, best_constant_f1_micro


def _scores(label_type: str, predicted: np.ndarray, target: np.ndarray, shards: int = 1) -> Scores:
    """Scores from ``shards`` separately counted parts, summed as DDP ranks would."""
    total = MetricCounts(label_type)
    for part in np.array_split(np.arange(len(target)), shards):
        counts = MetricCounts(label_type)
        counts.update(torch.from_numpy(predicted[part]), torch.from_numpy(target[part]))
        total.tensor += counts.tensor
    return total.compute()


def _check_multi_label(y_true: np.ndarray, y_pred: np.ndarray, shards: int = 1) -> Scores:
    scores = _scores("multi", y_pred, y_true, shards)
    present = np.flatnonzero(y_true.sum(0) > 0)
    kwargs = {"zero_division": 0}
    for average in ("micro", "samples"):
        assert getattr(scores, f"f1_{average}") == pytest.approx(
            skm.f1_score(y_true, y_pred, average=average, **kwargs)
        )
        assert getattr(scores, f"precision_{average}") == pytest.approx(
            skm.precision_score(y_true, y_pred, average=average, **kwargs)
        )
        assert getattr(scores, f"recall_{average}") == pytest.approx(
            skm.recall_score(y_true, y_pred, average=average, **kwargs)
        )
        assert getattr(scores, f"f2_{average}") == pytest.approx(
            skm.fbeta_score(y_true, y_pred, beta=2, average=average, **kwargs)
        )
    # The paper's Average F1: macro over the classes present in the reference only.
    for name, function in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        expected = function(y_true, y_pred, average="macro", labels=present, **kwargs)
        assert getattr(scores, f"{name}_macro") == pytest.approx(expected)
    assert scores.f2_macro == pytest.approx(skm.fbeta_score(y_true, y_pred, beta=2, average="macro", labels=present))
    # The toolbox's macroF1: scikit-learn's macro over all 10 columns (an absent class counts as 0).
    assert scores.f1_macro_all_classes == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", **kwargs))
    per_class = skm.f1_score(y_true, y_pred, average=None, **kwargs)
    for k, value in enumerate(scores.f1_per_class):
        if y_true[:, k].any() or y_pred[:, k].any():
            assert value == pytest.approx(per_class[k])
        else:
            assert value is None  # absent from reference and prediction: undefined, not 0
    assert scores.hamming_loss == pytest.approx(skm.hamming_loss(y_true, y_pred))
    assert scores.subset_accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert scores.confusion_matrix == skm.multilabel_confusion_matrix(y_true, y_pred).tolist()
    assert scores.support == y_true.sum(0).tolist() and scores.num_samples == len(y_true)
    return scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_label_matches_sklearn_and_adds_up_over_shards(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.random((200, 10)) < rng.uniform(0.05, 0.5, 10)
    y_pred = np.where(rng.random((200, 10)) < 0.8, y_true, ~y_true)
    y_true[:, 7] = False  # Snow/Ice: absent from the reference, as in the SEN12MS test set
    whole = _check_multi_label(y_true, y_pred)
    sharded = _check_multi_label(y_true, y_pred, shards=3).to_json()
    for key, value in whole.to_json().items():  # counts exactly, sums of ratios up to rounding
        assert sharded[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert whole.classes_present == [c for c in CLASSES if c != "Snow/Ice"]
    assert whole.f1_macro_all_classes == pytest.approx(0.9 * whole.f1_macro)  # Snow/Ice absent: 9 of 10 columns


def test_multi_label_edge_cases() -> None:
    y_true = np.zeros((6, 10), dtype=bool)
    y_true[:, 0], y_true[3:, 5] = True, True
    # No prediction at all: every ratio with a zero denominator is 0, as sklearn's zero_division=0.
    nothing = _check_multi_label(y_true, np.zeros_like(y_true))
    assert nothing.f1_micro == 0 and nothing.precision_micro == 0 and nothing.f1_samples == 0
    # A class absent from both (9), one predicted but absent from the reference (8), and one
    # sample whose reference and prediction are both empty.
    y_pred = y_true.copy()
    y_pred[0, 8] = True
    y_true[1], y_pred[1] = False, False
    scores = _check_multi_label(y_true, y_pred)
    assert scores.f1_per_class[9] is None and scores.f1_per_class[8] == 0.0
    assert scores.f1_macro == 1.0  # classes 0 and 5, the ones present, are perfect
    perfect = _check_multi_label(y_true[2:], y_true[2:])
    assert perfect.f1_micro == perfect.subset_accuracy == 1.0 and perfect.hamming_loss == 0.0


def test_single_label_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.choice([0, 1, 2, 3, 5, 6, 9], size=300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 10, 300))
    scores = _scores("single", y_pred, y_true, shards=4)
    present = np.unique(y_true)
    assert scores.accuracy == scores.f1_micro == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert scores.f1_macro == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", labels=present))
    assert scores.recall_macro == pytest.approx(skm.recall_score(y_true, y_pred, average="macro", labels=present))
    assert scores.confusion_matrix == skm.confusion_matrix(y_true, y_pred, labels=range(10)).tolist()
    per_class = skm.f1_score(y_true, y_pred, average=None, labels=range(10), zero_division=0)
    assert [v or 0.0 for v in scores.f1_per_class] == pytest.approx(per_class)


def test_best_constant_prediction_is_the_best_of_all_constant_sets() -> None:
    rng = np.random.default_rng(4)
    y_true = rng.random((120, 10)) < np.linspace(0.05, 0.6, 10)

    def micro_f1(predicted: np.ndarray) -> float:  # counted from the predictions, no formula shared
        tp, fp, fn = (predicted & y_true).sum(), (predicted & ~y_true).sum(), (~predicted & y_true).sum()
        return 2 * tp / (2 * tp + fp + fn)

    constant_sets = (np.isin(np.arange(10), s) for n in range(1, 11) for s in itertools.combinations(range(10), n))
    brute = max(micro_f1(np.broadcast_to(predicted, y_true.shape)) for predicted in constant_sets)
    assert best_constant_f1_micro(y_true.sum(0).tolist(), len(y_true), "multi") == pytest.approx(brute)
    labels = rng.choice(10, 50, p=np.linspace(1, 2, 10) / 15)
    assert best_constant_f1_micro(np.bincount(labels, minlength=10).tolist(), 50, "single") == pytest.approx(
        np.bincount(labels).max() / 50
    )


def test_bad_input_is_named() -> None:
    counts = MetricCounts("multi")
    with pytest.raises(ValueError, match="boolean masks"):
        counts.update(torch.zeros(3, 9, dtype=torch.bool), torch.zeros(3, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="evaluation set is empty"):
        counts.compute()
    with pytest.raises(ValueError, match="class indices"):
        MetricCounts("single").update(torch.zeros(3, 10), torch.zeros(3))
    with pytest.raises(ValueError, match="label_type"):
        MetricCounts("multiple")


def test_table_and_manifest_metrics_follow_table_4() -> None:
    y_true = np.zeros((4, 10), dtype=bool)
    y_true[:, 0], y_true[:2, 9] = True, True
    scores = _scores("multi", y_true.copy(), y_true)
    paper = {"per_class_f1": {"Forest": 70.6, "Water": 93.7}, "average_f1": 63.9, "overall_f1": 71.4}
    text = table4(scores, "title", paper)
    lines = text.splitlines()
    assert lines[0] == "title" and "Forest (4)" in lines[3] and "100.0" in lines[3] and "70.6" in lines[3]
    assert "Water (2)" in lines[4] and "Snow/Ice" not in text  # only the classes present get a row
    assert lines[5].startswith("Average F1") and "63.9" in lines[5] and lines[6].startswith("Overall F1")
    split = {"name": "paper", "test_scenes": ["a", "b"], "validation_scenes": ["c"]}
    metrics = manifest_metrics(scores, "test", split)
    assert metrics["per_class_f1"] == {"Forest": 100.0, "Water": 100.0}
    assert metrics["overall_f1"] == metrics["average_f1"] == 100.0 and metrics["unit"] == "percent"
    assert metrics["split"] == "test (2 scenes, 4 patches; split 'paper')"


def test_table_4_shows_one_decimal_of_the_score_and_the_rows_of_table4_json() -> None:
    y_true = np.zeros((4, 10), dtype=bool)
    y_true[:, 0] = True
    y_pred = y_true.copy()
    y_pred[0, 8] = True  # Barren predicted, absent from the reference, listed by the paper
    scores = _scores("multi", y_pred, y_true)
    paper = {"per_class_f1": {"Forest": 70.6, "Barren": 11.5}, "average_f1": 63.9, "overall_f1": 71.4}
    assert table4_classes(scores, paper) == ["Forest", "Barren"] and table4_classes(scores, None) == ["Forest"]
    lines = table4(scores, "title", paper).splitlines()
    assert lines[3].startswith("Forest (4)") and lines[4].startswith("Barren (0)") and "0.0" in lines[4]
    assert lines[5].startswith("Average F1")
    unrounded = dataclasses.replace(scores, f1_micro=0.52949)  # rounded once: 52.9 (twice, 52.95 -> 53.0)
    assert table4(unrounded, "title").splitlines()[5].split() == ["Overall", "F1", "52.9"]
