"""The model cards this package writes (``convert``'s, ``export``'s): the Markdown templates of this folder filled
with ``string.Template``, under the Hub's metadata and above the citations (``citations.bib``)."""

from __future__ import annotations

from importlib import resources
from string import Template
from typing import Any

from huggingface_hub import ModelCardData

from sen12ms_models.weights import Sen12msWeights


def template(name: str, **values: object) -> str:
    """The template ``name`` (a file of this folder) filled with ``values``."""
    return Template((resources.files(__package__) / name).read_text(encoding="utf-8")).substitute(values).strip("\n")


def model_card(weights: Sen12msWeights, body: str, **license: Any) -> str:
    """The ``README.md`` of ``weights``: the Hub's YAML header (``license``'s fields, library, task, tags from the
    bands and label type, dataset), ``# <name>``, ``body`` (Markdown) and the citations."""
    sensors = [name for name, band in (("sentinel-1", "VV"), ("sentinel-2", "B2")) if band in weights.bands]
    task = f"{weights.label_type}-label-classification"
    tags = ["remote-sensing", "earth-observation", *sensors, "sen12ms", "land-cover", task, weights.arch, "safetensors"]
    metadata = ModelCardData(
        library_name="sen12ms-models", pipeline_tag="image-classification", tags=tags, datasets=["sen12ms"], **license
    )
    citations = template("citations.bib")
    return (
        f"---\n{metadata.to_yaml()}\n---\n\n# {weights.value}\n\n{body}\n\n## Citation\n\n```bibtex\n{citations}\n```\n"
    )
