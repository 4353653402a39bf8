"""model.embed on raw files: unit-norm, batch-independent, for every modality; errors name the input."""
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

import edgebind
from edgebind.errors import ConfigError, InputError, RandomWeightsWarning
from edgebind.manifest import write_manifest
from edgebind.modality import Modality
from edgebind.training.data.manifest import ManifestDataset
from edgebind.training.evaluate import embed_data
from edgebind.transforms.depth import DepthFrame
from edgebind.transforms.thermal import ThermalFrame


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


def test_an_input_error_names_the_input_in_a_batch(tiny_model, world, tmp_path):
    """The third of five files is an empty WAV, an in-memory depth map is all NaN: the errors say
    which input (position across batches, and the file), while the reason stays the transform's."""
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0,), np.float32), 16000)
    audio = [s.inputs["audio"] for s in world[:4]]
    with pytest.raises(InputError, match=rf"audio input 2 \({empty}\): ") as info:
        tiny_model.embed({"audio": audio[:2] + [empty] + audio[2:]}, batch_size=2)
    assert "audio input 2" not in info.value.reason and str(empty) in str(info.value)
    depth = [np.ones((8, 8), np.float32), np.full((8, 8), np.nan, np.float32)]
    with pytest.raises(InputError, match=r"^depth input 1: depth: every pixel is invalid"):
        tiny_model.embed({"depth": depth})


def test_a_data_set_error_names_the_sample_and_file(tiny_model, world, tmp_path):
    rows = [{"id": s.id, "label": s.label, "imu": str(s.inputs["imu"])} for s in world[:3]]
    bad = tmp_path / "bad.csv"
    bad.write_text("t,ax,ay,az,gx,gy,gz\n")  # a header and no sample
    rows.append({"id": "broken", "label": "x", "imu": str(bad)})
    data = ManifestDataset(write_manifest(tmp_path / "manifest.jsonl", rows), max_skip_fraction=0.0)
    with pytest.raises(InputError, match=rf"sample 'broken' imu \({bad}\)"):
        embed_data(tiny_model, data, "imu", max_skip_fraction=0.0)


def test_camera_and_units_per_call_and_per_frame(tiny_model, tmp_path):
    """A RealSense frame embeds as its own camera says, whether the camera comes with the call or
    with the frame; thermal units likewise. The config default (Kinect v1) gives another vector."""
    y, x = np.mgrid[0:48, 0:64]
    depth = (600 + 20 * x + 5 * y).astype(np.uint16)
    default = tiny_model.embed({"depth": [depth]})["depth"]
    per_call = tiny_model.embed({"depth": [depth]}, options={"depth": {"camera": "realsense_d435"}})["depth"]
    per_frame = tiny_model.embed({"depth": [DepthFrame.from_camera(depth, "realsense_d435")]})["depth"]
    explicit = tiny_model.embed({"depth": [depth]}, options={"depth": {"baseline_m": 0.05, "focal_px": 383.0}})
    torch.testing.assert_close(per_call, per_frame)
    torch.testing.assert_close(per_call, explicit["depth"])
    assert (per_call - default).abs().max() > 1e-3
    celsius = np.full((32, 32), 30.0, np.float32)
    celsius[8:16, 8:16] = 45.0
    by_call = tiny_model.embed({"thermal": [celsius]}, options={"thermal": {"units": "celsius"}})["thermal"]
    by_frame = tiny_model.embed({"thermal": [ThermalFrame(celsius, "celsius")]})["thermal"]
    as_kelvin = tiny_model.embed({"thermal": [celsius + 273.15]})["thermal"]
    torch.testing.assert_close(by_call, by_frame)
    torch.testing.assert_close(by_call, as_kelvin, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match=r"thermal input 0: thermal: float values below 150"):
        tiny_model.embed({"thermal": [celsius]})
    with pytest.raises(ConfigError, match="unknown key.*'camra'"):
        tiny_model.embed({"depth": [depth]}, options={"depth": {"camra": "realsense_d435"}})
    with pytest.raises(InputError, match=r"options for \['thermal'\] but no such inputs"):
        tiny_model.embed({"depth": [depth]}, options={"thermal": {"units": "celsius"}})


def test_random_weights_warn_until_trained_or_loaded(tmp_path):
    fresh = edgebind.create_model("edgebind-tiny", modalities=["imu", "text"])
    with pytest.warns(RandomWeightsWarning, match=r"'edgebind-tiny': the imu encoder\(s\) have random.*edgebind-tiny-synthetic"):
        fresh.embed({"imu": [np.zeros((400, 6), np.float32)]})
    edgebind.save_model(fresh, tmp_path / "ckpt")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)
        edgebind.load_model(tmp_path / "ckpt").embed({"imu": [np.zeros((400, 6), np.float32)], "text": ["a"]})
        edgebind.create_model("edgebind-tiny-synthetic", modalities=["audio"]).embed({"audio": [np.zeros(800)]})
