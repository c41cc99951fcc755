"""The model card (``README.md``) of converted weights: provenance, exactness, the toolbox's licence."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from sen12ms_models.bands import BAND_MEAN, BAND_STD
from sen12ms_models.convert.toolbox import PROOF_BATCH, PROOF_SIZE, TOLERANCE, TOOLBOX_ARCH_NAMES
from sen12ms_models.hub import card
from sen12ms_models.labels import DECISION_THRESHOLD
from sen12ms_models.paper import paper_metrics
from sen12ms_models.weights import ManifestEntry, Sen12msWeights

if TYPE_CHECKING:
    from sen12ms_models.convert.checkpoint import ToolboxCheckpoint

#: The manifest's ``license`` of converted weights: they carry the toolbox's terms.
LICENSE = "SEN12MS toolbox licence: evaluation, education and research only; no commercial use"
LICENSE_URL = "https://github.com/schmitt-muc/SEN12MS/blob/master/LICENSE.txt"
#: The toolbox's copyright notice and licence terms (verbatim), which must accompany every copy.
TOOLBOX_LICENSE_TERMS = (resources.files(__package__) / "TOOLBOX_LICENSE.txt").read_text(encoding="utf-8")


def model_card(spec: Sen12msWeights, entry: ManifestEntry, checkpoint: ToolboxCheckpoint, max_abs_diff: float) -> str:
    """The Hugging Face model card of ``spec``'s file ``entry``, converted from ``checkpoint`` with that proof."""
    task = f"multi-label (sigmoid >= {DECISION_THRESHOLD})" if spec.label_type == "multi" else "single-label (argmax)"
    size = "256x256 only (flattening head)" if spec.arch == "densenet121" else "any size; trained on 256x256"
    toolbox, proof_size = TOOLBOX_ARCH_NAMES[spec.arch], PROOF_SIZE[spec.arch]
    found = f"epoch {checkpoint.epoch}" if checkpoint.epoch is not None else "epoch not recorded"
    if checkpoint.best_prec is not None:
        found += f", validation micro F1 {checkpoint.best_prec:.4f} (`best_prec`)"
    paper = paper_metrics(spec.value)
    reported = "The paper reports no test metrics for this model (its Table 4 is multi-label rgb/s2/s1s2)."
    if paper:
        rows = "\n".join(f"| {name} | {value} |" for name, value in paper["per_class_f1"].items())
        reported = f"""## Reported by the paper ({paper["reference"]})

F1 in %, {paper["split"]}, as the paper reports them for the toolbox's model: not measured on
this file (measure it with `sen12ms-models evaluate --weights FILE`).

| class | F1 |
|---|---|
{rows}
| **Average F1** (macro) | {paper["average_f1"]} |
| **Overall F1** (micro) | {paper["overall_f1"]} |"""
    terms = "\n".join(f"> {line}" if line else ">" for line in TOOLBOX_LICENSE_TERMS.splitlines())
    body = f"""The SEN12MS baseline {toolbox} for `{spec.modality}` input, {task} scene classification into
the 10 simplified IGBP classes, as released by the authors of the SEN12MS toolbox, converted
to safetensors by `sen12ms-models convert` (no retraining: the very weights they published).

## Use

```python
import sen12ms_models as sm

model = sm.load_model("{spec.arch}", "{spec.modality}", "{spec.label_type}", weights="{spec.filename}")
```

- Input: {spec.in_chans} channels in this order: {", ".join(spec.bands)}; {size}.
- Preprocessing: S1 clipped to [-25, 0] dB; then `(x - mean) / std` per channel with mean
  {[BAND_MEAN[b] for b in spec.bands]} and std {[BAND_STD[b] for b in spec.bands]} (`weights.transforms()`).
- Output: 10 logits; {task}.

## Provenance

- Original file: `{checkpoint.path.name}`, sha256 `{checkpoint.sha256}` ({found}).
- This file: `{spec.filename}`, sha256 `{entry.sha256}`, {entry.size} bytes.
- Exactness: the original state dict in a re-statement of the toolbox's {toolbox} wrapper and
  this file in `sen12ms_models` give logits differing by at most {max_abs_diff:.3g} (float32,
  eval mode, {PROOF_BATCH} seeded N(0, 1) inputs of {proof_size}x{proof_size}; tolerance {TOLERANCE:g}).

{reported}

## Licence

These weights are the SEN12MS toolbox's and carry its terms: evaluation, educational and
research use only, **no commercial use** without a written agreement with the licensor. The
terms require this notice in every copy:

{terms}"""
    return card.model_card(
        spec, ["license: other", "license_name: sen12ms-toolbox", f"license_link: {LICENSE_URL}"], body
    )
