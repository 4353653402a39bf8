"""Trainer: loss, config parsing, exact resume, clean interruption and the caches."""
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from edgebind.config import to_dict
from edgebind.errors import ConfigError
from edgebind.models import get_model_config
from edgebind.training.config import TrainConfig, load_train_config
from edgebind.training.loss import info_nce
from edgebind.training.trainer import Trainer


def test_info_nce_is_symmetric_and_minimal_for_matched_pairs():
    x = torch.eye(4)
    perfect = info_nce(x, x, scale=50.0)
    assert perfect.item() < 1e-3
    shuffled = info_nce(x, x[[1, 0, 3, 2]], scale=50.0)
    assert shuffled.item() > 10
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    torch.testing.assert_close(info_nce(a, b, 10.0), info_nce(b, a, 10.0))
    uniform = info_nce(torch.ones(5, 3), torch.ones(5, 3), 1.0)
    torch.testing.assert_close(uniform, torch.tensor(2 * math.log(5)))


def test_config_file_then_options_then_set(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"stage": "bind", "data": "d", "out": "o", "epochs": 3, "lr": 0.1}))
    cfg = load_train_config(str(path), {"epochs": 5}, ["lr=0.01", "modalities=audio,imu",
                                                        "learn_temperature=true"])
    assert (cfg.epochs, cfg.lr, cfg.modalities, cfg.learn_temperature) == (5, 0.01, ("audio", "imu"), True)
    cfg = load_train_config(None, {"stage": "bind", "data": "d", "out": "o"}, ['data_options={"split": "test"}'])
    assert cfg.data_options == {"split": "test"}


@pytest.mark.parametrize("bad, match", [
    ({"stage": "fly"}, "stage"),
    ({"modalities": ["text"]}, "anchor"),
    ({"precision": "fp8"}, "precision"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_configs_fail_clearly(bad, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{"stage": "bind", "data": "d", "out": "o", **bad})


def test_unknown_set_key():
    with pytest.raises(ConfigError, match=re.escape("--set 'epohcs=3': expected KEY=VALUE")):
        load_train_config(None, {"stage": "bind", "data": "d", "out": "o"}, ["epohcs=3"])


def _cfg(world_dir, out, **kw):
    """The trainer's mechanics on all 12 samples, short final batches included (no validation split)."""
    base = dict(stage="bind", data=str(world_dir), out=str(out), modalities=("imu", "depth"),
                epochs=2, batch_size=8, save_every=2, log_every=1, progress=False, lr=1e-3,
                val_fraction=0.0, drop_last=False)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def drop_path_model(tmp_path_factory) -> Path:
    """edgebind-tiny with drop-path in the IMU and depth trunks: every training step draws random
    numbers, so a resumed run matches only if the RNG state is restored."""
    config = to_dict(get_model_config("edgebind-tiny"))
    for modality in ("imu", "depth"):
        config["modalities"][modality]["trunk"]["drop_path"] = 0.5
    path = tmp_path_factory.mktemp("drop_path") / "edgebind-tiny-drop-path.json"
    path.write_text(json.dumps({**config, "name": "edgebind-tiny-drop-path"}))
    return path


def test_sigterm_mid_epoch_then_resume_matches_an_uninterrupted_run(world_dir, tmp_path, drop_path_model):
    """12 samples in batches of 4: 3 steps per epoch. SIGTERM during step 4 stops the run inside
    epoch 1; resuming must restore the optimizer, schedule, RNG and batch position bit for bit."""
    cfg = dict(model=str(drop_path_model), batch_size=4, save_every=100, cache_dir=str(tmp_path / "cache"))
    Trainer(_cfg(world_dir, tmp_path / "straight", **cfg)).run()
    first = Trainer(_cfg(world_dir, tmp_path / "resumed", **cfg))
    steps = itertools.count(1)

    def interrupt(*_) -> None:
        if next(steps) == 4:  # as `kill -TERM` from outside would, while step 4 runs
            os.kill(os.getpid(), signal.SIGTERM)

    first.optimizer.register_step_post_hook(interrupt)
    assert first.run()["interrupted"]
    resumed = Trainer(_cfg(world_dir, tmp_path / "resumed", **cfg), resume=True)
    assert (resumed.progress.step, resumed.progress.epoch, resumed.progress.batch) == (4, 1, 1)
    assert resumed.run()["steps"] == 6
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    after_resume = load_file(tmp_path / "resumed" / "model.safetensors")
    for key, value in straight.items():
        assert torch.equal(after_resume[key], value), key


def test_bind_trains_only_the_bound_encoders(world_dir, tmp_path):
    trainer = Trainer(_cfg(world_dir, tmp_path / "r", epochs=1))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    changed = {k.split(".")[1] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"imu", "depth"}
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss/imu", "loss/depth", "lr", "samples_per_s"} <= set([line for line in lines if "loss" in line][-1])


def test_caches_are_reused_and_keyed_by_the_frozen_weights(world_dir, tmp_path):
    cache = tmp_path / "cache"  # (no validation: its own inputs would share this cache)
    Trainer(_cfg(world_dir, tmp_path / "r1", epochs=1, cache_dir=str(cache), val_fraction=0)).run()
    files = sorted(p.name for p in cache.iterdir())
    assert any(f.startswith("vision-embeddings-") for f in files)
    image_inputs = next(p for p in cache.iterdir() if p.name.startswith("vision-") and "embeddings" not in p.name)
    image_inputs.unlink()
    Trainer(_cfg(world_dir, tmp_path / "r2", epochs=1, cache_dir=str(cache), val_fraction=0)).run()
    assert not image_inputs.exists()  # embeddings cached: the image inputs are not even read
    assert sorted(p.name for p in cache.iterdir()) == [f for f in files if f != image_inputs.name]
    Trainer(_cfg(world_dir, tmp_path / "r3", epochs=1, cache_dir=str(cache), seed=5, val_fraction=0)).run()
    assert len([p for p in cache.iterdir() if "embeddings" in p.name]) == 2  # other weights, new embeddings


@pytest.mark.slow
def test_sigterm_stops_the_cli_with_a_checkpoint_of_its_last_step(world_dir, tmp_path):
    """`edgebind train` killed at a random moment exits 130 and saves the step it was at (the
    in-process test above shows that resuming from such a checkpoint is exact)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "edgebind.cli.main", "train", "--stage", "bind", "--data", str(world_dir),
           "--out", str(out), "--modalities", "imu", "--epochs", "500", "--batch-size", "4",
           "--set", "progress=false", "--set", "log_every=1", "--set", "save_every=100000",
           "--set", "val_fraction=0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert summary["interrupted"] is True and summary["steps"] == logged[-1] == len(logged) > 1
    resumed = Trainer(_cfg(world_dir, out, modalities=("imu",), epochs=500, batch_size=4), resume=True)
    progress = resumed.progress
    assert progress.step == logged[-1] and progress.epoch * 3 + progress.batch == progress.step  # 3 batches/epoch


def test_bf16_autocast_trains(world_dir, tmp_path):
    trainer = Trainer(_cfg(world_dir, tmp_path / "bf16", epochs=1, precision="bf16"))
    before = trainer.model.state_dict()["modality_heads.imu.2.weight"].clone()
    summary = trainer.run()
    assert all(math.isfinite(v) for v in summary["loss"].values())
    assert not torch.equal(before, trainer.model.state_dict()["modality_heads.imu.2.weight"])


def test_shuffled_pairs_control_breaks_the_correspondence(world_dir, tmp_path):
    plain = Trainer(_cfg(world_dir, tmp_path / "p", epochs=1))
    control = Trainer(_cfg(world_dir, tmp_path / "c", epochs=1, shuffle_pairs=True))
    images, shuffled = plain.pairs.images, control.pairs.images
    assert torch.equal(images.rows, shuffled.rows)
    assert not torch.equal(images.tensors, shuffled.tensors)
    assert torch.equal(images.tensors.sort(0).values, shuffled.tensors.sort(0).values)


def test_materialize_reads_each_sample_once_for_all_modalities(tmp_path):
    from edgebind.errors import InputError
    from edgebind.training.cache import materialize

    reads = []

    def record(i):
        reads.append(i)
        if i == 3:
            raise InputError("corrupt sample")
        return i

    def convert(i, name):
        return None if (name == "b" and i == 0) else torch.full((2,), float(i))

    caches = {"a": tmp_path / "a.safetensors", "b": None}
    out = materialize("toy", 40, record, convert, caches, max_skip_fraction=0.05, progress=False)
    assert reads == list(range(40))
    assert out["a"].rows.tolist() == [i for i in range(40) if i != 3]
    assert out["b"].rows.tolist() == [i for i in range(40) if i not in (0, 3)]
    assert sum(out["a"].skipped.values()) == 1
    again = materialize("toy", 40, record, convert, {"a": caches["a"]}, 0.05, progress=False)
    assert len(reads) == 40 and torch.equal(again["a"].tensors, out["a"].tensors)  # from the cache
    with pytest.raises(InputError, match="1 of 10"):
        materialize("toy", 10, record, convert, {"a": None}, max_skip_fraction=0.05, progress=False)


@pytest.mark.parametrize("stage, workers", [("bind", 0), ("bind", 2), ("anchor", 0)])
def test_streaming_matches_in_memory_training(world_dir, tmp_path, stage, workers):
    """Streaming (for data sets larger than memory) trains on exactly the same pairs."""
    extra = {"modalities": ("imu",)} if stage == "bind" else {}
    memory = Trainer(_cfg(world_dir, tmp_path / "m", stage=stage, epochs=1, **extra))
    memory.run()
    streamed = Trainer(_cfg(world_dir, tmp_path / "s", stage=stage, epochs=1, stream=True,
                            num_workers=workers, **extra))
    assert streamed.pairs.memory == {}
    streamed.run()
    a, b = load_file(tmp_path / "m" / "model.safetensors"), load_file(tmp_path / "s" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5, msg=key)


def test_drop_last_leaves_out_the_short_final_batch(world_dir, tmp_path):
    """12 samples in batches of 8: by default each epoch is one full batch; with drop_last off the
    4 left over make a second step, whose loss would come from 4 samples."""
    for drop_last, steps in ((True, 2), (False, 4)):
        trainer = Trainer(_cfg(world_dir, tmp_path / str(drop_last), drop_last=drop_last))
        assert [len(b) for b in trainer._batches(0)] == ([8] if drop_last else [8, 4])
        assert trainer.run()["steps"] == steps
