"""model.embed on raw files: unit-norm, batch-independent, for every modality."""
import numpy as np
import pytest
import torch

from edgebind.errors import InputError
from edgebind.modality import Modality


def _inputs(world):
    inputs = {"text": [s.caption for s in world]}
    for modality in Modality:
        if modality is not Modality.TEXT:
            inputs[modality.value] = [s.inputs[modality.value] for s in world]
    return inputs


def test_embed_every_modality_from_files(tiny_model, world):
    out = tiny_model.embed(_inputs(world), batch_size=5)
    assert set(out) == {m.value for m in Modality}
    for name, vectors in out.items():
        assert vectors.shape == (len(world), 64), name
        assert torch.isfinite(vectors).all()
        torch.testing.assert_close(vectors.norm(dim=-1), torch.ones(len(world)))


@pytest.mark.parametrize("modality", [m.value for m in Modality])
def test_alone_and_in_a_batch_give_the_same_embedding(tiny_model, world, modality):
    items = _inputs(world)[modality]
    batched = tiny_model.embed({modality: items}, batch_size=len(items))[modality]
    alone = torch.cat([tiny_model.embed({modality: [item]})[modality] for item in items[:4]])
    assert (batched[:4] - alone).abs().max().item() <= 1e-5


def test_embed_accepts_arrays_with_a_rate(tiny_model):
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    out = tiny_model.embed({
        "audio": (tone, 22050),
        "imu": [rng.normal(size=(300, 6)).astype(np.float32)],
        "depth": [np.full((48, 64), 1500, dtype=np.uint16)],
    })
    assert out["audio"].shape == out["imu"].shape == out["depth"].shape == (1, 64)


def test_embed_rejects_bad_batches(tiny_model):
    with pytest.raises(InputError, match="empty"):
        tiny_model.embed({"text": []})
    with pytest.raises(InputError, match="batch_size"):
        tiny_model.embed({"text": ["a"]}, batch_size=0)
