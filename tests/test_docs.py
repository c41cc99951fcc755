"""The docs that code derives (README model table, CLI reference) are current, the README's commands
exist, its Usage snippet runs as written, and every docstring example runs."""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import sen12ms_models
from sen12ms_models.cli.main import main
from tests.support.published import publish

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
    assert tests.endswith(".venv/bin/python -m pytest -q")
    ci = (REPO / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest -q" in ci and "pip install --quiet --progress-bar off -e '.[dev]'" in ci


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


def test_readme_usage_snippet_runs_as_written(hub, tmp_path, monkeypatch, capsys) -> None:
    """Verbatim, from the repository root, once the two models it loads are published (local Hub)."""
    publish(hub, tmp_path, monkeypatch, "resnet50", "s1s2")
    publish(hub, tmp_path, monkeypatch, "resnet50", "s2")
    snippet = re.search(r"## Usage\n\n```python\n(.+?)```", (REPO / "README.md").read_text(), re.DOTALL).group(1)
    monkeypatch.chdir(REPO)
    exec(compile(snippet, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:] == ["(1, 10)", "6 None"]
    assert printed[0].startswith("[[") or printed[0] == "[[]]"


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
