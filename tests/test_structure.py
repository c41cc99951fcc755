"""The layout's promises: layers that only point down, no cycle between parts, light imports, facts stated once.

Every import counts: at module level, inside functions and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sen12ms_models"

#: The layers, bottom first: a part may import its own layer's parts or lower ones, never higher.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_types", "errors", "bands", "classes", "labels", "paper", "_progress"),
    ("transforms",),
    ("weights",),
    ("inputs",),
    ("hub",),
    ("models",),
    ("prediction",),
    ("mapping",),
    ("datasets", "synthetic"),
    ("training", "convert"),
    ("plots", "interop"),
    ("cli",),
    ("__init__", "__main__"),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str, package: str, parts: set[str]) -> str | None:
    """The part (top-level module or subpackage, one of ``parts``) of a dotted name inside
    ``package``; a name the package's ``__init__`` defines belongs to ``__init__``."""
    names = module.split(".")
    if names[0] != package:
        return None
    return names[1] if len(names) > 1 and names[1] in parts else "__init__"


def part_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Part -> the parts its modules import, anywhere in their code."""
    parts = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        dotted = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(dotted[:-1] if dotted[-1] == "__init__" else dotted)
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own = str(part_of(name, package, parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            found = {p for t in targets if (p := part_of(t, package, parts)) is not None}
            graph.setdefault(own, set()).update(found - {own})
        graph.setdefault(own, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first search meets in ``graph``."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_part_has_a_layer_and_imports_only_its_own_or_lower_layers() -> None:
    graph = part_graph(PACKAGE, "sen12ms_models")
    assert set(graph) <= set(RANK), f"parts without a layer: {set(graph) - set(RANK)}"
    upward = {(a, b) for a, targets in graph.items() for b in targets if RANK[b] > RANK[a]}
    assert not upward
    assert not cycles(graph)
    assert graph["models"] and graph["cli"]  # the scan sees imports


def test_the_checker_finds_a_cycle_inside_a_function_and_under_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("def f():\n    from pkg.high import b\n")
    (pkg / "high.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.low import a\n")
    graph = part_graph(pkg, "pkg")
    assert graph["low"] == {"high"} and graph["high"] == {"low"}
    assert cycles(graph) == [["high", "low", "high"]]


def imported_after(code: str) -> set[str]:
    probe = f"import sys; {code}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "code", ["import sen12ms_models", "import sen12ms_models.cli.main", "import sen12ms_models.weights"]
)
def test_the_package_the_cli_and_the_weights_load_no_heavy_library(code: str) -> None:
    heavy = {"torch", "torchvision", "rasterio", "safetensors", "huggingface_hub"}
    assert not imported_after(code) & heavy


def test_each_band_statistic_and_the_repo_rule_are_written_once() -> None:
    sources = [p for p in (*PACKAGE.rglob("*.py"), PACKAGE.parent / "weights_manifest.json")]
    for value in ("1226.4215", "741.6254", "-11.76858", "4.3586307", '"resnet50", "densenet121"'):
        hits = [(p.name, line) for p in sources for line in p.read_text().splitlines() if value in line]
        assert len(hits) == 1, (value, hits)
    code = [p for p in PACKAGE.rglob("*.py")]
    assert not [p.name for p in code if "sen12ms-models/{" in p.read_text()], "the repo-id rule belongs to the manifest"


def test_no_test_tool_ships_in_the_package() -> None:
    names = {p.stem for p in PACKAGE.rglob("*.py")}
    assert not names & {"hub_server", "hub_env", "published", "testing"}
    assert not (PACKAGE / "datasets" / "lists" / "test_list.txt").exists()
