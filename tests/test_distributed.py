"""Two gloo processes under torchrun step exactly like one process with the same global batch."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from edgebind.training.config import TrainConfig
from edgebind.training.trainer import Trainer


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(world_dir, tmp_path):
    common = dict(stage="bind", data=str(world_dir), modalities=("imu", "depth"), epochs=2,
                  batch_size=6, lr=1e-3, log_every=1, progress=False)
    Trainer(TrainConfig(out=str(tmp_path / "single"), **common)).run()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "edgebind.cli.main", "train", "--stage", "bind", "--data", str(world_dir),
           "--out", str(tmp_path / "ddp"), "--modalities", "imu,depth", "--epochs", "2",
           "--batch-size", "6", "--lr", "1e-3", "--set", "progress=false", "--set", "log_every=1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    single = load_file(tmp_path / "single" / "model.safetensors")
    ddp = load_file(tmp_path / "ddp" / "model.safetensors")
    moved = 0
    for key, value in single.items():
        # Only the order of float sums differs (gathered batches, averaged gradients).
        torch.testing.assert_close(ddp[key], value, atol=1e-5, rtol=1e-4, msg=key)
        moved += ".imu." in key or ".depth." in key
    assert moved > 0
    logs = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("single", "ddp")]
    losses = [[entry["loss"] for entry in log if "loss" in entry] for log in logs]
    assert len(losses[0]) == len(losses[1]) > 0
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
