"""Packaging: sdist and wheel build, the wheel installs into a fresh venv and works from there."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What only the tests use: the fake Hub server and its helpers, the published file lists.
TEST_TOOLS = ("hub_server", "hub_env", "published.py", "test_list.txt", "val_list.txt", "testing/", "tests/")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], check=True, capture_output=True)
    return out


def test_wheel_ships_the_manifest_lists_types_and_card_templates_and_no_test_tools(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for expected in (
            "sen12ms_models/weights_manifest.json",
            "sen12ms_models/datasets/lists/holdout_scenes.txt",
            "sen12ms_models/datasets/lists/val_scenes.txt",
            "sen12ms_models/py.typed",
            "sen12ms_models/convert/TOOLBOX_LICENSE.txt",
            *(f"sen12ms_models/hub/{card}" for card in ("retrained.md", "converted.md", "paper_scores.md")),
            "sen12ms_models/hub/citations.bib",
        ):
            assert expected in names, expected
        # the one manifest: the repository's top-level file, byte for byte
        assert archive.read("sen12ms_models/weights_manifest.json") == (REPO / "weights_manifest.json").read_bytes()
    shipped_tools = sorted(name for name in names if any(tool in name for tool in TEST_TOOLS))
    assert shipped_tools == []
    result = subprocess.run([sys.executable, "-m", "twine", "check", *map(str, dist.iterdir())], capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_installs_into_a_fresh_venv_and_runs(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    # The heavy dependencies (torch, rasterio...) come from this environment, behind the wheel's own copy.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = (
        "import sen12ms_models as sm, sen12ms_models.datasets.splits as s, sys; "
        "from sen12ms_models.weights import manifest_path, read_manifest; "
        "assert sm.__file__.startswith(sys.prefix), sm.__file__; "
        "assert len(s.holdout_scenes()) == 26; "
        "print(manifest_path()); print(len(read_manifest())); print(len(sm.list_models()))"
    )
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path)}  # no SEN12MS_MODELS_MANIFEST from this shell
    out = subprocess.run([python, "-c", check], capture_output=True, text=True, check=True, cwd=tmp_path, env=env)
    manifest, entries, models = out.stdout.split()
    assert Path(manifest) == Path(site) / "sen12ms_models" / "weights_manifest.json"  # the wheel's, not the repo's
    assert (entries, models) == ("20", "20")
    script = venv / "bin" / "sen12ms-models"
    assert "predict" in subprocess.run([script, "--help"], capture_output=True, text=True, check=True, env=env).stdout
    listing = subprocess.run(
        [script, "list", "--json"], capture_output=True, text=True, check=True, cwd=tmp_path, env=env
    ).stdout
    rows = json.loads(listing)
    assert len(rows) == 20 and "resnet50-s1s2-multi" in {row["name"] for row in rows}
    assert all(row["repo_id"] == f"sen12ms-models/{row['name']}" for row in rows)  # read from the shipped manifest
