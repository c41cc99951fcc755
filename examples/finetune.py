"""Fine-tuning on your own data, end to end: train a new head, save it, load it back, predict.

    python examples/finetune.py train FOLDER --out MODEL_DIR [--epochs 3] [--s2-bands EUROSAT_BANDS]
    python examples/finetune.py predict MODEL_DIR FOLDER [--s2-bands EUROSAT_BANDS]

FOLDER is EuroSAT-style: one subfolder per class (``Forest/``, ``River/``, ...) of Sentinel-2
GeoTIFF patches of any size (EuroSAT: 64x64). ``train`` keeps the pretrained backbone of the
SEN12MS ``s2`` model frozen, gives it a fresh head with one output per class (single-label:
argmax), trains the head, and saves the model with ``model.save_pretrained(MODEL_DIR)``: the
weights with the head's class names and decision rule. (To fine-tune the backbone too, leave
it trainable, in ``model.train()`` mode, at a lower learning rate.) ``predict``, a later session, loads that folder with
``sm.load_model(MODEL_DIR)`` and labels the patches with the class names it was trained on.
``--json OUT`` writes each step's predictions (``Prediction.to_dict()``): the same patches get
the same probabilities from the reloaded model.

``--s2-bands`` names the bands of your files in their order: a list of ``sen12ms_models.bands``
by name, or band names. The default is EuroSAT's order, B8A LAST (``EUROSAT_BANDS``);
``L2A_BANDS``/``BIGEARTHNET_BANDS`` for 12-band L2A products without B10. Files are read with
``read_patch``, so band descriptions in them, a declared offset or nodata are applied and 8-bit
or reflectance files refused.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

import sen12ms_models as sm
from sen12ms_models import bands as band_lists


def load_folder(folder: Path, bands: tuple[str, ...]) -> tuple[np.ndarray, list[str], sm.InputOptions]:
    """The patches of ``folder`` (S2 DN, in SEN12MS band order), the class of each, and the
    ``InputOptions`` that tell ``predict`` which bands they hold."""
    images, targets = [], []
    for name in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        for path in sorted((folder / name).glob("*.tif")):
            patch = sm.read_patch(path, "s2", bands=bands)  # reordered from `bands` to SEN12MS order
            images.append(patch.array)
            targets.append(name)
    if not images:
        raise SystemExit(f"no .tif patch in a class subfolder of {folder}: give FOLDER/<class name>/*.tif")
    return np.stack(images), targets, sm.InputOptions(s2_bands=patch.bands)


def report(step: str, prediction: sm.Prediction, targets: list[str], out: Path | None) -> None:
    labels = [labels[0] for labels in prediction.labels]  # single-label: one class per patch
    accuracy = np.mean([label == target for label, target in zip(labels, targets, strict=True)])
    print(f"{step} accuracy {accuracy:.2f} on {len(targets)} patches of {len(set(targets))} classes")
    if out is not None:
        out.write_text(json.dumps(prediction.to_dict(), indent=1))


def train(args: argparse.Namespace) -> None:
    images, targets, options = load_folder(args.folder, args.s2_bands)
    classes = sorted(set(targets))
    model = sm.load_model("resnet50", "s2")  # pretrained backbone
    model.reset_classifier(len(classes), label_type="single", classes=classes)  # fresh head, argmax rule
    transform = model.spec.transforms.replace(s2_bands=options.s2_bands)  # picks the model's 10 bands by name
    x, y = transform(s2=images), torch.tensor([classes.index(t) for t in targets])

    model.requires_grad_(False)  # the pretrained backbone stays as it is (eval mode: its BatchNorm statistics too)
    head = model.get_classifier().requires_grad_(True)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        for batch in torch.randperm(len(x)).split(16):
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}")
    saved = model.save_pretrained(args.out)  # weights + spec (classes, decision rule, bands)
    print(f"saved {model.spec.name} with classes {list(model.spec.classes)} to {saved}")
    report("training", sm.predict(model, s2=images, options=options), targets, args.json)


def predict(args: argparse.Namespace) -> None:
    model = sm.load_model(args.model)  # the saved folder: backbone, trained head, class names and rule
    images, targets, options = load_folder(args.folder, args.s2_bands)
    prediction = sm.predict(model, s2=images, options=options)
    print(prediction)
    report("reloaded model", prediction, targets, args.json)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    fit = steps.add_parser("train", help="fine-tune a new head on FOLDER and save the model to --out")
    fit.add_argument("folder", type=Path)
    fit.add_argument("--out", type=Path, required=True, help="folder to save the fine-tuned model in")
    fit.add_argument("--epochs", type=int, default=3)
    use = steps.add_parser("predict", help="load a saved model and label the patches of FOLDER")
    use.add_argument("model", type=Path, help="a folder written by train (save_pretrained)")
    use.add_argument("folder", type=Path)
    for step in (fit, use):
        step.add_argument(
            "--s2-bands",
            type=band_lists.parse_bands,
            default=band_lists.EUROSAT_BANDS,
            help="your files' bands in order: EUROSAT_BANDS (default, B8A last), L2A_BANDS, ... or B1,B2,...",
        )
        step.add_argument("--json", type=Path, help="also write the predictions as JSON")
    args = parser.parse_args()
    {"train": train, "predict": predict}[args.step](args)


if __name__ == "__main__":
    main()
