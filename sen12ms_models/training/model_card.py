"""The model card (``README.md``) published beside retrained weights on the Hugging Face Hub."""

from __future__ import annotations

from typing import Any

from sen12ms_models.hub.card import CITATIONS, front_matter
from sen12ms_models.models.spec import WeightsSpec
from sen12ms_models.training.metrics import Scores
from sen12ms_models.training.report import table4


def model_card(spec: WeightsSpec, scores: Scores, training: dict[str, Any]) -> str:
    """Markdown with Hub metadata: what the model is, how it was trained, test scores, licences, usage.

    ``training`` is the export's training record (config, split, best epoch, validation score).
    """
    config, split = training["config"], training["split"]
    label = "multi-label (classes covering >= 10 % of the patch)" if spec.label_type == "multi" else "single-label"
    table = table4(scores, f"Test set ({scores.num_samples} patches), F1 in %", spec.paper_metrics)
    performance = training["performance"]
    trained_in = performance.get("precision") or ("bf16" if performance["bf16"] else "fp32")  # older run.json: no key
    in_train = "inside" if split["validation_in_train"] else "outside"
    if spec.license is None or spec.bands is None:
        raise ValueError(f"{spec.name}: a model card needs the entry's licence and the model's bands")
    header = "\n".join(front_matter(spec, [f"license: {spec.license.lower()}"]))
    return f"""{header}

# {spec.name}

{spec.arch} trained from scratch on SEN12MS for {label} scene classification into the 10
simplified-IGBP classes, from the `{spec.modality}` input bands ({", ".join(spec.bands)}), as in
Schmitt & Wu, "Remote sensing image classification with the SEN12MS dataset" (ISPRS Annals
V-2-2021). Retrained with `sen12ms-models train` (source: `{spec.source}`).

## Usage

```python
import sen12ms_models as sm

model = sm.load_model("{spec.arch}", "{spec.modality}", label_type="{spec.label_type}")
prediction = sm.predict(model, s1="patch_s1.tif", s2="patch_s2.tif")
print(prediction.labels)
```

The weights file is `{spec.filename}` (safetensors, sha256 `{spec.sha256}`); `load_model`
verifies that hash before loading. Input: standardized bands as `spec.transforms` computes them.

## Evaluation

```text
{table}
```

"Average F1" is the macro F1 over the classes present in the test set, "Overall F1" the micro
F1, as in the paper's Table 4 (its values in the last column where the paper has this model).

## Training

- Recipe: Adam (lr {config["lr"]}, weight decay {config["weight_decay"]}), global batch
  {config["batch_size"]}, {training["epochs_done"]} epochs run of {config["epochs"]}, best epoch
  {training["best_epoch"]} by validation micro F1 ({training["best_validation_f1_micro"]:.4f}), seed {config["seed"]}.
- Precision: trained (and validated) in {trained_in}; the test scores above computed in
  {training["test_precision"]}.
- Split `{split["name"]}`: {split["sizes"]["train"]} training, {split["sizes"]["validation"]} validation
  ({len(split["validation_scenes"])} scenes, {in_train} the training set) and {split["sizes"]["test"]} test
  patches ({len(split["test_scenes"])} hold-out scenes). The full record is `training.json`.

## Data and licences

- Data: SEN12MS (Schmitt et al., ISPRS Annals IV-2/W7, 2019), licensed CC-BY 4.0; it contains
  modified Copernicus Sentinel data and MODIS land cover. These weights are derived from it and
  are published under {spec.license}: credit the SEN12MS authors when you use them.
- The training code is sen12ms-models' own (MIT); it does not reuse the SEN12MS toolbox's
  code, whose licence is non-commercial.

## Citation

```bibtex
{CITATIONS}
```
"""
