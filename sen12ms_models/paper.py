"""The published baselines' test scores: Table 4 of Schmitt & Wu (2021), stated once.

Schmitt, M., Wu, Y.-L.: Remote sensing image classification with the SEN12MS dataset. ISPRS
Annals V-2-2021, 101-106, Table 4: multi-label F1 in percent on the test split (26 hold-out
scenes, 18,106 patches), per class (Snow/Ice is absent from the test set), "Average F1" (the
mean over the 9 classes present) and "Overall F1" (micro F1). The paper has no table for the
single-label models nor for the ``s1`` and ``s1rgb`` modalities.
"""

from __future__ import annotations

from typing import Any

from sen12ms_models.classes import CLASSES

REFERENCE = "Schmitt & Wu 2021, ISPRS Annals V-2-2021, Table 4"
TEST_SPLIT = "test (26 hold-out scenes, 18,106 patches)"
#: Test-set classes in Table 4's row order (the 10 simplified IGBP classes less Snow/Ice).
TABLE4_CLASSES: tuple[str, ...] = tuple(name for name in CLASSES if name != "Snow/Ice")

#: Model name -> (per-class F1 in TABLE4_CLASSES order, Average F1, Overall F1), in percent.
TABLE4: dict[str, tuple[tuple[float, ...], float, float]] = {
    "resnet50-rgb-multi": ((60.9, 56.0, 79.3, 50.5, 11.0, 63.4, 82.8, 1.3, 70.4), 52.9, 66.5),
    "resnet50-s2-multi": ((69.3, 50.2, 78.5, 58.4, 62.6, 66.9, 82.6, 0.0, 93.0), 62.4, 69.9),
    "resnet50-s1s2-multi": ((70.6, 50.2, 79.9, 64.5, 55.8, 64.3, 84.1, 11.5, 93.7), 63.9, 71.4),
    "densenet121-rgb-multi": ((65.4, 58.3, 76.7, 50.9, 26.5, 66.3, 84.1, 8.0, 69.8), 56.2, 66.9),
    "densenet121-s2-multi": ((68.9, 43.2, 80.2, 57.4, 53.7, 59.1, 84.9, 0.6, 93.8), 60.2, 68.9),
    "densenet121-s1s2-multi": ((70.6, 45.0, 85.4, 60.0, 55.9, 63.2, 83.1, 8.7, 93.7), 62.8, 72.0),
}


def paper_metrics(name: str) -> dict[str, Any] | None:
    """Table 4's scores of model ``name`` in the manifest's ``metrics`` shape, or None if it has none.

    >>> paper_metrics("resnet50-s1s2-multi")["overall_f1"]
    71.4
    """
    if name not in TABLE4:
        return None
    per_class, average, overall = TABLE4[name]
    return {
        "reference": REFERENCE,
        "split": TEST_SPLIT,
        "unit": "percent",
        "per_class_f1": dict(zip(TABLE4_CLASSES, per_class, strict=True)),
        "average_f1": average,
        "overall_f1": overall,
    }
