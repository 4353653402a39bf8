"""A recording converted to a data set: windows hold exactly the recorded data, gaps and short
coverage leave a stream out (counted), and the result loads and embeds like any manifest."""
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

pytest.importorskip("mcap")

from edgebind.cli.main import main  # noqa: E402
from edgebind.drivers import Chunk, Gap  # noqa: E402
from edgebind.drivers.extract import recording_to_manifest  # noqa: E402
from edgebind.drivers.recording import Recorder  # noqa: E402
from edgebind.errors import ConfigError, InputError  # noqa: E402
from edgebind.frames import DepthFrame, ThermalFrame  # noqa: E402
from edgebind.manifest import read_manifest  # noqa: E402

T0 = 1000.0  # host clock at the start of the recording
AUDIO_RATE, IMU_RATE, FPS = 16000, 200, 10


def _audio(t: float) -> Chunk:
    """0.25 s of audio ending at T0 + t + 0.25, its samples counting up (in 1/32768 steps)."""
    n = AUDIO_RATE // 4
    first = round(t * AUDIO_RATE)
    samples = ((np.arange(first, first + n) % 20000) / 32768).astype(np.float32)[:, None]
    return Chunk("mic", "audio", (samples, AUDIO_RATE), T0 + t + 0.25, meta={"label": "dog"})


def _imu(t: float) -> Chunk:
    first = round(t * IMU_RATE)
    rows = np.repeat(np.arange(first, first + IMU_RATE // 10, dtype=np.float32)[:, None], 6, axis=1)
    return Chunk("board", "imu", (rows, IMU_RATE), T0 + t + 0.1, meta={"label": "dog"})


def _frames(t: float) -> list[Chunk]:
    k = round(t * FPS)
    depth = DepthFrame(np.full((4, 5), 1000 + k, np.uint16), 0.05, 383.0)
    thermal = ThermalFrame(np.full((3, 3), 30000 + k, np.uint16), "centikelvin")
    return [Chunk("cam", "depth", depth, T0 + t), Chunk("heat", "thermal", thermal, T0 + t)]


def _record(path, seconds: float = 6.0, gap_at: float | None = None, extra: list | None = None):
    """Interleaved sources as a live recorder writes them; a Gap of the IMU at `gap_at`."""
    items = []
    for ms in range(0, int(seconds * 1000), 50):  # a tick every 50 ms
        t = ms / 1000
        if ms % 100 == 0:
            items += _frames(t) + [_imu(t)]
        if ms % 250 == 0:
            items.append(_audio(t))
        if gap_at is not None and ms == round(gap_at * 1000):
            items.append(Gap("board", "device lost: test", T0 + t, 0))
    with Recorder(path) as recorder:
        for item in items + (extra or []):
            recorder.write(item)
    return path


def test_windows_hold_exactly_what_was_recorded(tmp_path):
    report = recording_to_manifest(_record(tmp_path / "field.mcap"), tmp_path / "data", progress=False)
    samples = read_manifest(report.manifest)
    assert [s.id for s in samples] == ["field_000000", "field_000001", "field_000002"]
    assert report.written == {"audio": 3, "imu": 3, "depth": 3, "thermal": 3} and not report.left_out
    assert report.streams == {"depth": "cam", "thermal": "heat", "imu": "board", "audio": "mic"}
    second = samples[1]
    assert second.labels == ("dog",) and (second.extra["t_start"], second.extra["t_end"]) == (2.0, 4.0)

    audio, rate = sf.read(second.inputs["audio"], dtype="int16")
    assert rate == AUDIO_RATE
    np.testing.assert_array_equal(audio, np.arange(2 * AUDIO_RATE, 4 * AUDIO_RATE) % 20000)
    imu = np.loadtxt(second.inputs["imu"], delimiter=",", skiprows=1)
    np.testing.assert_allclose(imu[:, 0], np.arange(2 * IMU_RATE) / IMU_RATE, atol=1e-6)
    np.testing.assert_array_equal(imu[:, 1], np.arange(2 * IMU_RATE, 4 * IMU_RATE))

    depth = second.inputs["depth"]  # the frame nearest the window's middle (3.0 s), with its camera
    assert (depth.baseline_m, depth.focal_px) == (0.05, 383.0)
    np.testing.assert_array_equal(np.asarray(Image.open(depth.depth)), np.full((4, 5), 1030, np.uint16))
    np.testing.assert_allclose(np.load(second.inputs["thermal"]), np.full((3, 3), 300.30), rtol=1e-6)


def test_a_gap_or_short_coverage_leaves_the_stream_out_of_that_window(tmp_path):
    late = [Chunk("mic", "audio", (np.zeros((800, 1), np.float32), AUDIO_RATE), T0 + 6.5)]  # 0.05 s alone
    path = _record(tmp_path / "field.mcap", seconds=8.0, gap_at=3.0, extra=late)
    report = recording_to_manifest(path, tmp_path / "data", progress=False)
    samples = {s.id: s for s in read_manifest(report.manifest)}
    assert "imu" not in samples["field_000001"].inputs and "imu" in samples["field_000002"].inputs
    assert report.left_out == {"imu: gap in the window": 1}
    assert report.written["imu"] == 3 and report.written["audio"] == 4


def test_sources_are_chosen_per_modality(tmp_path):
    second_mic = [Chunk("mic2", "audio", (np.zeros((4000, 1), np.float32), AUDIO_RATE), T0 + 0.25)]
    path = _record(tmp_path / "two.mcap", seconds=2.5, extra=second_mic)
    with pytest.raises(ConfigError, match=r"two audio sources \(mic, mic2\); choose one per modality"):
        recording_to_manifest(path, tmp_path / "a", progress=False)
    report = recording_to_manifest(path, tmp_path / "b", sources=["mic2", "cam"], progress=False)
    assert report.streams == {"audio": "mic2", "depth": "cam"} and report.written == {"depth": 1}
    assert report.left_out == {"audio: covers 0.25 s < 1.80 s": 1}
    with pytest.raises(ConfigError, match="no source named nope in the recording; it has: board, cam, heat, mic, mic2"):
        recording_to_manifest(path, tmp_path / "c", sources=["nope"], progress=False)


def test_existing_data_and_empty_windows_are_clear_errors(tmp_path):
    path = _record(tmp_path / "field.mcap", seconds=2.0)
    recording_to_manifest(path, tmp_path / "data", progress=False)
    with pytest.raises(ConfigError, match="already holds a data set .*pass overwrite"):
        recording_to_manifest(path, tmp_path / "data", progress=False)
    assert recording_to_manifest(path, tmp_path / "data", overwrite=True, progress=False).samples == 1
    with pytest.raises(InputError, match="no window of 5.0 s holds usable data"):
        recording_to_manifest(path, tmp_path / "long", window_s=5.0, progress=False)


def test_a_sim_recording_becomes_a_data_set_the_model_embeds(tmp_path, tiny_model, capsys):
    rec, data = tmp_path / "sim.mcap", tmp_path / "data"
    assert main(["record", "--sensors", "sim_audio,sim_depth", "--set", "sim.speed=0", "--set", "sim.duration_s=4",
                 "--set", "sim.scene_s=4", "--set", "sim.onset_s=1", str(rec)]) == 0
    assert main(["extract", str(rec), str(data), "--hop", "1"]) == 0
    out = capsys.readouterr().out
    assert "audio         3 files  (from sim_audio)" in out and "(3 samples)" in out
    samples = read_manifest(data)
    first_row = json.loads((data / "manifest.jsonl").read_text().splitlines()[0])
    assert samples[0].labels == samples[1].labels == (first_row["label"],)  # one scene: its ground truth
    vectors = tiny_model.embed({"audio": [s.inputs["audio"] for s in samples],
                                "depth": [s.inputs["depth"] for s in samples]})
    assert vectors["audio"].shape[0] == vectors["depth"].shape[0] == 3
