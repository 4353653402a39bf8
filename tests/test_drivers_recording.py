"""Recording and replay: what goes into an MCAP file comes back exactly (in Foxglove's schemas), a
SIGKILLed recorder loses at most about a second, SIGTERM finishes the file, and `replay` plays it."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("mcap")
from mcap.reader import make_reader  # noqa: E402

from edgebind.cli.main import main  # noqa: E402
from edgebind.drivers import Chunk, Gap, build_source  # noqa: E402
from edgebind.drivers.recording import Recorder, read_items, record  # noqa: E402
from edgebind.errors import ConfigError, RecordingError  # noqa: E402
from edgebind.frames import DepthFrame, ThermalFrame  # noqa: E402

SIM = [{"type": "sim", "modality": m, "speed": 0, "duration_s": 1.0, "scene_s": 1.0, "onset_s": 0.5}
       for m in ("audio", "depth", "thermal", "imu")]


def _sim_items() -> list:
    items = []
    for config in SIM:
        with build_source(config) as source:
            items += list(source)
    return items


def _by_source(items) -> dict:
    out = {}
    for item in items:
        out.setdefault(item.source, []).append(item)
    return out


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """The sim set (1 s) plus a Gap, recorded; returns (path, what was written)."""
    path = tmp_path_factory.mktemp("rec") / "sim.mcap"
    colour = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    items = _sim_items() + [Gap("sim_imu", "device lost: test", time.monotonic(), 3),
                            Chunk("cam", "vision", colour, time.monotonic(), 0.5, 0)]
    with Recorder(path) as recorder:
        for item in items:
            recorder.write(item)
    return path, items


def test_recording_reads_back_exactly(recording):
    path, written = recording
    got, sent = _by_source(read_items(path)), _by_source(written)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in sent.items()}
    for source, items in sent.items():
        for a, b in zip(items, got[source]):
            if isinstance(a, Gap):
                assert (b.reason, b.dropped, b.host_time) == (a.reason, a.dropped, a.host_time)
                continue
            assert (b.modality, b.seq, b.sensor_time, b.host_time, b.meta) == \
                (a.modality, a.seq, a.sensor_time, a.host_time, dict(a.meta))
            if isinstance(a.data, DepthFrame):
                np.testing.assert_array_equal(b.data.depth, a.data.depth)
                assert (b.data.baseline_m, b.data.focal_px) == pytest.approx((a.data.baseline_m, a.data.focal_px))
            elif isinstance(a.data, ThermalFrame):
                assert b.data.units == "centikelvin" and b.data.data.dtype == np.uint16
                np.testing.assert_allclose(b.data.data / 100, a.data.data, atol=0.005)
            elif a.modality == "audio":
                np.testing.assert_allclose(b.data[0], a.data[0], atol=1.5 / 32768)
                assert b.data[1] == a.data[1]
            elif a.modality == "vision":
                assert b.data.dtype == np.uint8
                np.testing.assert_array_equal(b.data, a.data)
            else:
                np.testing.assert_array_equal(b.data[0], a.data[0])


def test_recording_is_a_complete_mcap_in_foxglove_schemas(recording):
    with open(recording[0], "rb") as f:
        summary = make_reader(f).get_summary()
    schemas = {s.name for s in summary.schemas.values()}
    assert {"foxglove.RawImage", "foxglove.RawAudio", "foxglove.CameraCalibration", "edgebind.ImuBlock"} <= schemas
    topics = {c.topic for c in summary.channels.values()}
    assert {"/sim_depth/depth", "/sim_depth/calibration", "/sim_audio/audio", "/sim_imu/gap"} <= topics
    with open(recording[0], "rb") as f:
        _, channel, message = next(m for m in make_reader(f).iter_messages(topics=["/sim_audio/audio"]))
    body = json.loads(message.data)
    assert (body["format"], body["sample_rate"], body["number_of_channels"]) == ("pcm-s16", 16000, 1)


def test_replay_as_fast_as_possible_keeps_every_item(recording):
    path, written = recording
    with build_source({"type": "replay", "path": str(path), "speed": 0}) as replay:
        items = list(replay)
    assert len(items) == len(written) and replay.status.drops == 0
    shifted = [b.host_time - a.host_time for a, b in zip(written, items) if isinstance(a, Chunk)]
    assert np.ptp(shifted) < 1e-6  # recorded host times, shifted to the replay's start
    with build_source({"type": "replay", "path": str(path), "speed": 0, "sources": ["sim_imu", "cam"]}) as replay:
        assert {i.source for i in replay} == {"sim_imu", "cam"}
        cam, imu = replay.info().streams  # by topic
    assert (imu.modality, imu.rate_hz, imu.shape, imu.dtype, imu.units) == ("imu", 200.0, (10, 6), "float32",
                                                                         "m/s^2, rad/s")
    assert (cam.modality, cam.shape, cam.dtype) == ("vision", (6, 8, 3), "uint8")


def test_replay_describes_every_recorded_stream(recording):
    streams = build_source({"type": "replay", "path": str(recording[0])}).info().streams
    by_modality = {s.modality: s for s in streams}
    assert set(by_modality) == {"audio", "depth", "thermal", "imu", "vision"}
    assert (by_modality["audio"].rate_hz, by_modality["audio"].shape) == (16000.0, (512, 1))
    assert (by_modality["depth"].shape, by_modality["depth"].units) == ((64, 64), "millimetres")
    assert (by_modality["thermal"].dtype, by_modality["thermal"].units) == ("uint16", "centikelvin")


def test_live_recording_replays_at_recorded_speed(tmp_path):
    out = tmp_path / "timed.mcap"
    start = time.monotonic()
    recorder = record([build_source({"type": "sim", "modality": "imu"})], out, duration_s=0.6)
    assert 0.5 < time.monotonic() - start < 1.5 and recorder.closed
    recorded = list(read_items(out))
    assert 8 <= len(recorded) <= 13
    with build_source({"type": "replay", "path": str(out), "speed": 1}) as replay:
        start = time.monotonic()
        items = list(replay)
        took = time.monotonic() - start
    assert len(items) == len(recorded)
    assert took == pytest.approx(recorded[-1].host_time - recorded[0].host_time, abs=0.1)
    assert np.diff([i.host_time for i in items]) == pytest.approx(np.diff([i.host_time for i in recorded]), abs=0.03)


def _start_recorder(out, sensors: str = "sim") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "edgebind.cli.main", "record", "--sensors", sensors, str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_recorded_seconds(out, seconds: float, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if out.exists():
            times = [i.sensor_time for i in read_items(out) if isinstance(i, Chunk)]
            if times and max(times) >= seconds:
                return
        time.sleep(0.2)
    raise AssertionError("the recorder wrote nothing in time")


@pytest.mark.slow
def test_sigkilled_recorder_loses_at_most_about_a_second(tmp_path):
    out = tmp_path / "killed.mcap"
    # Audio and IMU only: ~60 kB/s, so without the periodic flush the writer's 1 MiB chunk would
    # hold the first ~15 s in memory and the file would stay empty.
    proc = _start_recorder(out, "sim_audio,sim_imu")
    deadline = time.monotonic() + 30
    while not out.exists():  # created just before the sources open
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(2.5)
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with pytest.raises(Exception), open(out, "rb") as f:  # no summary: the seeking reader fails
        make_reader(f).get_summary()
    items = list(read_items(out))  # the streaming fallback reads it
    last = {}
    for item in items:
        last[item.source] = max(last.get(item.source, 0.0), item.host_time)
    assert set(last) == {"sim_audio", "sim_imu"}
    assert min(last.values()) > killed_at - 1.0, {k: killed_at - v for k, v in last.items()}


@pytest.mark.slow
def test_sigterm_finishes_the_file(tmp_path):
    out = tmp_path / "stopped.mcap"
    proc = _start_recorder(out)
    _wait_for_recorded_seconds(out, 1.0, proc)
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "sim_audio" in stdout and "wrote" in stdout
    with open(out, "rb") as f:
        summary = make_reader(f).get_summary()
    assert summary.statistics.message_count == len(list(read_items(out))) + 1  # + the calibration
    assert max(i.host_time for i in read_items(out)) > stopped_at - 0.2


def _full_disk_at(size: int):
    """For a child process: writes past `size` bytes fail (EFBIG), as a full disk's do (ENOSPC)."""
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return limit


def test_a_full_disk_stops_recording_with_a_clear_error_and_a_readable_file(tmp_path):
    out = tmp_path / "full.mcap"
    proc = subprocess.run(
        [sys.executable, "-m", "edgebind.cli.main", "record", "--sensors", "sim", "--set", "sim.speed=0",
         "--set", "sim.duration_s=60", str(out)],
        preexec_fn=_full_disk_at(200_000), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"edgebind record: error: writing {out} failed (File too large); recording stopped, the file holds " \
           "what was recorded up to the last flush" in proc.stderr
    items = list(read_items(out))  # everything up to the last flush reads back
    assert len(items) > 50 and {i.source for i in items} <= {"sim_audio", "sim_depth", "sim_thermal", "sim_imu"}


def test_record_command_and_its_errors(tmp_path, capsys):
    out = tmp_path / "imu"
    assert main(["record", "--sensors", "sim_imu", "--set", "sim.speed=0", "--set", "sim_imu.duration_s=0.5",
                 str(out)]) == 0
    assert "sim_imu        chunks=10 gaps=0 drops=0" in capsys.readouterr().out
    assert len(list(read_items(tmp_path / "imu.mcap"))) == 10
    assert main(["record", "--sensors", "lidar", str(out)]) == 2
    assert "unknown sensor 'lidar'; choose from: sim, sim_audio" in capsys.readouterr().err
    assert main(["record", "--sensors", "imu", str(out)]) == 2
    assert "missing required key(s) ['port'] for ImuConfig (set a key with --set imu.KEY=VALUE)" \
        in capsys.readouterr().err
    assert main(["record", "--sensors", "sim_imu", "--set", "sim_imu.sped=0", str(out)]) == 2
    assert "sensor sim_imu: unknown key(s) ['sped']" in capsys.readouterr().err


def test_a_recording_cut_anywhere_reads_back_a_prefix_of_its_items(recording, tmp_path):
    # A full disk or a killed writer can stop the file inside any record, a short index record's
    # fixed fields included (the mcap reader then raised struct.error, not EndOfFile).
    path, _ = recording
    data, whole = path.read_bytes(), [repr(i) for i in read_items(path)]
    cut, counts = tmp_path / "cut.mcap", []
    for end in range(0, len(data), max(1, len(data) // 400)):
        cut.write_bytes(data[:end])
        got = [repr(i) for i in read_items(cut)]
        assert got == whole[:len(got)], end
        counts.append(len(got))
    assert counts == sorted(counts) and counts[-1] >= len(whole) - 2


def test_unreadable_recordings_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not an mcap file at all")
    with pytest.raises(RecordingError, match="is not a readable MCAP recording"):
        list(read_items(junk))
    with pytest.raises(ConfigError, match="missing required key.*path"):
        build_source({"type": "replay"})
    with pytest.raises(Exception, match="no recording at .*nothing.mcap; check the path"):
        build_source({"type": "replay", "path": str(tmp_path / "nothing.mcap")}).open()
