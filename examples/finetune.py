"""Fine-tuning on your own data: a EuroSAT-style folder of 13-band Sentinel-2 GeoTIFFs.

    python examples/finetune.py FOLDER [--epochs 3] [--s2-bands B1,B2,...]

FOLDER holds one subfolder per class (``Forest/``, ``River/``, ...) of GeoTIFF patches of any
size (EuroSAT: 64x64). The SEN12MS ``s2`` model keeps its pretrained backbone and gets a fresh
head with one output per class. ``--s2-bands`` names the bands of your files in their order,
e.g. 12-band L2A products without B10 (BigEarthNet-style), so the right 10 are picked.
"""

import argparse
from pathlib import Path

import numpy as np
import rasterio
import torch
from torch import nn

import sen12ms_models as sm
from sen12ms_models.bands import S2_BANDS


def load_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, targets = [], []
    for index, name in enumerate(classes):
        for path in sorted((folder / name).glob("*.tif")):
            with rasterio.open(path) as dataset:
                images.append(dataset.read())
            targets.append(index)
    return np.stack(images), np.array(targets), classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--s2-bands", default=",".join(S2_BANDS), help="band names of your files, in order")
    args = parser.parse_args()

    images, targets, classes = load_folder(args.folder)
    model = sm.load_model("resnet50", "s2")
    model.reset_classifier(len(classes), label_type="single", classes=classes)  # trained with cross-entropy
    transform = model.spec.transforms.with_s2_bands(args.s2_bands.split(","))
    x, y = transform(s2=images), torch.from_numpy(targets)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x))
        for batch in order.split(16):
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}")
    prediction = sm.predict(model.eval(), s2=images, transform=transform)
    accuracy = float((prediction.probabilities.argmax(axis=1) == targets).mean())
    print(f"training accuracy {accuracy:.2f} on {len(x)} patches of {len(classes)} classes")


if __name__ == "__main__":
    main()
