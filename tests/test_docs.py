"""The docs that code derives (README model table, CLI reference) are current, the README's commands
exist, its Usage snippet runs as written, and every docstring example runs."""

from __future__ import annotations

import doctest
import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import sen12ms_models
import sen12ms_models as sm
from sen12ms_models.cli.main import main
from sen12ms_models.datasets.tree import SEASONS
from sen12ms_models.models.base import CONFIG_FILE, ModelSpec, config_json
from tests.support.published import COMMIT, publish

REPO = Path(__file__).resolve().parents[1]


def test_generated_docs_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "docs" / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_opens_with_the_two_newcomer_commands() -> None:
    commands = re.findall(r"```bash\n(.+?)\n```", (REPO / "README.md").read_text())
    main_job, tests = commands[:2]
    assert "sen12ms-models predict examples/data/" in main_job
    path = re.search(r"(examples/data/\S+\.tif)", main_job).group(1)
    assert (REPO / path).is_file()
    command = tests.rpartition(" && ")[2]
    assert command == ".venv/bin/python -m pytest -q -n 2 --dist loadfile"  # one file per worker: its fixtures once
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.rstrip().endswith(command) and "pip install --quiet --progress-bar off -e '.[dev]'" in ci


def test_docs_link_to_existing_pages() -> None:
    for page in (REPO / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([\w-]+\.md)\)", page.read_text()):
            assert (REPO / "docs" / target).is_file(), f"{page.name} links to missing {target}"


def test_readme_quotes_what_the_first_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO / "README.md").read_text()
    main_job = re.findall(r"```bash\n(.+?)\n```", readme)[0]
    arguments = shlex.split(main_job.split("sen12ms-models ", 1)[1])
    assert main(arguments) == 2
    printed = capsys.readouterr().err
    quoted = re.search(r"```\n(sen12ms-models predict: error: .+?)\n```", readme, re.DOTALL).group(1)
    assert " ".join(quoted.split()) == " ".join(printed.split())


#: The models the documented snippets load; each is published on the local Hub for them.
DOCUMENTED_MODELS = [("resnet50", "s1s2"), ("resnet50", "s2"), ("densenet121", "s2")]
PAGES = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]


def snippets(page: str) -> list[str]:
    return re.findall(r"```python\n(.+?)```", (REPO / page).read_text(), re.DOTALL)


@pytest.fixture
def documented_world(hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the docs assume: run from a checkout (``examples/``), SEN12MS unpacked in ``data/SEN12MS``
    (here the example triplet, the season folders and torchgeo's split files), the models published."""
    for arch, modality in DOCUMENTED_MODELS:
        published = publish(hub, tmp_path, monkeypatch, arch, modality)
    default = sm.ResNet50_Weights.DEFAULT
    hub.add_file(
        f"sen12ms-models/{default.value}",
        COMMIT,
        CONFIG_FILE,
        json.dumps(config_json(ModelSpec.of(default), default.filename)).encode(),
    )
    hub.add_ref(f"sen12ms-models/{default.value}", "main", COMMIT)
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "data", work / "examples" / "data")
    shutil.copytree(REPO / "examples" / "data", work / "data" / "SEN12MS")
    for season in SEASONS:
        (work / "data" / "SEN12MS" / season).mkdir(exist_ok=True)
    for split in ("train", "test"):
        (work / "data" / "SEN12MS" / f"{split}_list.txt").write_text("ROIs1158_spring_s2_63_p100.tif\n")
    monkeypatch.chdir(work)
    assert published.manifest.exists()
    return work


@pytest.mark.parametrize("page", [p for p in PAGES if snippets(p)])
def test_every_documented_snippet_runs_as_written(documented_world: Path, page: str) -> None:
    """A page's python snippets, in order, in one namespace, as a reader would run them."""
    namespace: dict[str, object] = {}
    for number, snippet in enumerate(snippets(page), 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sm.InputLevelWarning)  # said where L2A input is documented
            exec(compile(snippet, f"{page} snippet {number}", "exec"), namespace)


def test_every_docstring_example_runs() -> None:
    names = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "sen12ms_models").rglob("*.py")
        if p.name != "__main__.py"
    )
    attempted = 0
    for name in names:
        result = doctest.testmod(
            importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 8  # the examples that run without data or weights
    assert "load_model" in sen12ms_models.__all__
