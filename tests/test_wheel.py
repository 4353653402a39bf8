"""The built wheel holds every file of the source tree's packages and imports them from itself."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = read_configuration(ROOT / "pyproject.toml")  # as the build reads it; Python 3.10 too
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]  # import name -> folder


def source_files() -> dict[str, Path]:
    """Every file (bytecode aside) of the folders pyproject.toml maps to import names, by its
    path in the wheel."""
    files = {}
    for name, folder in PACKAGE_DIRS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                inside = path.relative_to(ROOT / folder).parts
                files[str(PurePosixPath(*name.split("."), *inside))] = path
    return files


def source_packages() -> list[str]:
    """The importable packages of the source tree: every mapped folder holding an __init__.py."""
    return sorted(str(PurePosixPath(name).parent).replace("/", ".")
                  for name in source_files() if PurePosixPath(name).name == "__init__.py")


def test_the_wheel_checks_derive_from_the_source_tree():
    """The lists the wheel test checks come from the tree; an empty one would check nothing."""
    assert {"edgebind", "edgebind.training.data", "edgebind.drivers"} <= set(source_packages())
    assert "edgebind/models/pretrained/edgebind-tiny-synthetic/model.safetensors" in source_files()


@pytest.mark.slow
def test_wheel_contains_and_imports_every_subpackage(tmp_path):
    # Build from a copy of what the build reads, so the checkout gets no build/ or egg-info.
    src = tmp_path / "src"
    for path in [*source_files().values(), ROOT / "pyproject.toml", ROOT / PYPROJECT["project"]["readme"]]:
        (src / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, src / path.relative_to(ROOT))
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(src)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("edgebind-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(set(source_files()) - names)
    assert not missing, f"the wheel lacks {missing}; list them in pyproject.toml (packages, package-data)"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import importlib, sys\n"
        f"for name in {source_packages()!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(site)!r}), (name, module.__file__)\n"
        "import edgebind\n"
        "assert 'edgebind-tiny' in edgebind.list_models()\n"
        "assert edgebind.create_model('edgebind-tiny-synthetic', modalities=['imu']).modalities\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
