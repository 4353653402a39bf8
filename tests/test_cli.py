"""The `edgebind` command: subcommands, help, outputs and error exits."""
import subprocess
import sys

import numpy as np
import pytest

from edgebind.cli.main import main


def test_help_lists_subcommands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "embed", "models"):
        assert command in out


def test_subcommand_help_has_examples(capsys):
    try:
        main(["embed", "--help"])
    except SystemExit:
        pass
    assert "examples:" in capsys.readouterr().out


def test_models_lists_configs(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "imagebind_huge" in out and "edgebind-tiny" in out


def test_embed_writes_npy_for_files(world, tmp_path, capsys):
    out = tmp_path / "audio.npy"
    paths = [str(s.paths["audio"]) for s in world[:3]]
    assert main(["embed", "--modality", "audio", *paths, "--out", str(out)]) == 0
    vectors = np.load(out)
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_embed_text_prints_vectors(capsys):
    assert main(["embed", "--modality", "text", "a dog barking"]) == 0
    assert capsys.readouterr().out.startswith("a dog barking: [")


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....nonsense")
    assert main(["embed", "--modality", "audio", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"audio: cannot decode {bad} (" in err and "Traceback" not in err


@pytest.mark.slow
def test_console_script_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edgebind.cli.main", "demo", "--samples", "8", "--classes", "4",
         "--out", str(tmp_path / "world")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "R@1" in result.stdout and "imu" in result.stdout
    assert (tmp_path / "world" / "manifest.jsonl").is_file()


def test_embed_every_file_kind(world, tmp_path):
    """image PNG, depth 16-bit PNG and .npy, thermal .npy and 16-bit TIFF, imu CSV and .npy."""
    from PIL import Image

    sample = world[0]
    depth_m = np.asarray(Image.open(sample.paths["depth"]), dtype=np.float32) / 1000.0
    np.save(tmp_path / "depth.npy", depth_m)
    kelvin = np.load(sample.paths["thermal"])
    Image.fromarray((kelvin * 100).astype(np.uint16)).save(tmp_path / "thermal.tif")
    imu = np.loadtxt(sample.paths["imu"], delimiter=",", skiprows=1)[:, 1:].astype(np.float32)
    np.save(tmp_path / "imu.npy", imu)
    cases = {
        "image": [sample.paths["vision"]],
        "depth": [sample.paths["depth"], tmp_path / "depth.npy"],
        "thermal": [sample.paths["thermal"], tmp_path / "thermal.tif"],
        "imu": [sample.paths["imu"], tmp_path / "imu.npy"],
    }
    for modality, files in cases.items():
        out = tmp_path / f"{modality}.npy"
        assert main(["embed", "--modality", modality, *map(str, files), "--out", str(out)]) == 0
        vectors = np.load(out)
        assert vectors.shape == (len(files), 64)
        if len(files) == 2:  # the same scene in two file formats embeds (nearly) identically
            assert float(vectors[0] @ vectors[1]) > 0.999, modality
