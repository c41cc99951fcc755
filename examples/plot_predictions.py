"""Plot predictions next to the reference labels of SEN12MS patches (like Figure 3 of the paper).

    python examples/plot_predictions.py FOLDER [OUT.png]

Needs the ``plot`` extra: ``pip install 'sen12ms-models[plot]'``.
"""

import sys
from pathlib import Path

import numpy as np

import sen12ms_models as sm
from sen12ms_models.labels import class_probabilities
from sen12ms_models.plots import plot_predictions


def main(folder: Path, out: Path) -> None:
    triplets = [sm.read_triplet(path) for path in sorted(folder.rglob("*_s2_*.tif"))[:8]]
    s1 = np.stack([t.s1.array for t in triplets])
    s2 = np.stack([t.s2.array for t in triplets])
    reference = class_probabilities(np.stack([t.lc.array[0] for t in triplets]))  # class shares of each LC patch
    prediction = sm.predict(sm.load_model("resnet50", "s1s2"), s1=s1, s2=s2)
    plot_predictions(prediction, s2, reference).savefig(out, dpi=100)
    print(f"{len(triplets)} patches -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("predictions.png"))
