"""The built wheel holds every subpackage and its data files, and imports them from itself."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = [
    "edgebind", "edgebind.models", "edgebind.transforms", "edgebind.synthetic", "edgebind.cli",
    "edgebind.drivers", "edgebind.training", "edgebind.training.data", "edgebind.export",
]


@pytest.mark.slow
def test_wheel_contains_and_imports_every_subpackage(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("edgebind-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for package in SUBPACKAGES:
        assert package.replace(".", "/") + "/__init__.py" in names, package
    for config in ("imagebind_huge", "edgebind-small", "edgebind-tiny", "open_clip/edgebind-tiny-anchor"):
        assert f"edgebind/models/configs/{config}.json" in names
    for shipped in ("config.json", "model.safetensors"):
        assert f"edgebind/models/pretrained/edgebind-tiny-synthetic/{shipped}" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import importlib, sys\n"
        f"for name in {SUBPACKAGES!r}:\n"
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
