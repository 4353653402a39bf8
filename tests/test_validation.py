"""Validation during training: the held-out split, the logged emergent metrics, the best checkpoint
and every stop reason (max_steps, time budget, plateau)."""
import json

import pytest
import torch
from safetensors.torch import load_file

from edgebind.errors import ConfigError
from edgebind.models import load_model
from edgebind.training.config import TrainConfig
from edgebind.training.data.manifest import ManifestDataset
from edgebind.training.trainer import Trainer
from edgebind.training.validation import hold_out


def _cfg(world_dir, out, **kw):
    base = dict(stage="bind", data=str(world_dir), out=str(out), modalities=("imu", "depth"), max_steps=4,
                batch_size=4, val_every=2, log_every=1, progress=False)
    return TrainConfig(**{**base, **kw})


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_hold_out_is_seeded_disjoint_and_needs_two_samples(world_dir):
    data = ManifestDataset(world_dir)
    train, val = hold_out(data, 0.25, seed=0)
    again, _ = hold_out(data, 0.25, seed=0)
    other, _ = hold_out(data, 0.25, seed=1)
    assert (len(train), len(val)) == (9, 3) and not set(train.indices) & set(val.indices)
    assert train.indices == again.indices != other.indices
    assert train.fingerprint() != val.fingerprint() and train.classes == data.classes
    with pytest.raises(ConfigError, match="val_fraction=0"):
        hold_out(ManifestDataset(world_dir), 0.99, seed=0)


@pytest.mark.slow
def test_validation_logs_emergent_metrics_and_keeps_the_best(world_dir, tmp_path, capsys):
    out = tmp_path / "run"
    summary = Trainer(_cfg(world_dir, out, val_fraction=0.25)).run()
    assert summary["steps"] == 4 and summary["stopped"] == "reached max_steps=4"
    val = [entry for entry in _log(out) if "val/score" in entry]
    assert [entry["step"] for entry in val] == [2, 4]
    expected = {"val/zeroshot/imu", "val/zeroshot/depth", "val/R@1/imu<->depth"}
    assert expected <= set(val[0]) and all(0 <= val[0][k] <= 1 for k in expected)
    best = json.loads((out / "best" / "validation.json").read_text())
    assert best["step"] == summary["best"]["step"] and best["val/score"] == max(v["val/score"] for v in val)
    assert load_model(out / "best") is not None
    assert "stopped at step 4: reached max_steps=4; best validation score" in capsys.readouterr().err


@pytest.mark.slow
def test_validating_does_not_change_training(world_dir, tmp_path):
    trainer = Trainer(_cfg(world_dir, tmp_path / "a", val_every=1))
    often = trainer.run()
    rarely = Trainer(_cfg(world_dir, tmp_path / "b", val_every=100)).run()
    assert often["steps"] == rarely["steps"] == 4
    trunks = trainer.model.modality_trunks  # each module's train/eval mode is back as training set it
    assert trunks["imu"].training and trunks["depth"].training and not trunks["vision"].training
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_plateau_stops_the_run(world_dir, tmp_path):
    summary = Trainer(_cfg(world_dir, tmp_path / "p", max_steps=50, val_every=1, patience=2,
                           min_delta=1.0)).run()
    # the first evaluation is a best (anything beats none); no later one gains 1.0
    assert summary["steps"] == 3 and summary["stopped"].startswith("validation plateau")
    assert summary["best"]["step"] == 1 and summary["interrupted"] is False


def test_time_budget_stops_the_run(world_dir, tmp_path):
    summary = Trainer(_cfg(world_dir, tmp_path / "t", max_steps=10_000, max_minutes=1e-4, val_fraction=0)).run()
    assert summary["steps"] < 10 and summary["stopped"].startswith("time budget")
    assert "best" not in summary


def test_anchor_validates_image_zeroshot_and_explicit_val_data(world_dir, tmp_path):
    out = tmp_path / "anchor"
    Trainer(_cfg(world_dir, out, stage="anchor", max_steps=2, val_data=str(world_dir))).run()
    val = [entry for entry in _log(out) if "val/score" in entry]
    assert len(val) == 1 and "val/zeroshot/vision" in val[0]


@pytest.mark.slow
def test_schedule_is_fitted_to_the_time_budget(world_dir, tmp_path):
    trainer = Trainer(_cfg(world_dir, tmp_path / "f", max_steps=100_000, max_minutes=0.1, val_fraction=0,
                           warmup_steps=1))
    summary = trainer.run()
    assert 2 < trainer.progress.planned == trainer.total_steps < 100_000  # planned at step val_every=2
    assert trainer.scheduler.lr_lambdas[0](trainer.total_steps) == pytest.approx(trainer.cfg.min_lr_ratio)
    assert summary["stopped"].startswith(("reached", "time budget")) and summary["steps"] <= trainer.total_steps
