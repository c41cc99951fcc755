"""What every model card this package writes (``convert``'s, ``export``'s) shares: the Hub metadata and citations."""

from __future__ import annotations

from sen12ms_models.weights import Sen12msWeights

CITATIONS = """\
@article{schmitt2021classification,
  author  = {Schmitt, Michael and Wu, Yu-Lun},
  title   = {Remote sensing image classification with the {SEN12MS} dataset},
  journal = {ISPRS Annals of the Photogrammetry, Remote Sensing and Spatial Information Sciences},
  volume  = {V-2-2021},
  pages   = {101--106},
  year    = {2021},
  doi     = {10.5194/isprs-annals-V-2-2021-101-2021}
}
@article{schmitt2019sen12ms,
  author  = {Schmitt, Michael and Hughes, Lloyd Haydn and Qiu, Chunping and Zhu, Xiao Xiang},
  title   = {{SEN12MS} -- a curated dataset of georeferenced multi-spectral {Sentinel-1/2} imagery for deep
             learning and data fusion},
  journal = {ISPRS Annals of the Photogrammetry, Remote Sensing and Spatial Information Sciences},
  volume  = {IV-2/W7},
  pages   = {153--160},
  year    = {2019},
  doi     = {10.5194/isprs-annals-IV-2-W7-153-2019}
}"""


def model_card(weights: Sen12msWeights, license_lines: list[str], body: str) -> str:
    """The ``README.md`` of ``weights``: the Hub's YAML header (``license_lines``, library, task, tags from the
    bands and label type, dataset), ``# <name>``, ``body`` (markdown) and the citations."""
    sensors = [name for name, band in (("sentinel-1", "VV"), ("sentinel-2", "B2")) if band in weights.bands]
    task = f"{weights.label_type}-label-classification"
    tags = ["remote-sensing", "earth-observation", *sensors, "sen12ms", "land-cover", task, weights.arch, "safetensors"]
    header = [
        "---",
        *license_lines,
        "library_name: sen12ms-models",
        "pipeline_tag: image-classification",
        "tags:",
        *(f"- {tag}" for tag in tags),
        "datasets:",
        "- sen12ms",
        "---",
    ]
    citation = ["## Citation", "", "```bibtex", CITATIONS, "```", ""]
    return "\n".join([*header, "", f"# {weights.value}", "", body.strip("\n"), "", *citation])
