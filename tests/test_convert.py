"""Converting ImageBind-layout .pth checkpoints, and loading OpenCLIP anchors from local files."""
import json
import re
from pathlib import Path

import pytest
import torch

import edgebind
from edgebind.errors import CheckpointError
from edgebind.models import EdgeBindModel, add_model_config, get_model_config
from edgebind.models.anchor import create_anchor
from edgebind.models.config import AnchorConfig
from edgebind.models.convert import convert_imagebind

SMALL = {"vision": (64, 2, 2), "text": (64, 2, 2), "audio": (48, 2, 2), "depth": (32, 2, 2),
         "thermal": (48, 2, 2), "imu": (32, 2, 2)}


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """A reduced-width model with the official naming, saved as the official loader expects."""
    root = tmp_path_factory.mktemp("reduced")
    config = json.loads((Path(edgebind.models.registry.CONFIG_DIR) / "imagebind_huge.json").read_text())
    config["name"], config["embed_dim"] = "imagebind-reduced", 32
    for modality, (width, layers, heads) in SMALL.items():
        config["modalities"][modality]["trunk"].update(width=width, layers=layers, heads=heads)
    path = root / "imagebind-reduced.json"
    path.write_text(json.dumps(config))
    add_model_config(path)
    torch.manual_seed(0)
    model = EdgeBindModel(get_model_config("imagebind-reduced")).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # not the init distribution: every value matters
    torch.save(model.state_dict(), root / "reduced.pth")
    return model, root / "reduced.pth"


def test_converted_model_matches_the_original_forward(reduced, tmp_path):
    original, pth = reduced
    out = convert_imagebind(pth, tmp_path / "converted", model="imagebind-reduced")
    converted = edgebind.load_model(out)
    inputs = {"vision": torch.randn(2, 3, 224, 224), "text": torch.randint(1, 49000, (2, 77)),
              "audio": torch.randn(2, 3, 1, 128, 204), "depth": torch.randn(2, 1, 224, 224),
              "thermal": torch.randn(2, 1, 224, 224), "imu": torch.randn(2, 6, 2000)}
    with torch.no_grad():
        expected, got = original(inputs), converted(inputs)
    for key in inputs:
        assert torch.equal(expected[key], got[key]), key


def _save(state, path):
    torch.save(state, path)
    return path


def test_wrapped_and_prefixed_state_dicts_convert(reduced, tmp_path):
    original, _ = reduced
    state = original.state_dict()
    wrapped = _save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "w.pth")
    converted = edgebind.load_model(convert_imagebind(wrapped, tmp_path / "out", model="imagebind-reduced"))
    assert all(torch.equal(v, converted.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("modality_heads.imu.3.weight"), "missing key 'modality_heads.imu.3.weight'"),
    (lambda s: s.update({"modality_heads.imu.9.weight": torch.zeros(1)}),
     "unknown key 'modality_heads.imu.9.weight'"),
    (lambda s: s.update({"modality_heads.imu.3.weight": torch.zeros(3, 3)}),
     "key 'modality_heads.imu.3.weight' has shape [3, 3]"),
], ids=["missing", "unknown", "shape"])
def test_layout_errors_name_the_file_and_key(reduced, tmp_path, edit, message):
    state = dict(reduced[0].state_dict())
    edit(state)
    path = _save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: {message}")):
        convert_imagebind(path, tmp_path / "out", model="imagebind-reduced")
    assert not (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.parametrize("content, message", [
    (lambda data: data[: len(data) // 3], "is not a readable PyTorch checkpoint .*it may be truncated"),
    (lambda data: b"hello", "is not a readable PyTorch checkpoint"),
    (None, "does not exist"),
], ids=["truncated", "foreign", "absent"])
def test_truncated_foreign_and_missing_files_are_named(reduced, tmp_path, content, message):
    path = tmp_path / "in.pth"
    if content is not None:
        path.write_bytes(content(reduced[1].read_bytes()))
    with pytest.raises(CheckpointError, match=f"{re.escape(str(path))} {message}"):
        convert_imagebind(path, tmp_path / "out", model="imagebind-reduced")


def test_the_official_layout_is_what_convert_checks_against():
    from edgebind.models.convert import expected_layout

    reference = json.loads((Path(__file__).parent / "data" / "imagebind_huge_params.json").read_text())
    layout = expected_layout(get_model_config("imagebind_huge"))
    assert {k: list(v) for k, v in layout.items()} == {**reference["params"], **reference["buffers"]}


def test_openclip_anchor_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(1)
    clip = create_anchor(AnchorConfig("edgebind-tiny-anchor"))
    path = tmp_path / "anchor.pt"
    torch.save(clip.state_dict(), path)
    model = edgebind.create_model("edgebind-tiny", modalities=["vision", "text"], anchor_weights=str(path))
    for key, value in clip.visual.state_dict().items():
        assert torch.equal(model.modality_trunks["vision"].state_dict()[key], value)
    scale = model.modality_postprocessors["text"][1].scale
    torch.testing.assert_close(scale, clip.logit_scale.exp().detach())


def test_wrong_anchor_weights_fail_clearly(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"visual.conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=re.escape(f"cannot load OpenCLIP weights from {path} into")):
        edgebind.create_model("edgebind-tiny", modalities=["vision"], anchor_weights=str(path))
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match=re.escape(f"anchor weights {missing} do not exist")):
        edgebind.create_model("edgebind-tiny", modalities=["vision"], anchor_weights=str(missing))


def test_anchor_transforms_come_from_the_openclip_model_when_not_configured(tmp_path):
    """A config naming only an OpenCLIP architecture gets that model's image size, normalisation
    and tokenizer, and a saved checkpoint spells them out."""
    config = {"name": "b16-audio", "embed_dim": 512, "anchor": {"arch": "ViT-B-16"},
              "modalities": {"vision": {"source": "anchor"}, "text": {"source": "anchor"}}}
    path = tmp_path / "b16.json"
    path.write_text(json.dumps(config))
    model = edgebind.create_model(path, modalities=["vision", "text"])
    vision = model.transform("vision").config
    assert vision.size == 224 and tuple(vision.mean) == (0.48145466, 0.4578275, 0.40821073)
    assert model.transform("text").config.context_length == 77
    assert model.transform("text").config.tokenizer is None  # CLIP BPE
    saved = json.loads((edgebind.save_model(model, tmp_path / "ckpt") / "config.json").read_text())
    assert saved["transforms"]["vision"]["size"] == 224
