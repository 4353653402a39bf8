"""Two gloo processes under torchrun step exactly like one process with the same global batch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from edgebind.training.config import TrainConfig
from edgebind.training.trainer import Trainer
from gradient_recorder import record_gradients

RECORDER = Path(__file__).with_name("gradient_recorder.py")


def _metrics(run: Path) -> list[float]:
    entries = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [entry["loss"] for entry in entries if "loss" in entry]  # validation lines carry no loss


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(world_dir, tmp_path):
    # grad_clip out of reach: clipping would rescale gradients that are too large back to the norm.
    common = dict(stage="bind", data=str(world_dir), modalities=["imu", "depth"], epochs=2, batch_size=6,
                  lr=1e-3, grad_clip=1e9, log_every=1, progress=False, val_fraction=0.0)
    single = Trainer(TrainConfig(out=str(tmp_path / "single"), **common))
    start = {key: value.clone() for key, value in single.model.state_dict().items()}
    expected = record_gradients(single)
    single.run()
    config = tmp_path / "ddp.json"
    config.write_text(json.dumps({"out": str(tmp_path / "ddp"), **common}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(RECORDER), str(config), str(tmp_path / "gradients.pt")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    gradients = torch.load(tmp_path / "gradients.pt")
    assert len(gradients) == len(expected) == 4  # 12 samples, batches of 6, 2 epochs
    for step, (got, want) in enumerate(zip(gradients, expected)):
        assert got.keys() == want.keys()
        for name in want:  # the averaged gradient of both ranks is the single process's gradient
            torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-4,
                                       msg=lambda m, step=step, name=name: f"step {step} {name}: {m}")
    single_weights = load_file(tmp_path / "single" / "model.safetensors")
    ddp = load_file(tmp_path / "ddp" / "model.safetensors")
    moved = {key.split(".")[1] for key in start if not torch.equal(ddp[key], start[key])}
    assert moved == {"imu", "depth"}
    for key, value in single_weights.items():
        # Only the order of float sums differs (gathered batches, averaged gradients).
        torch.testing.assert_close(ddp[key], value, atol=1e-5, rtol=1e-4, msg=key)
    assert _metrics(tmp_path / "ddp") == pytest.approx(_metrics(tmp_path / "single"), rel=1e-5)
