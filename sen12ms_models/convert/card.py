"""The model card (``README.md``) of converted weights: provenance, exactness, the toolbox's licence."""

from __future__ import annotations

from sen12ms_models.bands import PATCH_SIZE
from sen12ms_models.convert.checkpoint import ToolboxCheckpoint
from sen12ms_models.convert.proof import PROOF_BATCH, RESNET_PROOF_SIZE, TOLERANCE
from sen12ms_models.convert.toolbox_reference import TOOLBOX_ARCH_NAMES
from sen12ms_models.hub.card import CITATIONS, front_matter
from sen12ms_models.models.spec import WeightsSpec

#: The manifest's ``license`` of converted weights: they carry the toolbox's terms.
LICENSE = "SEN12MS toolbox licence: evaluation, education and research only; no commercial use"
LICENSE_URL = "https://github.com/schmitt-muc/SEN12MS/blob/master/LICENSE.txt"

#: The toolbox's copyright notice and licence terms, which must accompany every copy.
TOOLBOX_LICENSE_TERMS = """\
Copyright notice:

Copyright © 2021 University of the Bundeswehr, Department of Aerospace Engineering, Institute of Space Technology \
and Space Applications, Werner-Heisenberg-Weg 39, 85577 Neubiberg, Germany.
All rights reserved.
Contact: Prof. Michael Schmitt, michael.schmitt@unibw.de, +49 89 6004-4426, https://www.unibw.de/lrt9/lrt-9.3/.

License Terms:
1) You are hereby granted a royalty-free, non-exclusive license to use this software and related documentation, \
including data (the "Software"), for evaluation, educational and research purposes, to make copies (duplicates) of \
the Software and to use the same, to publish the Software, parts and copies thereof and to make it available to \
other persons.
2) The above copyright notice and the present license terms must be included in all copies, \
transmissions/disseminations and publications of the software or parts thereof.
3) Publications of any kind using the software, parts or copies thereof must contain a proper notice: The above \
copyright notice in the case of non-scientific publications, or appropriate references (see \
https://github.com/schmitt-muc/SEN12MS/#sen12ms-toolbox) in the case of scientific publications.
4) This license does not allow to use the software, parts or copies of it in a commercial context. For commercial \
uses, such as sales or marketing in particular, an individual written agreement must be concluded with the licensor.
5) Violations of these license terms will result in the termination of the license and the permission to use \
granted with it. In addition, such violations may as copyright infringements give rise to civil claims against the \
licensee and may even be subject to criminal prosecution.
6) The free granting of rights to use the software in the above-mentioned form is made without warranty. In \
particular, no guarantees are made with regard to its correctness, accuracy, completeness or usability. The Licensor \
therefore provides no warranty for the suitability of the software for a specific purpose or for the economic and \
commercial usability of the software. To the extent permitted by law, the liability of the Licensor, its legal \
representatives and vicarious agents shall be limited to damages caused intentionally or by gross negligence and \
excluded for mere financial losses and lost profits as well as damages arising in connection with the use of the \
Software. Furthermore, there shall be no liability for the infringement of third party property rights by the \
Licensee as a result of the use of the Software.
7) This License Agreement shall be governed by German law excluding the conflict of law provisions. The exclusive \
place of jurisdiction for disputes arising from or in connection with this agreement is Munich, Germany."""


def model_card(spec: WeightsSpec, checkpoint: ToolboxCheckpoint, max_abs_diff: float) -> str:
    """A Hugging Face model card (``README.md``) for converted weights: provenance, licence, citations."""
    task = f"multi-label (sigmoid >= {spec.threshold})" if spec.label_type == "multi" else "single-label (argmax)"
    size = "256x256 only (flattening head)" if spec.arch == "densenet121" else "any size; trained on 256x256"
    toolbox = TOOLBOX_ARCH_NAMES[spec.arch]
    found = f"epoch {checkpoint.epoch}" if checkpoint.epoch is not None else "epoch not recorded"
    if checkpoint.best_prec is not None:
        found += f", validation micro F1 {checkpoint.best_prec:.4f} (`best_prec`)"
    proof_size = PATCH_SIZE if spec.arch == "densenet121" else RESNET_PROOF_SIZE
    lines = [
        *front_matter(spec, ["license: other", "license_name: sen12ms-toolbox", f"license_link: {LICENSE_URL}"]),
        "",
        f"# {spec.name}",
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
        f"- Input: {spec.in_chans} channels in this order: {', '.join(spec.bands or ())}; {size}.",
        "- Preprocessing: S1 NaN -> 0 and clipped to [-25, 0] dB; then `(x - mean) / std` per channel",
        f"  with mean {list(spec.mean)} and std {list(spec.std)} (`spec.transforms`).",
        f"- Output: 10 logits; {task}.",
        "",
        "## Provenance",
        "",
        f"- Original file: `{checkpoint.path.name}`, sha256 `{checkpoint.sha256}` ({found}).",
        f"- This file: `{spec.filename}`, sha256 `{spec.sha256}`, {spec.size} bytes.",
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


def _metrics_section(spec: WeightsSpec) -> list[str]:
    if not spec.metrics:
        return ["", "The paper reports no test metrics for this model (its Table 4 is multi-label rgb/s2/s1s2)."]
    metrics = spec.metrics
    rows = [f"| {name} | {value} |" for name, value in metrics["per_class_f1"].items()]
    return [
        "",
        f"## Test metrics ({metrics['reference']})",
        "",
        f"F1 in %, {metrics['split']}.",
        "",
        "| class | F1 |",
        "|---|---|",
        *rows,
        f"| **Average F1** (macro) | {metrics['average_f1']} |",
        f"| **Overall F1** (micro) | {metrics['overall_f1']} |",
    ]
