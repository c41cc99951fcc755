"""The model card (``README.md``) of converted weights: provenance, exactness, the toolbox's licence."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from sen12ms_models.bands import BAND_MEAN, BAND_STD, S1_CLIP_DB
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
    found = f"epoch {checkpoint.epoch}" if checkpoint.epoch is not None else "epoch not recorded"
    if checkpoint.best_prec is not None:
        found += f", validation micro F1 {checkpoint.best_prec:.4f} (`best_prec`)"
    reported = "The paper reports no test metrics for this model (its Table 4 is multi-label rgb/s2/s1s2)."
    if paper := paper_metrics(spec.value):
        rows = "\n".join(f"| {name} | {value} |" for name, value in paper.pop("per_class_f1").items())
        reported = card.template("paper_scores.md", rows=rows, **paper)
    body = card.template(
        "converted.md",
        **{key: getattr(spec, key) for key in ("arch", "modality", "label_type", "in_chans", "filename")},
        **entry.to_json(),
        toolbox=TOOLBOX_ARCH_NAMES[spec.arch],
        task=task,
        bands=", ".join(spec.bands),
        input_size="256x256 only (flattening head)" if spec.arch == "densenet121" else "any size; trained on 256x256",
        s1_clip="[{:g}, {:g}]".format(*S1_CLIP_DB),
        mean=[BAND_MEAN[b] for b in spec.bands],
        std=[BAND_STD[b] for b in spec.bands],
        original=checkpoint.path.name,
        original_sha256=checkpoint.sha256,
        found=found,
        max_abs_diff=f"{max_abs_diff:.3g}",
        proof_batch=PROOF_BATCH,
        proof_size=PROOF_SIZE[spec.arch],
        tolerance=f"{TOLERANCE:g}",
        reported=reported,
        terms="\n".join(f"> {line}" if line else ">" for line in TOOLBOX_LICENSE_TERMS.splitlines()),
    )
    return card.model_card(spec, body, license="other", license_name="sen12ms-toolbox", license_link=LICENSE_URL)
