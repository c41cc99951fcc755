"""Fine-tuning on your own data: a EuroSAT-style folder of 13-band Sentinel-2 GeoTIFFs.

    python examples/finetune.py FOLDER [--epochs 3] [--s2-bands EUROSAT_BANDS | L2A_BANDS | B1,B2,...]

FOLDER holds one subfolder per class (``Forest/``, ``River/``, ...) of GeoTIFF patches of any
size (EuroSAT: 64x64). The SEN12MS ``s2`` model keeps its pretrained backbone and gets a fresh
head with one output per class. ``--s2-bands`` names the bands of your files in their order:
a list of ``sen12ms_models.bands`` by name, or band names. The default is EuroSAT's order, B8A
LAST (``EUROSAT_BANDS``); ``L2A_BANDS``/``BIGEARTHNET_BANDS`` for 12-band L2A products without
B10. Files are read with ``read_patch``, so band descriptions in them, a declared offset or
nodata are applied and 8-bit or reflectance files refused.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

import sen12ms_models as sm
from sen12ms_models import bands as band_lists
from sen12ms_models.datasets import read_patch


def parse_bands(text: str) -> tuple[str, ...]:
    """``EUROSAT_BANDS`` (a list of ``sen12ms_models.bands``) or ``B1,B2,...``."""
    named = getattr(band_lists, text, None)
    return tuple(named) if isinstance(named, tuple) else tuple(text.split(","))


def load_folder(folder: Path, bands: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, targets = [], []
    for index, name in enumerate(classes):
        for path in sorted((folder / name).glob("*.tif")):
            images.append(read_patch(path, "s2", bands=bands).array)  # in the order of `bands`
            targets.append(index)
    return np.stack(images), np.array(targets), classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--s2-bands",
        type=parse_bands,
        default=band_lists.EUROSAT_BANDS,
        help="your files' bands in order: EUROSAT_BANDS (default, B8A last), L2A_BANDS, ... or B1,B2,...",
    )
    args = parser.parse_args()

    images, targets, classes = load_folder(args.folder, args.s2_bands)
    model = sm.load_model("resnet50", "s2")
    model.reset_classifier(len(classes), label_type="single", classes=classes)  # one class per patch: argmax
    transform = model.spec.transforms.with_s2_bands(args.s2_bands)
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
