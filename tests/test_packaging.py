"""Packaging: sdist and wheel build, the wheel installs into a fresh venv and works from there."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], check=True, capture_output=True)
    return out


def test_wheel_ships_manifest_lists_and_types(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "sen12ms_models/hub/weights_manifest.json",
        "sen12ms_models/datasets/lists/holdout_scenes.txt",
        "sen12ms_models/datasets/lists/test_list.txt",
        "sen12ms_models/datasets/lists/val_list.txt",
        "sen12ms_models/py.typed",
    ):
        assert expected in names, expected
    assert not any(name.startswith("tests/") for name in names)
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
        "assert sm.__file__.startswith(sys.prefix), sm.__file__; "
        "assert len(s.holdout_scenes()) == 26; "
        "from sen12ms_models.hub.manifest import manifest_path; print(manifest_path()); print(len(sm.list_models()))"
    )
    out = subprocess.run([python, "-c", check], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(venv) in out and out.strip().endswith("20")
    script = venv / "bin" / "sen12ms-models"
    assert "predict" in subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    listing = subprocess.run([script, "list"], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert "resnet50-s1s2-multi" in listing
