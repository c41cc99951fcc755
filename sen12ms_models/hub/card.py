"""What every model card this package writes shares: the Hub metadata header and the citations.

Converted weights (``convert``) and retrained weights (``training.export``) get different
cards, but the same metadata keys, tags and references, so the Hub lists them alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sen12ms_models.models.spec import WeightsSpec

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


def front_matter(spec: WeightsSpec, license_lines: list[str]) -> list[str]:
    """The card's YAML header: ``license_lines`` (``license: ...`` and, for "other", its name and
    link), then library, task, tags (sensors from the input bands, task from the label type) and dataset."""
    return [
        "---",
        *license_lines,
        "library_name: sen12ms-models",
        "pipeline_tag: image-classification",
        "tags:",
        *(f"- {tag}" for tag in _tags(spec)),
        "datasets:",
        "- sen12ms",
        "---",
    ]


def _tags(spec: WeightsSpec) -> list[str]:
    bands = spec.bands or ()
    sensors = [name for name, used in (("sentinel-1", "VV" in bands), ("sentinel-2", "B2" in bands)) if used]
    task = "multi-label-classification" if spec.label_type == "multi" else "single-label-classification"
    return ["remote-sensing", "earth-observation", *sensors, "sen12ms", "land-cover", task, spec.arch, "safetensors"]
