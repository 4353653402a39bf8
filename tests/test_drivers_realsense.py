"""`depth` over real librealsense: recordings of a software camera played through the driver's
pipeline (exact pixels, depth-scale conversion, calibration, timestamps, order, end of stream),
and the camera path with a recording loaded into a context standing in for a plugged-in camera
(found by serial, unplugged, replugged, stalled)."""
import logging
import sys
import time

import numpy as np
import pytest

from edgebind.drivers import Chunk, Gap, build_source
from edgebind.errors import ConfigError, DeviceError, DeviceNotConnectedError, MissingDependencyError

rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) are needed for the depth tests")

from edgebind.drivers.devices import Device, realsense_cameras  # noqa: E402
from edgebind.drivers.realsense import RealSenseConfig, RealSenseSource, stereo_baseline  # noqa: E402
from edgebind.drivers.sensors import sensor_configs  # noqa: E402
from edgebind.frames import CAMERA_PRESETS, DepthFrame  # noqa: E402

import realsense_recording as rec  # noqa: E402
from realsense_recording import SERIAL, SoftCamera  # noqa: E402

SW_ONLY = '{"device-mask": %d}' % int(rs.product_line.sw_only)  # a context that sees no USB camera


def _items(source, count, timeout=5.0):
    items = []
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        item = source.read(0.1)
        if item is not None:
            items.append(item)
    assert len(items) == count, f"expected {count} items, got {items}"
    return items


def _to_the_end(source, timeout=5.0):
    """Every item up to the end of a finite source (which must end within `timeout`)."""
    items = []
    deadline = time.monotonic() + timeout
    while not source.finished:
        assert time.monotonic() < deadline, f"the source did not end; read so far: {items}"
        item = source.read(0.1)
        if item is not None:
            items.append(item)
    return items


def _wait(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_recording_plays_every_frame_exactly_in_metres_with_colour(tmp_path):
    path = rec.record(tmp_path / "cam.db3", 4, SoftCamera(depth_units=0.0001, baseline_mm=50.2))
    config = {"type": "depth", "path": str(path), "color": True, "real_time": False, "queue_size": 1}
    with build_source(config) as source:
        time.sleep(0.3)  # a slow consumer: playback that is not real time waits for it, losing nothing
        items = _to_the_end(source)
        assert source.finished and source.status.state.value == "finished"
        info = source.info()
    depth = [c for c in items if c.modality == "depth"]
    color = [c for c in items if c.modality == "vision"]
    assert all(isinstance(c, Chunk) for c in items) and len(depth) == len(color) == 4
    for i, (d, c) in enumerate(zip(depth, color)):
        assert isinstance(d.data, DepthFrame) and d.data.depth.dtype == np.float32
        scale = np.float32(source._scale)
        assert scale == pytest.approx(0.0001)
        np.testing.assert_array_equal(d.data.depth, rec.depth_pixels(i).astype(np.float32) * scale)
        assert (d.data.depth[0, :3] == 0).all()  # invalid stays invalid
        assert d.data.focal_px == rec.FX and d.data.baseline_m == pytest.approx(0.0502)
        np.testing.assert_array_equal(c.data, rec.color_pixels(i))
        assert c.data.dtype == np.uint8 and c.data.shape == (rec.HEIGHT, rec.WIDTH, 3)
        for chunk in (d, c):
            assert chunk.sensor_time == pytest.approx(rec.timestamp_ms(i) / 1000.0)
            assert chunk.meta == {"frame_number": rec.FIRST_NUMBER + i}
    assert [c.seq for c in items] == list(range(8))
    extra = info.extra
    assert (extra["serial"], extra["model"], extra["firmware"]) == (SERIAL, rec.MODEL, None)
    assert extra["resolution"] == (rec.WIDTH, rec.HEIGHT) and extra["fps"] == rec.FPS
    assert extra["depth_scale_m"] == pytest.approx(0.0001) and extra["baseline_m"] == pytest.approx(0.0502)
    assert extra["intrinsics"]["fx"] == rec.FX and extra["intrinsics"]["fy"] == rec.FY
    assert (extra["intrinsics"]["ppx"], extra["intrinsics"]["ppy"]) == (rec.PPX, rec.PPY)
    assert [(s.modality, s.dtype, s.units, s.shape) for s in info.streams] == [
        ("depth", "float32", "m", (rec.HEIGHT, rec.WIDTH)), ("vision", "uint8", "RGB", (rec.HEIGHT, rec.WIDTH, 3))]


def test_millimetre_recording_stays_uint16_and_a_missing_baseline_uses_the_preset(tmp_path, caplog):
    path = rec.record(tmp_path / "mm.db3", 3, SoftCamera(depth_units=0.001, baseline_mm=None, color=False))
    with caplog.at_level(logging.WARNING, logger="edgebind.drivers.realsense"):
        with build_source({"type": "depth", "path": str(path), "real_time": False}) as source:
            items = _to_the_end(source)
    assert "exposes no stereo baseline; using the realsense_d435 preset's 0.050 m" in caplog.text
    assert [c.meta["frame_number"] for c in items] == [100, 101, 102]
    for i, chunk in enumerate(items):
        assert chunk.modality == "depth" and chunk.data.depth.dtype == np.uint16
        np.testing.assert_array_equal(chunk.data.depth, rec.depth_pixels(i))
        assert chunk.data.baseline_m == CAMERA_PRESETS["realsense_d435"][0]
    assert source.info().streams[0].units == "mm"


def test_a_frame_repeated_in_framesets_becomes_one_chunk(tmp_path):
    path = rec.record(tmp_path / "sparse.db3", 6, SoftCamera(color_every=2))
    with build_source({"type": "depth", "path": str(path), "color": True, "real_time": False}) as source:
        items = _to_the_end(source)
    depth = [c.meta["frame_number"] for c in items if c.modality == "depth"]
    color = [c.meta["frame_number"] for c in items if c.modality == "vision"]
    # librealsense's syncer pairs depth 101 with colour 100 again: that colour frame is emitted once
    assert color == [100, 102, 104] and depth == list(range(100, 100 + len(depth))) and len(depth) >= 5


def test_chunks_go_straight_into_the_transforms(tmp_path):
    from edgebind.transforms.depth import DepthTransform
    from edgebind.transforms.image import ImageTransform

    path = rec.record(tmp_path / "t.db3", 1)
    with build_source({"type": "depth", "path": str(path), "color": True, "real_time": False}) as source:
        depth, color = _to_the_end(source)
    assert DepthTransform()(depth.data).shape == (1, 224, 224)
    assert ImageTransform()(color.data).shape == (3, 224, 224)


def test_real_time_playback_keeps_the_recorded_pace(tmp_path):
    path = rec.record(tmp_path / "rt.db3", 6, SoftCamera(color=False))
    with build_source({"type": "depth", "path": str(path)}) as source:
        items = _to_the_end(source)
    numbers = [c.meta["frame_number"] for c in items]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 105  # in order, ending at the last
    assert items[-1].host_time - items[0].host_time >= (numbers[-1] - numbers[0]) / rec.FPS * 0.5


def test_camera_by_serial_unplugged_replugged_and_stalled(tmp_path):
    path = str(rec.record(tmp_path / "live.db3", 8, SoftCamera(color=False)))
    context = rs.context(SW_ONLY)
    plugged = context.load_device(path)  # a camera appears (while `plugged` is held)
    assert realsense_cameras(context) == [Device("realsense", SERIAL, rec.MODEL, f"depth.serial={SERIAL}")]
    config = RealSenseConfig(serial=SERIAL, width=rec.WIDTH, height=rec.HEIGHT, fps=rec.FPS,
                             reconnect_interval_s=0.05, frame_timeout_s=0.5)
    with RealSenseSource(config, context) as camera:
        first = _items(camera, 1)[0]
        assert isinstance(first, Chunk) and first.data.depth.dtype == np.float32
        raw = rec.depth_pixels(first.meta["frame_number"] - rec.FIRST_NUMBER)
        np.testing.assert_array_equal(first.data.depth, raw.astype(np.float32) * np.float32(camera._scale))
        assert camera.info().extra["serial"] == SERIAL and camera.info().device == SERIAL

        context.unload_device(path)  # unplugged: librealsense's devices-changed callback fires
        item = camera.read(2.0)
        while isinstance(item, Chunk):  # frames that arrived before the unplug come first
            item = camera.read(2.0)
        assert isinstance(item, Gap) and item.reason == f"device lost: depth: camera {SERIAL} was unplugged"
        _wait(lambda: "no RealSense camera" in (camera.status.last_error or ""))
        assert camera.status.state.value == "reconnecting"

        _plugged = context.load_device(path)  # plugged in again: reopened by serial, streaming from the start
        _wait(lambda: camera.status.reconnects == 1)
        again = _items(camera, 1)[0]
        assert isinstance(again, Chunk) and again.modality == "depth"

        # the replayed camera runs out of frames: a stalled camera is treated as lost
        item = camera.read(3.0)
        while isinstance(item, Chunk):
            item = camera.read(3.0)
        assert isinstance(item, Gap) and item.reason == f"device lost: depth: no frame from camera {SERIAL} for 0.5 s"
        assert camera.status.gaps == 2


def test_the_first_camera_is_used_without_a_serial_and_reopened_by_its_serial(tmp_path):
    path = str(rec.record(tmp_path / "first.db3", 3, SoftCamera(color=False)))
    context = rs.context(SW_ONLY)
    plugged = context.load_device(path)  # noqa: F841  (the context holds it only weakly)
    config = RealSenseConfig(width=rec.WIDTH, height=rec.HEIGHT, fps=rec.FPS)
    with RealSenseSource(config, context) as camera:
        assert isinstance(_items(camera, 1)[0], Chunk)
        assert camera.info().device == SERIAL and camera._serial == SERIAL


def test_camera_errors_say_what_is_there_and_what_to_do(tmp_path):
    empty = rs.context(SW_ONLY)
    with pytest.raises(DeviceNotConnectedError, match=r"no RealSense camera found; connect one .*`edgebind devices`"):
        RealSenseSource(RealSenseConfig(), empty).open()
    path = str(rec.record(tmp_path / "cam.db3", 1, SoftCamera(color=False)))
    context = rs.context(SW_ONLY)
    plugged = context.load_device(path)  # noqa: F841  (the context holds it only weakly)
    with pytest.raises(DeviceNotConnectedError,
                       match=f"no RealSense camera with serial 999; attached: {SERIAL} \\(`edgebind devices`"):
        RealSenseSource(RealSenseConfig(serial="999"), context).open()
    with pytest.raises(DeviceError,
                       match=r"camera 123456 cannot stream z16 depth at 640x480 @ 30 fps .*a D435 streams"):
        RealSenseSource(RealSenseConfig(serial=SERIAL), context).open()
    with pytest.raises(DeviceNotConnectedError, match=r"no recording at .*nothing\.db3; check the path"):
        build_source({"type": "depth", "path": str(tmp_path / "nothing.db3")}).open()
    with pytest.raises(DeviceError, match=r"recording .*cam\.db3 cannot stream depth and colour"):
        build_source({"type": "depth", "path": path, "color": True}).open()
    bgr = rec.record(tmp_path / "bgr.db3", 1, SoftCamera(color_format="bgr8"))
    with pytest.raises(DeviceError, match=r"bgr\.db3 has colour as format\.bgr8; the depth source reads rgb8"):
        build_source({"type": "depth", "path": str(bgr), "color": True}).open()


def test_config_from_the_command_line():
    [config] = sensor_configs("depth", ["depth.serial=123456", "depth.color=true"])
    assert isinstance(config, RealSenseConfig) and config.serial == "123456" and config.color
    with pytest.raises(ConfigError, match="either serial .* or path"):
        sensor_configs("depth", ["depth.serial=1", "depth.path=x.bag"])
    with pytest.raises(ConfigError, match="must be > 0"):
        RealSenseConfig(fps=0)


def test_a_missing_pyrealsense2_is_named_with_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)
    with pytest.raises(MissingDependencyError, match=r"the depth source needs the 'pyrealsense2' package: "
                                                     r"pip install 'edgebind\[sensors\]'"):
        build_source({"type": "depth"}).open()


def test_baseline_from_the_infrared_extrinsics_of_a_live_sensor():
    device = rs.software_device()
    sensor = device.add_sensor("Stereo Module")
    left = sensor.add_video_stream(rec.video_stream(rs.stream.infrared, 1, 1, rs.format.y8, 1))
    right = sensor.add_video_stream(rec.video_stream(rs.stream.infrared, 2, 2, rs.format.y8, 1))
    assert stereo_baseline(rs, sensor) is None  # neither extrinsics nor the option
    sensor.add_read_only_option(rs.option.stereo_baseline, 49.0)
    assert stereo_baseline(rs, sensor) == pytest.approx(0.049)
    extrinsics = rs.extrinsics()
    extrinsics.rotation, extrinsics.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [-0.0501, 0, 0]
    left.register_extrinsics_to(right, extrinsics)
    assert stereo_baseline(rs, sensor) == pytest.approx(0.0501)  # the extrinsics win
