"""Thermal transform: units policy, temperature window, 8/16-bit files and input errors."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from edgebind.errors import ConfigError, InputError, UnreadableFileError
from edgebind.transforms.io import read_thermal_file
from edgebind.transforms.thermal import ThermalConfig, ThermalTransform


def scene_centikelvin(h: int = 240, w: int = 320) -> np.ndarray:
    """A deterministic Y16 frame: 0 degC .. ~40 degC in centikelvin."""
    y, x = np.mgrid[0:h, 0:w]
    return (27315 + 12 * x + 3 * y).astype(np.uint16)


def test_kelvin_celsius_and_centikelvin_agree():
    ck = scene_centikelvin()
    kelvin = ck.astype(np.float64) / 100.0
    from_y16 = ThermalTransform()(ck)
    assert from_y16.shape == (1, 224, 224) and from_y16.dtype == torch.float32
    assert torch.allclose(ThermalTransform()(kelvin.astype(np.float32)), from_y16, atol=1e-5)
    assert torch.allclose(ThermalTransform({"units": "celsius"})(kelvin - 273.15), from_y16, atol=1e-6)
    assert torch.allclose(ThermalTransform({"units": "centikelvin"})(ck.astype(np.int32)), from_y16)


def test_window_maps_linearly_and_clips():
    celsius = np.array([[-40.0, -10.0], [20.0, 50.0]]).repeat(112, 0).repeat(112, 1)
    out = ThermalTransform({"units": "celsius"})(celsius)[0]
    assert out[0, 0] == 0 and out[0, -1] == 0
    assert torch.isclose(out[-1, 0], torch.tensor(0.5)) and out[-1, -1] == 1
    hot = ThermalTransform()(np.full((224, 224), 1000.0))  # 1000 K is far above 50 degC
    assert torch.all(hot == 1)


def test_uint8_is_divided_by_255_without_window(tmp_path):
    img = np.tile(np.arange(256, dtype=np.uint8), (224, 1))[:, 16:240]
    out = ThermalTransform()(img)
    assert torch.allclose(out[0], torch.from_numpy(img / 255.0).float())
    Image.fromarray(img).save(tmp_path / "t.png")
    assert torch.equal(ThermalTransform()(tmp_path / "t.png"), out)
    Image.fromarray(np.stack([img] * 3, -1)).save(tmp_path / "t.jpg", quality=100)
    assert torch.allclose(ThermalTransform()(tmp_path / "t.jpg"), out, atol=4 / 255)


def test_tiff_16bit_reads_back_as_the_array(tmp_path):
    ck = scene_centikelvin()
    img = Image.fromarray(ck)
    assert img.mode == "I;16"
    img.save(tmp_path / "t.tiff")
    back = read_thermal_file(tmp_path / "t.tiff")
    assert back.dtype == np.uint16 and np.array_equal(back, ck)
    assert torch.equal(ThermalTransform()(tmp_path / "t.tiff"), ThermalTransform()(ck))
    np.save(tmp_path / "t.npy", ck.astype(np.float32) / 100)
    assert torch.allclose(ThermalTransform()(tmp_path / "t.npy"), ThermalTransform()(ck), atol=1e-5)


def test_mean_std_and_size():
    out = ThermalTransform({"mean": 0.5, "std": 0.25, "size": 64})(np.full((100, 80), 293.15))
    assert out.shape == (1, 64, 64)
    assert torch.allclose(out, torch.full((1, 64, 64), (0.5 - 0.5) / 0.25), atol=1e-6)


def test_non_square_keeps_the_centre():
    celsius = np.concatenate([np.full((224, 224), c) for c in (-10.0, 20.0, 50.0)], axis=1)
    out = ThermalTransform({"units": "celsius"})(celsius)
    assert torch.allclose(out, torch.full((1, 224, 224), 0.5))


def test_batch_matches_single(tmp_path):
    Image.fromarray(scene_centikelvin()).save(tmp_path / "t.tif")
    items = [tmp_path / "t.tif", np.full((200, 300), 300.0), np.zeros((50, 60), np.uint8)]
    tf = ThermalTransform()
    batch = tf.batch(items)
    assert batch.shape == (3, 1, 224, 224)
    for i, item in enumerate(items):
        assert torch.equal(batch[i], tf(item))


@pytest.mark.parametrize(
    "item, message",
    [
        (np.full((8, 8), 25.0), 'units="celsius"'),
        (np.full((8, 8), 300, np.int64), "does not tell the units"),
        (np.zeros((0, 8), np.float32), "empty"),
        (np.array([[300.0, np.nan]]), "NaN"),
        (np.array([[300.0, np.inf]]), "NaN or inf"),
        (np.ones((8, 8, 3), np.uint8), "single-channel"),
        (np.ones((8, 8), bool), "dtype"),
        (np.ones((8, 8), np.complex128), "dtype"),
        ("frame.bmp", r"unsupported file type '\.bmp' for frame\.bmp"),
        ([[300.0]], "numpy/torch array"),
    ],
)
def test_bad_inputs_raise_input_error(item, message):
    with pytest.raises(InputError, match=message):
        ThermalTransform()(item)


def test_bad_files(tmp_path):
    (tmp_path / "bad.tiff").write_bytes(b"not a tiff at all")
    for name, message in [("bad.tiff", "thermal: cannot read image {path} ("),
                          ("missing.png", "thermal: file not found: {path}; check the path")]:
        path = tmp_path / name
        with pytest.raises(UnreadableFileError, match=re.escape(message.format(path=path))):
            ThermalTransform()(path)


def test_bad_config():
    with pytest.raises(ConfigError, match="units"):
        ThermalConfig(units="fahrenheit")
    with pytest.raises(ConfigError):
        ThermalTransform({"min_temp_c": 30.0, "max_temp_c": 20.0})


@pytest.mark.parametrize("values", [8000, 1500])  # raw Lepton counts without radiometry; a depth map in mm
def test_uint16_below_any_scene_temperature_is_rejected_like_float(values, tmp_path):
    frame = np.full((24, 32), values, np.uint16)
    frame[4:8, 4:8] += 300
    with pytest.raises(InputError, match=f"uint16 values down to {values} are below 150 K"):
        ThermalTransform()(frame)
    Image.fromarray(frame).save(tmp_path / "f.tif")
    with pytest.raises(InputError, match="not a radiometric frame"):
        ThermalTransform()(tmp_path / "f.tif")
    assert ThermalTransform({"units": "centikelvin"})(frame).shape == (1, 224, 224)  # said so: read as told
