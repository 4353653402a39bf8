"""Registry, configs and the forward contract of the joint model."""
import json
import re

import pytest
import torch

import edgebind
from edgebind.errors import ConfigError, ModalityError, UnknownModelError
from edgebind.models import get_model_config

TINY_INPUTS = {
    "vision": torch.randn(2, 3, 64, 64),
    "text": torch.randint(1, 49000, (2, 32)),
    "audio": torch.randn(2, 1, 1, 128, 204),
    "depth": torch.randn(2, 1, 64, 64),
    "thermal": torch.randn(2, 1, 64, 64),
    "imu": torch.randn(2, 6, 400),
}


def test_registry_lists_the_shipped_configs():
    assert {"imagebind_huge", "edgebind-small", "edgebind-tiny"} <= set(edgebind.list_models())


def test_unknown_model_names_the_choices():
    with pytest.raises(UnknownModelError, match=r"unknown model 'no-such-model'; registered names: .*\bedgebind-tiny\b"):
        edgebind.create_model("no-such-model")


def test_unknown_config_key_fails_loudly(tmp_path):
    config = json.loads(edgebind.models.registry.MODELS.get("edgebind-tiny").read_text())
    config["modalities"]["audio"]["trunk"]["widht"] = 3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=re.escape("modalities.audio.trunk: unknown key(s) ['widht']")):
        edgebind.create_model(path)


def test_forward_returns_scaled_embeddings_per_modality(tiny_model):
    out = tiny_model(TINY_INPUTS)
    out["audio"] = tiny_model.encode("audio", TINY_INPUTS["audio"][:, 0])  # one clip: no averaging
    config = get_model_config("edgebind-tiny")
    scales = {m: config.modalities[m].logit_scale or 1.0 for m in ("vision", "audio", "depth", "thermal", "imu")}
    for name, scale in scales.items():
        assert out[name].shape == (2, 64)
        torch.testing.assert_close(out[name].norm(dim=-1), torch.full((2,), scale))
    text_scale = tiny_model.modality_postprocessors["text"][1].scale
    torch.testing.assert_close(out["text"].norm(dim=-1), text_scale.expand(2))


def test_clip_inputs_average_the_clip_embeddings(tiny_model):
    audio = torch.randn(1, 3, 1, 128, 204)
    whole = tiny_model.encode("audio", audio)
    per_clip = tiny_model.encode("audio", audio[0])  # the 3 clips as a batch of 3
    torch.testing.assert_close(whole[0], per_clip.mean(0), atol=1e-5, rtol=1e-5)


def test_only_requested_modalities_are_built():
    model = edgebind.create_model("edgebind-tiny", modalities=["audio"])
    assert model.modalities == (edgebind.Modality.AUDIO,)
    assert all(k.split(".")[1] == "audio" for k in model.state_dict())
    with pytest.raises(ModalityError, match=r"created without text \(loaded: audio\); create it with text among"):
        model.embed({"text": ["a dog"]})


def test_small_model_builds_with_an_openclip_anchor():
    model = edgebind.create_model("edgebind-small", modalities=["vision", "audio"])
    out = model({"vision": torch.randn(1, 3, 224, 224), "audio": torch.randn(1, 3, 1, 128, 204)})
    assert out["vision"].shape == out["audio"].shape == (1, 512)


def test_anchor_modalities_need_an_anchor():
    config = json.loads(edgebind.models.registry.MODELS.get("edgebind-tiny").read_text())
    del config["anchor"]
    with pytest.raises(ConfigError, match="anchor"):
        edgebind.ModelConfig(**config)


def test_config_transforms_agree_with_openclip_preprocess():
    """The image size in our config is the one the anchor tower was built for."""
    for name in ("edgebind-tiny", "edgebind-small"):
        model = edgebind.create_model(name, modalities=["vision"])
        cfg = get_model_config(name)
        assert tuple(model.modality_trunks["vision"].image_size) == (cfg.transforms["vision"].size,) * 2


def test_anchor_towers_are_frozen_and_bound_encoders_train(tiny_model):
    trainable = {k.split(".")[1] for k, p in tiny_model.named_parameters() if p.requires_grad}
    assert trainable == {"text", "audio", "depth", "thermal", "imu"}  # text: only its logit scale
    text_trainable = [k for k, p in tiny_model.named_parameters() if p.requires_grad and ".text." in k]
    assert text_trainable == ["modality_postprocessors.text.1.log_logit_scale"]


def _stem(kind: str, kernel: list[int], width: int = 64):
    from edgebind.models.config import StemConfig
    from edgebind.models.stems import STEMS

    cfg = StemConfig(type=kind, name="depth_stem", in_chans=1, kernel=kernel, norm=False)
    return STEMS.build(cfg, width, (64, 64))


def test_conv_patch_stem_keeps_the_patch_grid_with_stride_two_convolutions():
    """Same tokens as an 8x8 patchify stem (1 cls + 8x8 patches of the trunk width), made by three
    stride-2 3x3 convolutions, so each token sees its neighbours' pixels too."""
    patch, conv = _stem("patch", [8, 8]), _stem("conv_patch", [8, 8])
    x = torch.randn(2, 1, 64, 64)
    assert conv(x).x.shape == patch(x).x.shape == (2, 65, 64)
    convs = [m for m in conv.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.out_channels) for c in convs] == [((3, 3), (2, 2), n) for n in (16, 32, 64)]
    shifted = x.clone()
    shifted[:, :, 7, 7] += 10.0  # the last pixel of patch (0, 0) reaches into patch (1, 1) too
    changed = (conv(shifted).x - conv(x).x).abs().sum(-1)[0, 1:].reshape(8, 8) > 1e-4
    assert changed[0, 0] and changed[1, 1]


def test_conv_patch_stem_needs_a_power_of_two_stride():
    with pytest.raises(ConfigError, match=r"stem 'depth_stem'.*power-of-two kernel and stride.*\[6, 6\]"):
        _stem("conv_patch", [6, 6])
