"""The `edgebind` command: subcommands, help, outputs and error exits."""
import json
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
    for command in ("demo", "embed", "models", "record", "extract", "devices"):
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
    paths = [str(s.inputs["audio"]) for s in world[:3]]
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
    depth_m = np.asarray(Image.open(sample.inputs["depth"]), dtype=np.float32) / 1000.0
    np.save(tmp_path / "depth.npy", depth_m)
    kelvin = np.load(sample.inputs["thermal"])
    Image.fromarray((kelvin * 100).astype(np.uint16)).save(tmp_path / "thermal.tif")
    imu = np.loadtxt(sample.inputs["imu"], delimiter=",", skiprows=1)[:, 1:].astype(np.float32)
    np.save(tmp_path / "imu.npy", imu)
    cases = {
        "image": [sample.inputs["vision"]],
        "depth": [sample.inputs["depth"], tmp_path / "depth.npy"],
        "thermal": [sample.inputs["thermal"], tmp_path / "thermal.tif"],
        "imu": [sample.inputs["imu"], tmp_path / "imu.npy"],
    }
    for modality, files in cases.items():
        out = tmp_path / f"{modality}.npy"
        assert main(["embed", "--modality", modality, *map(str, files), "--out", str(out)]) == 0
        vectors = np.load(out)
        assert vectors.shape == (len(files), 64)
        if len(files) == 2:  # the same scene in two file formats embeds (nearly) identically
            assert float(vectors[0] @ vectors[1]) > 0.999, modality


def test_embed_skip_bad_keeps_rows_traceable(world, tmp_path, capsys):
    """--skip-bad embeds the readable inputs, says what was skipped and why, and the JSON beside
    the .npy names each row's input; the same inputs without --skip-bad stop at the bad one."""
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....nonsense")
    good = [str(s.inputs["audio"]) for s in world[:2]]
    inputs = [good[0], str(bad), good[1]]
    assert main(["embed", "--modality", "audio", *inputs, "--out", str(tmp_path / "x")]) == 2
    assert f"audio input 1 ({bad})" in capsys.readouterr().err and not (tmp_path / "x.npy").exists()
    assert main(["embed", "--modality", "audio", *inputs, "--skip-bad", "--out", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert f"skipped audio input 1 ({bad})" in out and f"to {tmp_path / 'x.npy'} " in out
    index = json.loads((tmp_path / "x.json").read_text())
    assert index["rows"] == good and [s["position"] for s in index["skipped"]] == [1]
    vectors = np.load(tmp_path / "x.npy")
    alone = main(["embed", "--modality", "audio", good[1], "--out", str(tmp_path / "one.npy")])
    assert alone == 0 and np.allclose(vectors[1], np.load(tmp_path / "one.npy")[0], atol=1e-6)


def test_embed_camera_and_units_options(world, tmp_path, capsys):
    depth = str(world[0].inputs["depth"])
    runs = {}
    for name, options in {"default": [], "d435": ["--camera", "realsense_d435"],
                          "explicit": ["--baseline-m", "0.05", "--focal-px", "383"]}.items():
        assert main(["embed", "--modality", "depth", depth, "--out", str(tmp_path / name), *options]) == 0
        runs[name] = np.load(tmp_path / f"{name}.npy")
    assert np.allclose(runs["d435"], runs["explicit"], atol=1e-6)
    assert not np.allclose(runs["d435"], runs["default"], atol=1e-3)
    celsius = np.full((32, 32), 25.0, np.float32)
    np.save(tmp_path / "c.npy", celsius)
    np.save(tmp_path / "k.npy", celsius + 273.15)
    assert main(["embed", "--modality", "thermal", str(tmp_path / "c.npy"), "--units", "celsius",
                 "--out", str(tmp_path / "c_out")]) == 0
    assert main(["embed", "--modality", "thermal", str(tmp_path / "k.npy"), "--out", str(tmp_path / "k_out")]) == 0
    assert np.allclose(np.load(tmp_path / "c_out.npy"), np.load(tmp_path / "k_out.npy"), atol=1e-5)
    capsys.readouterr()
    assert main(["embed", "--modality", "audio", depth, "--camera", "realsense_d435"]) == 2
    assert "--camera applies to --modality depth, not audio" in capsys.readouterr().err
    assert main(["embed", "--modality", "depth", depth, "--baseline-m", "0.05"]) == 2
    assert "--baseline-m and --focal-px go together" in capsys.readouterr().err


def test_embed_refuses_random_weights_and_bad_outputs_before_working(world, tmp_path, capsys):
    audio = str(world[0].inputs["audio"])
    assert main(["embed", "--model", "edgebind-tiny", "--modality", "audio", audio]) == 2
    assert "edgebind-tiny's audio encoder has random, untrained weights" in capsys.readouterr().err
    assert main(["embed", "--model", "edgebind-tiny", "--modality", "audio", audio,
                 "--allow-random-weights"]) == 0
    (tmp_path / "file").write_text("")
    assert main(["embed", "--modality", "audio", audio, "--out", str(tmp_path / "file" / "x.npy")]) == 2
    assert f"--out {tmp_path / 'file'} is an existing file, not a directory" in capsys.readouterr().err


def test_user_errors_are_messages_before_any_work(tmp_path, capsys, mini_run):
    """Bad outputs, prompts and data kinds exit 2 with a message naming the problem, and before
    the evaluation or the demo runs (nothing is written)."""
    out, _ = mini_run
    common = ["eval", "--model", str(out / "bind"), "--data", str(out / "world" / "test"), "--task", "zeroshot",
              "--modality", "audio"]
    (tmp_path / "file").write_text("")
    cases = {
        "--json {tmp}/file/r.json": (common + ["--json", str(tmp_path / "file" / "r.json")],
                                     f"--json {tmp_path / 'file'} is an existing file"),
        "prompts": (common + ["--prompts", str(tmp_path / "p.json")], "prompt string or non-empty list"),
        "demo --out file": (["demo", "--out", str(tmp_path / "file")], "is an existing file, not a directory"),
        "data kind": (["eval", "--model", str(out / "bind"), "--data", "foo:/tmp", "--task", "zeroshot",
                       "--modality", "audio"], "unknown data set kind 'foo'; choose one of: audioset"),
    }
    (tmp_path / "p.json").write_text(json.dumps({"dog": 3}))
    for name, (argv, message) in cases.items():
        capsys.readouterr()
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (name, err)


def test_train_option_errors_are_messages(world_dir, tmp_path, capsys):
    base = ["train", "--stage", "bind", "--data", str(world_dir)]
    cases = [(base, "missing required key(s) ['out']"),
             (base + ["--out", str(tmp_path / "r"), "--set", "max_skip_fraction=abc"],
              "max_skip_fraction takes a float value, got 'abc'")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_help_and_models_start_without_torch():
    """`edgebind --help` and `edgebind models` answer at once: they never import torch."""
    code = ("import sys\nfrom edgebind.cli.main import main\nmain(['models'])\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch loaded:', 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "edgebind-tiny-synthetic  trained" in result.stdout
    assert result.stdout.strip().endswith("torch loaded: False")


def test_a_fresh_train_refuses_an_existing_run(world_dir, tmp_path, capsys):
    """A second fresh run into the same --out would overwrite the checkpoint and append to the old
    metrics: it is refused unless --overwrite (then the metrics start anew) or --resume."""
    argv = ["train", "--stage", "bind", "--data", str(world_dir), "--modalities", "imu", "--out",
            str(tmp_path / "run"), "--max-steps", "2", "--batch-size", "6", "--set", "log_every=5",
            "--set", "val_fraction=0", "--set", "progress=false"]
    assert main(argv) == 0
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [2]  # fewer steps than log_every: still logged
    capsys.readouterr()
    assert main(argv) == 2
    assert "holds a run already (model.safetensors, metrics.jsonl): pass --resume" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
