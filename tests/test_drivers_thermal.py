"""Thermal sources: the UVC frame decoders on generated frames with known temperatures, the
`thermal` source through a fake at the cv2.VideoCapture boundary only (raw buffers as V4L2 hands
them over; everything from the buffer on is real), and `mlx90640` over a real pty."""
import os
import queue
import select
import time

import numpy as np
import pytest

from edgebind.drivers import Chunk, Gap, build_source
from edgebind.drivers.devices import video_devices
from edgebind.drivers.mlx90640_protocol import START_COMMAND, SYNC, gy_mcu90640_frame
from edgebind.drivers.sensors import sensor_configs
from edgebind.drivers.thermal_formats import decode, relative_scale
from edgebind.errors import ConfigError, DeviceError, DeviceNotConnectedError, InputError
from edgebind.frames import ThermalFrame

from serial_pty import FakeSerialDevice


def _next(source, kind, timeout=5.0):
    item = source.read(timeout)
    assert isinstance(item, kind), f"expected a {kind.__name__}, got {item!r}"
    return item


def _wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the source"
        time.sleep(0.01)


def _centikelvin(height, width, base_c=20.0):
    """A Y16 TLinear frame: base_c in the corner, +0.01 K per pixel along each row."""
    return (round((base_c + 273.15) * 100) + np.arange(height * width) % width).astype(np.uint16).reshape(height, width)


def _tc001_frame(kelvin: np.ndarray, visible_seed=0) -> np.ndarray:
    """A TC001 YUYV buffer (384 x 256 x 2 bytes): visible image on top, raw = K * 64 below."""
    raw = np.round(kelvin * 64).astype(np.uint16)
    thermal = np.stack([raw & 0xFF, raw >> 8], axis=-1).astype(np.uint8)
    visible = np.random.default_rng(visible_seed).integers(0, 256, thermal.shape, dtype=np.uint8)
    return np.concatenate([visible, thermal])


# --- frame decoders ----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,size", [("lepton", (120, 160)), ("lepton", (60, 80)),
                                      ("boson", (256, 320)), ("boson", (512, 640))])
def test_radiometric_y16_is_centikelvin_unchanged(fmt, size):
    raw = _centikelvin(*size)
    frame = decode(fmt, raw)
    assert frame.units == "centikelvin" and frame.data.dtype == np.uint16
    np.testing.assert_array_equal(frame.data, raw)
    assert frame.data[0, 0] == 29315 and frame.data[0, 5] == 29320  # 20.00 and 20.05 degC


def test_a_radiometric_frame_reads_as_its_temperatures_in_the_transform():
    from edgebind.transforms.thermal import resolve_units, to_unit_range

    frame = decode("lepton", _centikelvin(120, 160))  # 20 degC in the corner
    unit = to_unit_range(frame.data, resolve_units(frame.data, frame.units), -10.0, 50.0)
    assert unit[0, 0] == pytest.approx(0.5)  # 20 degC in the default -10..50 degC window


def test_tc001_raw_half_is_kelvin_over_64_and_the_visible_half_is_ignored():
    kelvin = np.full((192, 256), 296.875, np.float64)  # 19000 / 64
    kelvin[10, 20], kelvin[191, 255], kelvin[0, 0] = 310.0, 233.015625, 373.5  # 37 C, -40 C, 100 C
    frame = decode("tc001", _tc001_frame(kelvin))
    assert frame.units == "kelvin" and frame.data.dtype == np.float32 and frame.data.shape == (192, 256)
    np.testing.assert_array_equal(frame.data, kelvin.astype(np.float32))
    np.testing.assert_array_equal(decode("tc001", _tc001_frame(kelvin, visible_seed=1)).data, frame.data)


def test_non_radiometric_counts_become_the_documented_relative_scale():
    counts = (7000 + np.arange(320 * 256) % 256).astype(np.uint16).reshape(256, 320)  # 7000..7255
    frame = decode("boson", counts, radiometric=False)
    assert frame.units == "uint8" and frame.data.dtype == np.uint8
    np.testing.assert_array_equal(frame.data, (counts - 7000).astype(np.uint8))
    np.testing.assert_array_equal(relative_scale(np.array([100, 110, 120])), [0, 127, 255])
    np.testing.assert_array_equal(relative_scale(np.full((2, 2), 9000, np.uint16)), np.zeros((2, 2)))


def test_wrong_formats_and_sizes_are_rejected_with_what_to_set():
    with pytest.raises(InputError, match=r"lepton: expected a Y16 160x120 or 80x60 frame \(uint16 H x W\), "
                                         r"got uint16 121x160; set format to this camera's \(lepton: Y16"):
        decode("lepton", np.full((121, 160), 30000, np.uint16))
    with pytest.raises(InputError, match=r"boson: expected .* got uint8 256x320x3"):
        decode("boson", np.zeros((256, 320, 3), np.uint8))  # a BGR picture: CONVERT_RGB was left on
    with pytest.raises(InputError, match=r"tc001: expected a YUYV 256x384 frame \(uint8 H x W x 2\), got uint8 192x256x2"):
        decode("tc001", np.zeros((192, 256, 2), np.uint8))  # the thermal half alone
    with pytest.raises(InputError, match=r"tc001: expected .* got uint16 120x160"):
        decode("tc001", _centikelvin(120, 160))
    with pytest.raises(InputError, match=r"below 150 K .* enable TLinear .* or set radiometric: false"):
        decode("lepton", np.full((120, 160), 8192, np.uint16))  # raw counts, TLinear off


# --- the `thermal` source: the fake is the cv2.VideoCapture object and nothing else -------------
class FakeCamera:
    """A UVC camera behind /dev/videoN: its V4L2 formats, the frames it will send, plugged or not."""

    def __init__(self, path, fourcc, sizes, make_frame):
        self.path, self.fourcc, self.sizes, self.make_frame = path, fourcc, sizes, make_frame
        self.plugged, self.frames, self.captures = True, queue.Queue(), []

    def send(self, n, stamp_ms=0.0):
        """The camera captures frame `n` (what make_frame(n) says) at stamp_ms."""
        self.frames.put((n, stamp_ms))

    def unplug(self):
        self.plugged = False
        self.frames.put(None)  # a read waiting on the vanished device fails

    def plug(self):
        self.frames = queue.Queue()
        self.plugged = True


class FakeCapture:
    """cv2.VideoCapture as its V4L2 backend behaves for `camera`: raw buffers with CONVERT_RGB 0,
    a BGR picture otherwise; read() fails after the read timeout or when the device is gone."""

    def __init__(self, cv2, camera, device, api):
        self.cv2, self.camera, self.api = cv2, camera, api
        self.opened = camera.plugged and device in (camera.path, int(camera.path[-1]))
        self.props = {cv2.CAP_PROP_FOURCC: cv2.VideoWriter.fourcc(*camera.fourcc),
                      cv2.CAP_PROP_CONVERT_RGB: 1, cv2.CAP_PROP_READ_TIMEOUT_MSEC: 10_000}
        self.size, self.wanted, self.frames, self.stamp = camera.sizes[0], list(camera.sizes[0]), camera.frames, 0.0
        camera.captures.append(self)

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        cv2 = self.cv2
        if prop == cv2.CAP_PROP_FOURCC:
            return int(value) == cv2.VideoWriter.fourcc(*self.camera.fourcc)  # V4L2 keeps its own
        if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):  # nearest size it has
            self.wanted[prop == cv2.CAP_PROP_FRAME_HEIGHT] = int(value)
            self.size = min(self.camera.sizes, key=lambda s: abs(s[0] - self.wanted[0]) + abs(s[1] - self.wanted[1]))
            return True
        self.props[prop] = value
        return True

    def get(self, prop):
        cv2 = self.cv2
        if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):
            return float(self.size[prop == cv2.CAP_PROP_FRAME_HEIGHT])
        return float(self.stamp if prop == cv2.CAP_PROP_POS_MSEC else self.props.get(prop, 0))

    def read(self):
        try:
            sent = self.frames.get(timeout=self.props[self.cv2.CAP_PROP_READ_TIMEOUT_MSEC] / 1000)
        except queue.Empty:
            sent = None
        if sent is None or not self.camera.plugged:
            return False, None
        n, self.stamp = sent
        raw = self.camera.make_frame(n, self.size)
        if self.props[self.cv2.CAP_PROP_CONVERT_RGB]:  # OpenCV's 8-bit BGR rendering of the buffer
            raw = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        return True, raw

    def release(self):
        self.opened = False


@pytest.fixture
def attach(monkeypatch):
    """attach(fourcc, sizes, make_frame) -> a FakeCamera at /dev/video7 that cv2.VideoCapture opens."""
    cv2 = pytest.importorskip("cv2")
    cameras = []

    def open_capture(device, api=None):
        assert api == cv2.CAP_V4L2
        return FakeCapture(cv2, cameras[-1], device, api)

    monkeypatch.setattr(cv2, "VideoCapture", open_capture)

    def attach_camera(fourcc, sizes, make_frame):
        cameras.append(FakeCamera("/dev/video7", fourcc, sizes, make_frame))
        return cameras[-1]
    return attach_camera


def _lepton(n, size):
    return _centikelvin(size[1], size[0], base_c=20.0 + n)


def test_lepton_frames_then_unplug_gap_and_reconnect(attach):
    camera = attach("Y16 ", [(160, 120)], _lepton)
    config = {"type": "thermal", "device": "/dev/video7", "reconnect_interval_s": 0.05, "read_timeout_s": 1.0}
    with build_source(config) as source:
        cap = camera.captures[0]
        assert cap.props[cap.cv2.CAP_PROP_CONVERT_RGB] == 0 and cap.size == (160, 120)
        camera.send(0, stamp_ms=1500.0)
        camera.send(1, stamp_ms=1615.0)
        first, second = _next(source, Chunk), _next(source, Chunk)
        assert isinstance(first.data, ThermalFrame) and first.modality == "thermal"
        np.testing.assert_array_equal(first.data.data, _centikelvin(120, 160, 20.0))
        assert second.data.data[0, 0] == 29415 and first.data.units == "centikelvin"  # 21.00 degC
        assert (first.sensor_time, second.sensor_time, second.seq) == (1.5, 1.615, 1)
        assert source.info().streams[0].shape == (120, 160) and source.info().streams[0].rate_hz == 8.7

        camera.unplug()
        gap = _next(source, Gap)
        assert "device lost: thermal: /dev/video7 stopped sending frames" in gap.reason
        camera.plug()
        _wait_until(lambda: source.status.reconnects == 1)
        camera.send(5)
        after = _next(source, Chunk)
        assert after.data.data[0, 0] == 29815 and after.sensor_time is None  # no timestamp: None
        assert source.status.gaps == 1 and source.status.chunks == 3 and len(camera.captures) >= 2


def test_lepton2_settles_on_80x60_and_tc001_gives_kelvin(attach):
    attach("Y16 ", [(80, 60)], _lepton).send(0)
    with build_source({"type": "thermal", "device": 7, "read_timeout_s": 0.2}) as source:
        chunk = _next(source, Chunk)
        assert chunk.data.data.shape == (60, 80) and source.info().streams[0].shape == (60, 80)

    kelvin = np.full((192, 256), 300.0)
    camera = attach("YUYV", [(256, 384)], lambda n, size: _tc001_frame(kelvin + n))
    camera.send(2)
    with build_source({"type": "thermal", "device": "/dev/video7", "format": "tc001", "read_timeout_s": 0.2}) as source:
        chunk = _next(source, Chunk)
    assert chunk.data.units == "kelvin" and chunk.data.data.dtype == np.float32
    np.testing.assert_array_equal(chunk.data.data, np.full((192, 256), 302.0, np.float32))
    assert source.info().streams[0].shape == (192, 256)


def test_a_camera_of_another_format_or_no_camera_are_clear_errors(attach):
    attach("YUYV", [(256, 384)], lambda n, size: None)
    with pytest.raises(DeviceError, match=r"thermal: /dev/video7 sends YUYV 256x384, not lepton frames "
                                          r"\(Y16 160x120 or 80x60\); set format to this camera's"):
        build_source({"type": "thermal", "device": "/dev/video7"}).open()
    with pytest.raises(DeviceNotConnectedError, match=r"cannot open /dev/video3.*`edgebind devices` lists video devices"):
        build_source({"type": "thermal", "device": "/dev/video3"}).open()
    with pytest.raises(ConfigError, match="thermal format must be one of 'lepton', 'boson', 'tc001', got 'flir'"):
        build_source({"type": "thermal", "format": "flir"})
    with pytest.raises(ConfigError, match="radiometric: false applies to Y16 cameras"):
        build_source({"type": "thermal", "format": "tc001", "radiometric": False})
    with pytest.raises(ConfigError, match="thermal device must be a /dev/video path or an index >= 0, got -1"):
        build_source({"type": "thermal", "device": -1})


def test_a_frame_the_format_cannot_read_stops_the_source_saying_why(attach):
    attach("Y16 ", [(160, 120)], lambda n, size: np.full((120, 160), 8192, np.uint16)).send(0)
    with build_source({"type": "thermal", "device": "/dev/video7", "reconnect_interval_s": 0.05}) as source:
        with pytest.raises(DeviceError, match=r"/dev/video7: Y16 values down to 8192 .* enable TLinear"):
            source.read(5.0)
        assert source.status.state.value == "failed"


def test_devices_setting_selects_the_camera(tmp_path):
    (tmp_path / "video4").touch()
    [device] = video_devices(str(tmp_path / "video*"))
    [config] = sensor_configs("thermal", [device.setting])
    assert device.setting == f"thermal.device={tmp_path / 'video4'}" and config.device == str(tmp_path / "video4")
    [config] = sensor_configs("thermal", ["thermal.device=2", "thermal.format=boson"])
    assert (config.device, config.format) == (2, "boson")


# --- `mlx90640` over a real pty ----------------------------------------------------------------
@pytest.fixture
def port(tmp_path):
    pytest.importorskip("serial")
    dev = FakeSerialDevice(tmp_path / "ttyMLX")
    yield dev
    dev.close()


def _sent_by_host(dev, n, timeout=5.0):
    """What the host wrote to the module: n bytes read from the pty's device side."""
    data = b""
    while len(data) < n:
        assert select.select([dev.master], [], [], timeout)[0], "the host sent nothing"
        data += os.read(dev.master, n - len(data))
    return data


def _temps(offset=0):
    """degC x 100 over 24 x 32, from -40 degC up."""
    return (-4000 + 7 * np.arange(768) + offset).astype(np.int16).reshape(24, 32)


def test_mlx90640_frames_through_garbage_bad_checksum_unplug_and_replug(port):
    config = {"type": "mlx90640", "port": str(port.path), "reconnect_interval_s": 0.05}
    with build_source(config) as source:
        assert _sent_by_host(port, 4) == START_COMMAND  # the module was asked to stream
        good = gy_mcu90640_frame(_temps(), 2512)
        bad = bytearray(good)
        bad[1000] ^= 0x01  # one flipped bit: the checksum no longer matches
        assert bad.find(SYNC, 1) < 0  # no header inside it: all of it is skipped as garbage
        port.write(b"\x00noise" + bytes(bad) + good[:700])
        port.write(good[700:])
        chunk = _next(source, Chunk)
        assert chunk.modality == "thermal" and chunk.data.units == "centikelvin"
        np.testing.assert_array_equal(chunk.data.data, _temps().astype(np.int32) + 27315)
        assert chunk.data.data.dtype == np.uint16 and chunk.data.data[0, 0] == 23315  # -40.00 degC
        assert chunk.meta == {"ambient_c": 25.12} and source.info().streams[0].shape == (24, 32)
        assert source.parser.rejected == 1 and source.parser.garbage == 6 + len(bad)

        port.unplug()
        gap = _next(source, Gap)
        assert "device lost: mlx90640:" in gap.reason and "stopped sending" in gap.reason
        port.plug()
        port.wait_until(lambda: source.status.reconnects == 1)
        assert _sent_by_host(port, 4) == START_COMMAND  # asked again after the replug
        port.write(gy_mcu90640_frame(_temps(300), -150))
        after = _next(source, Chunk)
        assert after.data.data[0, 0] == 23615 and after.meta == {"ambient_c": -1.5}
        assert source.status.gaps == 1 and source.status.chunks == 2


def test_mlx90640_missing_port_and_bad_settings(tmp_path):
    pytest.importorskip("serial")
    with pytest.raises(DeviceNotConnectedError, match=r"mlx90640: cannot open .*nope.*`edgebind devices` lists serial"):
        build_source({"type": "mlx90640", "port": str(tmp_path / "nope")}).open()
    with pytest.raises(ConfigError, match="missing required key.*port"):
        build_source({"type": "mlx90640"})
    with pytest.raises(ConfigError, match="baudrate and rate_hz must be > 0"):
        build_source({"type": "mlx90640", "port": "x", "rate_hz": 0})
