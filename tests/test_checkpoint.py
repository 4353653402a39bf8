"""Checkpoints: exact round trip, partial loads, and typed errors naming the file and key."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import edgebind
from edgebind.errors import CheckpointError, ConfigError, ModalityError
from edgebind.models.registry import CONFIG_FILE, WEIGHTS_FILE


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model):
    return edgebind.save_model(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny")


def test_round_trip_is_exact(saved, tiny_model):
    loaded = edgebind.create_model(saved)
    original, restored = tiny_model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key], restored[key]), key
    inputs = {"imu": torch.randn(1, 6, 400), "text": torch.randint(1, 4000, (1, 32))}
    for key, value in tiny_model(inputs).items():
        assert torch.equal(value, loaded(inputs)[key])


def test_load_a_subset_of_modalities(saved):
    model = edgebind.load_model(saved, modalities=["depth"])
    assert [m.value for m in model.modalities] == ["depth"]


def test_saving_a_subset_writes_only_its_config(tmp_path):
    model = edgebind.create_model("edgebind-tiny", modalities=["audio", "imu"])
    config = json.loads((edgebind.save_model(model, tmp_path) / CONFIG_FILE).read_text())
    assert sorted(config["modalities"]) == ["audio", "imu"]
    assert sorted(config["transforms"]) == ["audio", "imu"]


def _copy(saved, tmp_path):
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (tmp_path / name).write_bytes((saved / name).read_bytes())
    return tmp_path


def test_missing_weights_file(saved, tmp_path):
    (tmp_path / CONFIG_FILE).write_bytes((saved / CONFIG_FILE).read_bytes())
    with pytest.raises(CheckpointError, match=WEIGHTS_FILE):
        edgebind.load_model(tmp_path)


def test_truncated_file_names_the_file(saved, tmp_path):
    ckpt = _copy(saved, tmp_path)
    data = (ckpt / WEIGHTS_FILE).read_bytes()
    (ckpt / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        edgebind.load_model(ckpt)


def test_garbage_file(saved, tmp_path):
    ckpt = _copy(saved, tmp_path)
    (ckpt / WEIGHTS_FILE).write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        edgebind.load_model(ckpt)


def test_missing_key_is_named(saved, tmp_path):
    ckpt = _copy(saved, tmp_path)
    tensors = load_file(ckpt / WEIGHTS_FILE)
    del tensors["modality_heads.audio.2.weight"]
    save_file(tensors, ckpt / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match=r"modality_heads\.audio\.2\.weight"):
        edgebind.load_model(ckpt)


def test_mismatched_shape_is_named(saved, tmp_path):
    ckpt = _copy(saved, tmp_path)
    tensors = load_file(ckpt / WEIGHTS_FILE)
    tensors["modality_heads.imu.2.weight"] = torch.zeros(3, 3)
    save_file(tensors, ckpt / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match=r"modality_heads\.imu\.2\.weight.*\[3, 3\]"):
        edgebind.load_model(ckpt)


def test_unexpected_key_is_named(saved, tmp_path):
    ckpt = _copy(saved, tmp_path)
    tensors = load_file(ckpt / WEIGHTS_FILE)
    tensors["modality_trunks.audio.blocks.9.norm_1.weight"] = torch.zeros(64)
    save_file(tensors, ckpt / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match=r"blocks\.9\.norm_1"):
        edgebind.load_model(ckpt)


def test_broken_config_json(saved, tmp_path):
    ckpt = _copy(saved, tmp_path)
    (ckpt / CONFIG_FILE).write_text("{ not json")
    with pytest.raises(ConfigError, match=CONFIG_FILE):
        edgebind.load_model(ckpt)


def test_load_model_resolves_shipped_names_and_refuses_configs():
    assert edgebind.load_model("edgebind-tiny-synthetic", modalities=["imu"]).modalities == (edgebind.Modality.IMU,)
    with pytest.raises(CheckpointError, match="'edgebind-tiny' is a model config, not a trained checkpoint"):
        edgebind.load_model("edgebind-tiny")


def test_modalities_argument_is_checked(saved):
    assert edgebind.load_model(saved, modalities="audio").modalities == (edgebind.Modality.AUDIO,)
    with pytest.raises(ModalityError, match="modalities is empty"):
        edgebind.load_model(saved, modalities=[])
    with pytest.raises(ConfigError, match="holds its own anchor weights"):
        edgebind.create_model(saved, anchor_weights="clip.safetensors")
