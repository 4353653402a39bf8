"""The node over real parts in one run: a synthetic-world sound played through a real PulseAudio
null sink into `mic`, a replayed depth recording and an IMU streaming CSV over a real pty all fire
the matching text-defined event and no other, and the store ranks the sound's moments first."""
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from edgebind.drivers import Chunk
from edgebind.drivers.recording import Recorder
from edgebind.drivers.sim_scenes import SceneSchedule
from edgebind.frames import DepthFrame
from edgebind.runtime import Detection, Node
from edgebind.runtime.profile import node_config

from pulse_audio import MISSING, SKIP_REASON
from serial_pty import FakeSerialDevice

pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING, reason=SKIP_REASON)]
SCENE, SECONDS = 4, 6.0  # scene 4 of the sim world (seed 0): a kettle


def _depth_recording(path, schedule: SceneSchedule) -> None:
    frame = DepthFrame.from_camera(schedule.depth_pair(SCENE, 64)[1], "kinect_v1")
    with Recorder(path) as recorder:
        for i in range(int(SECONDS * 10)):
            recorder.write(Chunk("cam", "depth", frame, 1000.0 + i / 10, i / 10, i))


def _stream_imu(device: FakeSerialDevice, samples: np.ndarray, stop: threading.Event) -> None:
    """CSV lines at 200 Hz, in 50 ms bursts, as a microcontroller would send them."""
    start = time.monotonic()
    for i in range(0, len(samples), 10):
        if stop.is_set():
            return
        lines = "".join(f"{(i + j) / 200:.3f}," + ",".join(f"{v:.5f}" for v in row) + "\n"
                        for j, row in enumerate(samples[i:i + 10]))
        device.write(lines.encode())
        time.sleep(max(0.0, start + (i + 10) / 200 - time.monotonic()))


def test_a_sound_a_depth_recording_and_an_imu_fire_their_event_and_no_other(pulse, tmp_path):
    schedule = SceneSchedule(0, 8, 8.0, 3.0, 2.0)
    label = schedule.event(SCENE).label
    sound = schedule.audio_scene(SCENE, 16000)[3 * 16000:, 0]  # from the onset: the kettle alone
    sf.write(tmp_path / "kettle.wav", np.concatenate([np.zeros(8000), sound[: int(5 * 16000)]]), 16000)
    _depth_recording(tmp_path / "depth.mcap", schedule)
    imu = FakeSerialDevice(tmp_path / "ttyIMU")
    sensors = [{"type": "mic", "name": "mic", "device": "pulse"},
               {"type": "replay", "name": "cam", "path": str(tmp_path / "depth.mcap")},
               {"type": "imu", "name": "imu", "port": str(imu.path)}]
    config = node_config(sensors=sensors, detector={"min_level_db": -45.0}, store={"path": str(tmp_path / "m.db")})
    config.events = node_config(sensors=[{"type": "sim"}]).events  # the sim world's classes, by text
    config.calibration = node_config(sensors=[{"type": "sim"}]).calibration
    stop, outputs = threading.Event(), []
    with Node(config) as node:
        writer = threading.Thread(target=_stream_imu, args=(imu, schedule.imu_scene(SCENE, 200.0)[600:], stop))
        writer.start()
        played_at = time.time()
        player = pulse.play(tmp_path / "kettle.wav")
        deadline = time.monotonic() + SECONDS + 1.5
        while time.monotonic() < deadline:
            if (item := node.read(0.1)) is not None:
                outputs.append(item)
        player.wait(10)
        stop.set()
        writer.join()
        node.store.flush()
        best = node.query(label, k=3, modalities=["audio"])
    imu.close()
    starts = [d for d in outputs if isinstance(d, Detection) and d.kind == "start"]
    fired = {(d.source, d.event) for d in starts}
    assert {("mic", label), ("cam", label), ("imu", label)} <= fired, fired
    assert {event for _, event in fired} == {label}, fired  # no other event fired anywhere
    # the store's best audio moments for the text are windows of the sound (0.5 s to ~6 s after
    # paplay started, with PulseAudio's latency): each spends at least 1 s of its 2 s inside it
    spans = [(m.t_start - played_at, m.t_end - played_at) for m in best]
    assert all(min(end, 6.0) - max(start, 0.5) >= 1.0 for start, end in spans), spans
