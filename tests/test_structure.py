"""The layout's promises: small modules, no import cycle, light imports, every fact stated once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sen12ms_models"
MAX_LINES = 350


def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (a package is its ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Package modules ``name`` imports when it is executed: top-level imports only (not inside
    functions, not under ``if TYPE_CHECKING:``), each with the packages above it that Python runs first."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    edges = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            # a module's own parent packages are already being imported: not an edge of its own
            if candidate in known and candidate != name and not name.startswith(candidate + "."):
                edges.add(candidate)
    return edges


def test_no_module_is_longer_than_350_lines() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_no_import_cycle_among_the_package_modules() -> None:
    found = modules()
    graph = {name: module_level_imports(name, path, set(found)) for name, path in found.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles
    assert graph["sen12ms_models.models.spec"] and graph["sen12ms_models.cli.main"]  # the scan sees imports


def test_the_checker_finds_a_cycle_when_there_is_one(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from pkg import b\n")
    known = {"pkg", "pkg.a", "pkg.b"}
    assert module_level_imports("pkg.a", tmp_path / "a.py", known) == {"pkg.b"}


def imported_after(code: str) -> set[str]:
    probe = f"import sys; {code}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_importing_the_package_or_asking_the_cli_its_version_loads_no_heavy_library() -> None:
    heavy = {"torch", "torchvision", "rasterio", "huggingface_hub", "safetensors"}
    assert not imported_after("import sen12ms_models") & (heavy | {"argparse"})
    assert not imported_after("import sen12ms_models.cli.main") & heavy


def test_each_band_statistic_is_written_once_in_the_package() -> None:
    sources = [p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".json")]
    for value in ("1226.4215", "741.6254", "-11.76858", "4.3586307"):
        hits = [(p.name, line) for p in sources for line in p.read_text().splitlines() if value in line]
        assert len(hits) == 1, (value, hits)


def test_the_module_paths_of_0_1_still_import_with_a_deprecation_warning() -> None:
    probe = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import sen12ms_models.datasets as new\n"
        "try:\n    import sen12ms_models.io\nexcept DeprecationWarning as w:\n    print('warned:', w)\n"
        "warnings.simplefilter('ignore')\n"
        "from sen12ms_models.io import read_patch\n"
        "from sen12ms_models.weights import get_weights\n"
        "print(read_patch is new.read_patch, get_weights('resnet50', 's1s2').name)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "warned: sen12ms_models.io moved to sen12ms_models.datasets" in result.stdout
    assert result.stdout.strip().endswith("True resnet50-s1s2-multi")
