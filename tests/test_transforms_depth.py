"""Depth transform: metric depth -> disparity, units, presets, invalid pixels, cropping and errors."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from edgebind.errors import ConfigError, InputError, UnreadableFileError
from edgebind.transforms.depth import CAMERA_PRESETS, DepthConfig, DepthFrame, DepthTransform
from edgebind.transforms.io import read_depth_file

RAW = {"normalize": False}


def scene_mm(h: int = 240, w: int = 320) -> np.ndarray:
    """A deterministic uint16 depth map in millimetres: a ramp from 0.5 m to ~4.5 m plus a hole."""
    y, x = np.mgrid[0:h, 0:w]
    depth = (500 + 10 * x + 3 * y).astype(np.uint16)
    depth[:10, :10] = 0
    return depth


def write_png16(path, depth_mm: np.ndarray) -> None:
    img = Image.fromarray(depth_mm)
    assert img.mode == "I;16"
    img.save(path)


def test_constant_two_metres_gives_exact_disparity():
    out = DepthTransform(RAW)(np.full((224, 224), 2.0, np.float32))
    expected = torch.tensor(0.075 * 518.857 / 2.0, dtype=torch.float32)
    assert out.shape == (1, 224, 224) and out.dtype == torch.float32
    assert torch.equal(out, expected.expand(1, 224, 224))
    resized = DepthTransform(RAW)(np.full((480, 640), 2.0, np.float32))
    assert torch.allclose(resized, expected.expand(1, 224, 224), rtol=1e-6)


def test_normalisation_uses_mean_and_std():
    depth = np.full((224, 224), 2.0)
    raw = DepthTransform(RAW)(depth)
    assert torch.allclose(DepthTransform()(depth), (raw - 0.0418) / 0.0295)


def test_png_millimetres_and_npy_metres_agree(tmp_path):
    mm = scene_mm()
    write_png16(tmp_path / "d.png", mm)
    np.save(tmp_path / "d.npy", mm.astype(np.float64) / 1000.0)
    np.save(tmp_path / "mm.npy", mm)
    tf = DepthTransform()
    from_png = tf(tmp_path / "d.png")
    assert torch.equal(from_png, tf(mm))
    assert torch.allclose(from_png, tf(str(tmp_path / "d.npy")), atol=1e-4)
    assert torch.equal(from_png, tf(tmp_path / "mm.npy"))


def test_png_keeps_16_bits(tmp_path):
    mm = np.array([[1000, 1001], [40000, 65535]], np.uint16)
    write_png16(tmp_path / "d.png", mm)
    back = read_depth_file(tmp_path / "d.png")
    assert back.dtype == np.uint16 and np.array_equal(back, mm)


def test_camera_preset_overrides_baseline_and_focal():
    depth = np.full((224, 224), 2.0)
    baseline, focal = CAMERA_PRESETS["realsense_d435"]
    out = DepthTransform({"camera": "realsense_d435", "baseline_m": 1.0, **RAW})(depth)
    assert torch.allclose(out, torch.full((1, 224, 224), baseline * focal / 2.0))
    custom = DepthTransform({"baseline_m": 0.05, "focal_px": 600.0, **RAW})(depth)
    assert torch.allclose(custom, torch.full((1, 224, 224), 15.0))


def test_a_frame_carries_its_own_camera_over_the_config(tmp_path):
    depth = np.full((224, 224), 2.0)
    transform = DepthTransform({"camera": "kinect_v1", **RAW})
    out = transform(DepthFrame(depth, baseline_m=0.05, focal_px=600.0))
    assert torch.allclose(out, torch.full((1, 224, 224), 0.05 * 600.0 / 2.0))
    write_png16(tmp_path / "d.png", np.full((224, 224), 2000, np.uint16))
    preset = transform(DepthFrame.from_camera(tmp_path / "d.png", "realsense_d455"))
    baseline, focal = CAMERA_PRESETS["realsense_d455"]
    assert torch.allclose(preset, torch.full((1, 224, 224), baseline * focal / 2.0))


@pytest.mark.parametrize("baseline, focal", [(0.0, 600.0), (0.05, float("nan")), (-1.0, 1.0)])
def test_a_frame_needs_a_real_camera(baseline, focal):
    with pytest.raises(InputError, match=f"got {baseline} and {focal}"):
        DepthFrame(np.ones((4, 4)), baseline, focal)
    with pytest.raises(ConfigError, match="'zed'"):
        DepthFrame.from_camera(np.ones((4, 4)), "zed")


def test_invalid_pixels_get_zero_disparity():
    depth = np.full((224, 224), 1.0, np.float32)
    depth[:, :50] = 0.0
    depth[:, 50:100] = np.nan
    out = DepthTransform(RAW)(depth)[0]
    assert torch.all(out[:, :100] == 0)
    assert torch.allclose(out[:, 100:], torch.tensor(0.075 * 518.857))
    mm = np.full((224, 224), 1000, np.uint16)
    mm[0, 0] = 0
    assert DepthTransform(RAW)(mm)[0, 0, 0] == 0


def test_depths_are_clamped_to_range():
    near_far = np.array([[0.001, 500.0]] * 2).repeat(112, 0).repeat(112, 1)
    out = DepthTransform(RAW)(near_far)[0]
    assert torch.allclose(out[0, 0], torch.tensor(0.075 * 518.857 / 0.01))
    assert torch.allclose(out[0, -1], torch.tensor(0.075 * 518.857 / 50.0))


def test_non_square_input_keeps_the_centre():
    depth = np.concatenate([np.full((224, 224), d) for d in (1.0, 2.0, 4.0)], axis=1)  # 224 x 672
    out = DepthTransform(RAW)(depth)
    assert torch.allclose(out, torch.full((1, 224, 224), 0.075 * 518.857 / 2.0))
    tall = DepthTransform(RAW)(depth.T)  # 672 x 224: keeps the middle rows
    assert torch.allclose(tall, out)


def test_hxwx1_and_torch_inputs():
    depth = np.full((300, 400), 1.5, np.float32)
    tf = DepthTransform()
    assert torch.equal(tf(depth[:, :, None]), tf(depth))
    assert torch.equal(tf(torch.from_numpy(depth)), tf(depth))


def test_batch_matches_single(tmp_path):
    write_png16(tmp_path / "d.png", scene_mm())
    items = [tmp_path / "d.png", np.full((200, 300), 3.0), scene_mm(300, 200)]
    tf = DepthTransform()
    batch = tf.batch(items)
    assert batch.shape == (3, 1, 224, 224)
    for i, item in enumerate(items):
        assert torch.equal(batch[i], tf(item))


@pytest.mark.parametrize(
    "item, message",
    [
        (np.zeros((0, 5), np.float32), "empty"),
        (np.zeros((4, 4), np.float32), "every pixel is invalid"),
        (np.full((4, 4), np.nan), "every pixel is invalid"),
        (np.array([[1.0, np.inf], [1.0, 1.0]]), "inf"),
        (np.array([[1.0, -1.0], [1.0, 1.0]]), "negative"),
        (np.ones((4, 4, 3), np.float32), "single-channel"),
        (np.ones(16, np.float32), "single-channel"),
        (np.full((4, 4), 1000, np.int64), "ambiguous"),
        (np.ones((4, 4), bool), "dtype"),
        (np.ones((4, 4), np.complex64), "dtype"),
        ("not-a-depth.txt", r"unsupported file type '\.txt' for not-a-depth\.txt"),
        (1.5, "numpy/torch array"),
    ],
)
def test_bad_inputs_raise_input_error(item, message):
    with pytest.raises(InputError, match=message):
        DepthTransform()(item)


def test_bad_files(tmp_path):
    tf = DepthTransform()
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "bad.npy").write_bytes(b"nope")
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / "d8.png")
    for name, message in [("bad.png", "depth: cannot read image {path} ("),
                          ("bad.npy", "depth: cannot read {path} as a .npy array"),
                          ("d8.png", "depth: {path} is an 8-bit image, which has lost the metric scale"),
                          ("missing.png", "depth: file not found: {path}; check the path")]:
        path = tmp_path / name
        with pytest.raises(UnreadableFileError, match=re.escape(message.format(path=path))):
            tf(path)


def test_bad_config():
    with pytest.raises(ConfigError, match="camera"):
        DepthConfig(camera="webcam")
    with pytest.raises(ConfigError):
        DepthTransform({"min_depth_m": 10.0, "max_depth_m": 1.0})


def test_max_disparity_clamps_then_scales_to_unit_range():
    """DepthNorm: disparity min(d, max) / max, before mean/std (imagebind_huge uses max 75)."""
    tf = DepthTransform({"size": 8, "max_disparity": 75.0, "normalize": False})
    near = tf(np.full((8, 8), 0.2))  # 0.075 * 518.857 / 0.2 = 194.6 px: clamped to 75 -> 1.0
    two_m = tf(np.full((8, 8), 2.0))  # 19.46 px -> 0.2594
    assert torch.allclose(near, torch.ones_like(near))
    assert torch.allclose(two_m, torch.full_like(two_m, 0.075 * 518.857 / 2.0 / 75.0))
