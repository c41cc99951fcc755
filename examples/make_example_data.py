"""Write the example triplet in examples/data (synthetic pixels, the exact SEN12MS file format).

    python examples/make_example_data.py [OUT_DIR]   # default: examples/data

It is regenerated the same way every time (fixed seed): 60 % Grassland, 30 % Croplands and 10 %
Water rows, with class-dependent spectra. It shows the format and the commands; it is not real
imagery, so predictions on it say nothing about the models' accuracy.
"""

import sys
from pathlib import Path

import numpy as np

from sen12ms_models.classes import CLASSES
from sen12ms_models.inputs.files import PatchId
from sen12ms_models.synthetic import write_triplet

EXAMPLE = PatchId("ROIs1158_spring", 63, 100)  # a hold-out (test) scene name, as SEN12MS names it


def main(root: Path) -> None:
    rows = [0] * len(CLASSES)
    rows[CLASSES.index("Grassland")], rows[CLASSES.index("Croplands")], rows[CLASSES.index("Water")] = 154, 77, 25
    write_triplet(root, EXAMPLE, rows, rng=np.random.default_rng(2021), epsg=32631)
    for sensor in ("s1", "s2", "lc"):
        print(root / EXAMPLE.relative_path(sensor))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "data")
