"""The model card (``README.md``) of converted weights: provenance, exactness, the toolbox's licence."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from sen12ms_models.bands import BAND_MEAN, BAND_STD
from sen12ms_models.convert.toolbox import PROOF_BATCH, PROOF_SIZE, TOLERANCE, TOOLBOX_ARCH_NAMES
from sen12ms_models.hub.card import CITATIONS, front_matter
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
    lines = [
        *front_matter(spec, ["license: other", "license_name: sen12ms-toolbox", f"license_link: {LICENSE_URL}"]),
        "",
        f"# {spec.value}",
        "",
        f"The SEN12MS baseline {toolbox} for `{spec.modality}` input, {task} scene classification into",
        "the 10 simplified IGBP classes, as released by the authors of the SEN12MS toolbox, converted",
        "to safetensors by `sen12ms-models convert` (no retraining: the very weights they published).",
        "",
        "## Use",
        "",
        "```python",
        "import sen12ms_models as sm",
        "",
        f'model = sm.load_model("{spec.arch}", "{spec.modality}", "{spec.label_type}", weights="{spec.filename}")',
        "```",
        "",
        f"- Input: {spec.in_chans} channels in this order: {', '.join(spec.bands)}; {size}.",
        "- Preprocessing: S1 clipped to [-25, 0] dB; then `(x - mean) / std` per channel with mean",
        f"  {[BAND_MEAN[b] for b in spec.bands]} and std {[BAND_STD[b] for b in spec.bands]} (`weights.transforms()`).",
        f"- Output: 10 logits; {task}.",
        "",
        "## Provenance",
        "",
        f"- Original file: `{checkpoint.path.name}`, sha256 `{checkpoint.sha256}` ({found}).",
        f"- This file: `{spec.filename}`, sha256 `{entry.sha256}`, {entry.size} bytes.",
        f"- Exactness: the original state dict in a re-statement of the toolbox's {toolbox} wrapper and",
        f"  this file in `sen12ms_models` give logits differing by at most {max_abs_diff:.3g} (float32,",
        f"  eval mode, {PROOF_BATCH} seeded N(0, 1) inputs of {proof_size}x{proof_size}; tolerance {TOLERANCE:g}).",
        *_metrics_section(spec),
        "",
        "## Licence",
        "",
        "These weights are the SEN12MS toolbox's and carry its terms: evaluation, educational and",
        "research use only, **no commercial use** without a written agreement with the licensor. The",
        "terms require this notice in every copy:",
        "",
        *(f"> {line}" if line else ">" for line in TOOLBOX_LICENSE_TERMS.splitlines()),
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATIONS,
        "```",
        "",
    ]
    return "\n".join(lines)


def _metrics_section(spec: Sen12msWeights) -> list[str]:
    """The paper's Table 4 for this model: the scores its authors report, not measured on this file."""
    metrics = paper_metrics(spec.value)
    if not metrics:
        return ["", "The paper reports no test metrics for this model (its Table 4 is multi-label rgb/s2/s1s2)."]
    return [
        "",
        f"## Reported by the paper ({metrics['reference']})",
        "",
        f"F1 in %, {metrics['split']}, as the paper reports them for the toolbox's model: not measured on",
        "this file (measure it with `sen12ms-models evaluate --weights FILE`).",
        "",
        "| class | F1 |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in metrics["per_class_f1"].items()),
        f"| **Average F1** (macro) | {metrics['average_f1']} |",
        f"| **Overall F1** (micro) | {metrics['overall_f1']} |",
    ]
