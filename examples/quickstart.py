"""Quickstart: load a verified pretrained model and label one SEN12MS patch.

    python examples/quickstart.py [S2_PATCH.tif]

The S1 file beside the S2 file is found by the SEN12MS naming rule (s2_63 -> s1_63).
"""

import sys
from pathlib import Path

import sen12ms_models as sm
from sen12ms_models.inputs.files import sibling_path

EXAMPLE = Path(__file__).parent / "data/ROIs1158_spring/s2_63/ROIs1158_spring_s2_63_p100.tif"


def main(s2_path: Path) -> None:
    model = sm.load_model("resnet50", "s1s2")  # downloads once, verifies sha256, then uses the cache
    prediction = sm.predict(model, s1=sibling_path(s2_path, "s1"), s2=s2_path)
    print(prediction)
    for name, probability in zip(prediction.class_names, prediction.probabilities[0], strict=True):
        print(f"{name:>15}: {probability:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE)
