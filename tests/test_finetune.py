"""Partial fine-tuning and LoRA of a pretrained encoder; checkpoints stay in the plain layout."""
import pytest
import torch
from safetensors.torch import load_file

import edgebind
from edgebind.errors import ConfigError
from edgebind.training.config import TrainConfig
from edgebind.training.trainer import Trainer


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, world_dir):
    """A bound checkpoint to fine-tune from."""
    out = tmp_path_factory.mktemp("pre")
    Trainer(TrainConfig(stage="bind", data=str(world_dir), out=str(out), modalities=("imu",),
                        epochs=1, batch_size=6, progress=False)).run()
    return out


def _run(world_dir, pretrained, out, **kw):
    cfg = TrainConfig(stage="bind", data=str(world_dir), out=str(out), init=str(pretrained),
                      modalities=("imu",), epochs=1, batch_size=6, lr=1e-2, progress=False, **kw)
    trainer = Trainer(cfg)
    trainer.run()
    return trainer


def test_lora_trains_adapters_and_saves_merged_plain_weights(world_dir, pretrained, tmp_path):
    trainer = _run(world_dir, pretrained, tmp_path / "lora", finetune="lora", lora_rank=4)
    trainable = [k for k, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all(".A" in k or ".B" in k or "heads" in k or "postprocessors" in k for k in trainable)
    base = load_file(pretrained / "model.safetensors")
    saved = load_file(tmp_path / "lora" / "model.safetensors")
    assert set(saved) == set(base)  # plain layout, adapters merged
    key = "modality_trunks.imu.blocks.0.attn.in_proj_weight"
    assert not torch.equal(saved[key], base[key])
    original = trainer.model.modality_trunks["imu"].blocks[0].attn.parametrizations.in_proj_weight.original
    assert torch.equal(original.detach(), base[key])  # the frozen base itself never moved
    reloaded = edgebind.load_model(tmp_path / "lora", modalities=["imu"])
    x = torch.randn(2, 6, 400)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.encode("imu", x), trainer.model.encode("imu", x))


def test_lora_resume_is_exact(world_dir, pretrained, tmp_path):
    straight = _run(world_dir, pretrained, tmp_path / "a", finetune="lora")
    cfg = dict(stage="bind", data=str(world_dir), init=str(pretrained), modalities=("imu",),
               batch_size=6, lr=1e-2, progress=False, finetune="lora")
    Trainer(TrainConfig(out=str(tmp_path / "b"), epochs=1, **cfg)).run()
    resumed = Trainer(TrainConfig(out=str(tmp_path / "b"), epochs=2, **cfg), resume=True)
    resumed.run()
    Trainer(TrainConfig(out=str(tmp_path / "c"), epochs=2, **cfg)).run()
    a, b = load_file(tmp_path / "b" / "model.safetensors"), load_file(tmp_path / "c" / "model.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert straight.progress.step < resumed.progress.step


def test_last_block_finetune_leaves_the_rest(world_dir, pretrained, tmp_path):
    _run(world_dir, pretrained, tmp_path / "last", finetune="last:1")
    base = load_file(pretrained / "model.safetensors")
    saved = load_file(tmp_path / "last" / "model.safetensors")
    changed = {k for k in base if not torch.equal(base[k], saved[k])}
    assert any(".blocks.1." in k for k in changed)
    assert not any(".blocks.0." in k or "preprocessors" in k for k in changed)


@pytest.mark.parametrize("bad", ["half", "last:0", "last:x"])
def test_bad_finetune_modes(bad):
    with pytest.raises(ConfigError, match="finetune"):
        TrainConfig(stage="bind", data="d", out="o", finetune=bad)
