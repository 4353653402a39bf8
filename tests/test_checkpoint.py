"""Checkpoints: exact round trip, partial loads, and typed errors naming the file and key."""
import json
import re

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
    with pytest.raises(CheckpointError, match=re.escape(f"{tmp_path / WEIGHTS_FILE} is missing")):
        edgebind.load_model(tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], "is not a readable safetensors file .*it may be truncated"),
    (lambda data: b"not a checkpoint at all", "is not a readable safetensors file"),
], ids=["truncated", "garbage"])
def test_unreadable_weights_name_the_file(saved, tmp_path, damage, message):
    weights = _copy(saved, tmp_path) / WEIGHTS_FILE
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(CheckpointError, match=f"{re.escape(str(weights))} {message}"):
        edgebind.load_model(tmp_path)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.pop("modality_heads.audio.2.weight"), "missing key 'modality_heads.audio.2.weight'"),
    (lambda t: t.update({"modality_heads.imu.2.weight": torch.zeros(3, 3)}),
     "key 'modality_heads.imu.2.weight' has shape [3, 3]"),
    (lambda t: t.update({"modality_trunks.audio.blocks.9.norm_1.weight": torch.zeros(64)}),
     "unknown key 'modality_trunks.audio.blocks.9.norm_1.weight' (1 in all) is not part of the edgebind-tiny layout"),
], ids=["missing", "shape", "unexpected"])
def test_bad_key_is_named_with_the_file(saved, tmp_path, edit, message):
    weights = _copy(saved, tmp_path) / WEIGHTS_FILE
    tensors = load_file(weights)
    edit(tensors)
    save_file(tensors, weights)
    with pytest.raises(CheckpointError, match=re.escape(f"{weights}: {message}")):
        edgebind.load_model(tmp_path)


def test_broken_config_json(saved, tmp_path):
    config = _copy(saved, tmp_path) / CONFIG_FILE
    config.write_text("{ not json")
    with pytest.raises(ConfigError, match=re.escape(f"cannot read model config {config}")):
        edgebind.load_model(tmp_path)


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
