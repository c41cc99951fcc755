"""Feature extraction: pooled embeddings of every SEN12MS patch in a folder, saved as .npy.

    python examples/feature_extraction.py FOLDER [OUT.npy]

Each row is ``model.forward_features(x)``: the 2048-d globally pooled ResNet50 feature map, a
good start for k-NN search, clustering or a linear probe.
"""

import sys
from pathlib import Path

import numpy as np
import torch

import sen12ms_models as sm


def main(folder: Path, out: Path) -> None:
    model = sm.load_model("resnet50", "s1s2")
    transform = model.spec.transforms  # raw S1 dB + S2 DN -> the standardized 12 input channels
    files = sorted(folder.rglob("*_s2_*.tif"))
    embeddings = []
    with torch.inference_mode():
        for path in files:
            triplet = sm.read_triplet(path)
            x = transform(s1=triplet.s1.array, s2=triplet.s2.array)[None]
            embeddings.append(model.forward_features(x)[0].numpy())
    np.save(out, np.stack(embeddings))
    print(f"{len(files)} patches -> {out} with shape {(len(files), model.num_features)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("embeddings.npy"))
