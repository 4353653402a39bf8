"""`imu` over a real pty: both protocols with their unit conversions, resynchronisation after
garbage, and an unplugged device becoming a Gap and a reopened port."""
import math

import numpy as np
import pytest

from edgebind.drivers import Chunk, Gap, build_source
from edgebind.drivers.imu_protocols import CsvParser, WitMotionParser, witmotion_packet
from edgebind.errors import ConfigError, DeviceNotConnectedError

from serial_pty import FakeSerialDevice

pytest.importorskip("serial")


@pytest.fixture
def device(tmp_path):
    dev = FakeSerialDevice(tmp_path / "ttyIMU")
    yield dev
    dev.close()


def _line(i: int) -> bytes:
    return f"{i * 0.005:.3f},{i},0.5,9.81,0.01,-0.02,{i / 100}\r\n".encode()


def _next(source, kind, timeout=5.0):
    """The next item of `kind` (Chunk or Gap), skipping none of the other kind silently."""
    item = source.read(timeout)
    assert isinstance(item, kind), f"expected a {kind.__name__}, got {item!r}"
    return item


def test_csv_lines_through_garbage_unplug_and_replug(device):
    config = {"type": "imu", "port": str(device.path), "block": 5, "reconnect_interval_s": 0.05}
    with build_source(config) as source:
        device.write(b"# firmware v1\n" + _line(0) + _line(1) + b"\x00\xff\x13noise,1,2\n" + _line(2))
        device.write(_line(3) + b"1,2,3\n" + _line(4) + _line(5) + _line(6))
        chunk = _next(source, Chunk)
        data, rate = chunk.data
        assert rate == 200.0 and data.dtype == np.float32 and data.shape == (5, 6)
        np.testing.assert_allclose(data[:, 0], [0, 1, 2, 3, 4])
        np.testing.assert_allclose(data[4], [4, 0.5, 9.81, 0.01, -0.02, 0.04], rtol=1e-6)
        assert chunk.sensor_time == 0.0 and source.parser.garbage == len(b"\x00\xff\x13noise,1,2\n1,2,3\n")

        device.wait_until(lambda: source.parser.pending == 0 and len(source._samples) == 2)
        device.unplug()
        tail = _next(source, Chunk)  # what arrived before the cable was pulled is not lost
        assert tail.data[0].shape == (2, 6) and tail.sensor_time == pytest.approx(0.025)
        gap = _next(source, Gap)
        assert "device lost: imu:" in gap.reason and "stopped sending" in gap.reason
        assert source.status.state.value == "reconnecting"

        device.plug()
        device.wait_until(lambda: source.status.reconnects == 1)
        device.write(b"".join(_line(i) for i in range(100, 105)))
        after = _next(source, Chunk)
        np.testing.assert_allclose(after.data[0][:, 0], range(100, 105))
        assert source.status.gaps == 1 and source.status.state.value == "connected"


def test_witmotion_packets_in_si_units(device):
    config = {"type": "imu", "port": str(device.path), "protocol": "witmotion", "block": 2}
    with build_source(config) as source:
        accel = witmotion_packet(0x51, (16384, -2048, 0, 2500))  # 8 g, -1 g, 0 (temperature word)
        gyro = witmotion_packet(0x52, (16384, 0, -1638, 0))  # 1000 deg/s, 0, ~-100 deg/s
        angle = witmotion_packet(0x53, (1, 2, 3, 4))  # skipped
        device.write(b"\x55\x51\x00" + accel + angle + gyro + b"\x55" * 7 + accel + gyro)
        chunk = _next(source, Chunk)
    g, d = 9.80665, math.pi / 180
    expected = [8 * g, -g, 0, 1000 * d, 0, -1638 / 32768 * 2000 * d]
    np.testing.assert_allclose(chunk.data[0], [expected, expected], rtol=1e-6)
    assert chunk.sensor_time is None and source.parser.garbage == 10


def test_csv_in_g_and_degrees_is_converted():
    parser = CsvParser(accel_scale=9.80665, gyro_scale=math.pi / 180)
    [(t, values)] = parser.feed(b"1.5,0,0,1,0,0,180\n")
    assert t == 1.5 and values == pytest.approx((0, 0, 9.80665, 0, 0, math.pi))


def test_parsers_keep_at_most_one_record_of_garbage():
    csv, wit = CsvParser(), WitMotionParser()
    for _ in range(100):
        csv.feed(b"x" * 1000)
        wit.feed(b"\x55" * 1000)
    assert csv.pending <= 256 and wit.pending < 11 and csv.garbage > 0 and wit.garbage > 0


def test_missing_port_and_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(DeviceNotConnectedError, match=r"cannot open .*nope.*`edgebind devices` lists serial ports"):
        build_source({"type": "imu", "port": str(tmp_path / "nope")}).open()
    with pytest.raises(ConfigError, match="imu protocol must be one of 'csv', 'witmotion', got 'nmea'"):
        build_source({"type": "imu", "port": "x", "protocol": "nmea"})
    with pytest.raises(ConfigError, match="missing required key.*port"):
        build_source({"type": "imu"})
    with pytest.raises(ConfigError, match="apply to the csv protocol"):
        build_source({"type": "imu", "port": "x", "protocol": "witmotion", "accel_unit": "g"})
