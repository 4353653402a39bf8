"""The node's parts on their own: sample-accurate windows, the detector's state machine and
scores, calibration thresholds, and the bounded queue."""
import json
import threading

import numpy as np
import pytest

from edgebind.drivers import Chunk
from edgebind.errors import ConfigError
from edgebind.runtime.calibration import Calibration, sustained_peaks, thresholds_for
from edgebind.runtime.detector import Detector, DetectorConfig, EventConfig
from edgebind.queues import BoundedQueue
from edgebind.runtime.windows import BlockWindower, FrameWindower, OnsetWindower

RATE = 16000


def _blocks(total: int, block: int = 512, start_time: float = 100.0):
    """Chunks of a ramp (sample i has value i) whose host_time is the time of their last sample."""
    for first in range(0, total, block):
        samples = np.arange(first, first + block, dtype=np.float32)[:, None]
        yield Chunk("mic", "audio", (samples, RATE), start_time + (first + block) / RATE)


def test_block_windows_are_sample_accurate_across_blocks_and_restart_after_a_gap():
    windower = BlockWindower(2.0, 0.5)
    windows = [w for chunk in _blocks(5 * RATE) for w in windower.push(chunk)]
    assert len(windows) == 7  # ends at 2.0, 2.5, ... 5.0 s
    for k, window in enumerate(windows):
        samples, rate = window.data
        assert rate == RATE and samples.shape == (2 * RATE, 1)
        np.testing.assert_array_equal(samples[:, 0], np.arange(k * 8000, k * 8000 + 2 * RATE))
        assert window.t_end == pytest.approx(100.0 + 2.0 + 0.5 * k)
        assert window.t_start == pytest.approx(window.t_end - 2.0)
    windower.reset()  # a Gap: nothing before it may end up in a window
    after = [w for chunk in _blocks(RATE + 512, start_time=200.0) for w in windower.push(chunk)]
    assert after == []


def test_a_short_window_is_looped_to_the_models_length():
    windower = BlockWindower(0.25, 0.25, fill_s=1.0)
    (window,) = [w for chunk in _blocks(4000, block=4000) for w in windower.push(chunk)]
    samples, _ = window.data
    assert samples.shape == (RATE, 1) and window.t_end - window.t_start == pytest.approx(0.25)
    np.testing.assert_array_equal(samples[:, 0], np.tile(np.arange(4000), 4))


def _sound(onset_s: float, seconds: float, pulse_hz: float = 0.0) -> np.ndarray:
    """Quiet noise, then from `onset_s` a loud tone swelling over 0.1 s (pulsing at `pulse_hz` between
    1/4 and full level)."""
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = 1.0 if not pulse_hz else 0.25 + 0.75 * (np.sin(2 * np.pi * pulse_hz * t) > 0.9)
    tone = 0.3 * envelope * np.sin(2 * np.pi * 440 * t) * np.clip((t - onset_s) / 0.1, 0, 1)
    return (tone + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)[:, None]


def _onset_windows(signal: np.ndarray, windower: OnsetWindower, start: float = 100.0):
    chunks = [Chunk("mic", "audio", (signal[i: i + 512], RATE), start + min(i + 512, len(signal)) / RATE)
              for i in range(0, len(signal), 512)]
    return [w for chunk in chunks for w in windower.push(chunk)]


def test_a_sound_starting_yields_windows_of_it_alone_from_its_onset():
    signal = _sound(2.3, 4.0)
    windows = _onset_windows(signal, OnsetWindower(fill_s=1.0, hop_s=0.1, max_s=0.5))
    assert [round(w.t_end - 100.0, 3) for w in windows] == [2.4, 2.5, 2.6, 2.7, 2.8]  # then no more
    for k, window in enumerate(windows, 1):
        samples, rate = window.data
        assert window.onset and window.t_start == pytest.approx(102.3) and samples.shape == (RATE, 1)
        n = round(0.1 * k * RATE)  # the new sound so far, looped to the model's length
        np.testing.assert_array_equal(samples[:, 0], np.tile(samples[:n, 0], -(-RATE // n))[:RATE])
        assert window.level_db > -20  # the tone (the noise before it is at -40 dB)
        # Its context: the last second as recorded up to its end, the quiet before the onset included.
        recorded, _ = window.context.data
        end = round((window.t_end - 100.0) * RATE)
        assert not window.context.onset and window.context.t_end == window.t_end
        assert window.context.t_start == pytest.approx(window.t_end - 1.0)
        np.testing.assert_array_equal(recorded, signal[end - RATE: end])
    pulsing = _onset_windows(_sound(1.5, 6.0, pulse_hz=3.0), OnsetWindower(fill_s=1.0))
    assert len(pulsing) == 5 and {round(w.t_start - 100.0, 1) for w in pulsing} == {1.5}  # no retrigger by its pulses
    assert _onset_windows(_sound(9.0, 4.0), OnsetWindower(fill_s=1.0)) == []  # steady noise: none
    with pytest.raises(ConfigError, match=r"onset windows need hop_s \(0.6\) in \(0, max_s \(0.5\)\]"):
        OnsetWindower(1.0, hop_s=0.6, max_s=0.5)


def test_audio_windows_carry_their_level_and_frames_are_rate_limited():
    windower = BlockWindower(1.0, 1.0)
    quiet = Chunk("mic", "audio", (np.full((RATE, 1), 0.01, np.float32), RATE), 1.0)
    assert windower.push(quiet)[0].level_db == pytest.approx(-40.0, abs=1e-3)
    frames = FrameWindower(10.0)
    kept = [w.t_end for i in range(30) for w in frames.push(Chunk("cam", "depth", None, i / 30))]
    assert kept == pytest.approx([i / 30 for i in range(0, 30, 3)])  # 30 fps thinned to 10 Hz


def _detector(config=DetectorConfig(), thresholds=None):
    events = [EventConfig(name="bark"), EventConfig(name="glass", modalities=("audio",))]
    return Detector(config, events, np.eye(4)[:2], np.eye(4)[2:3], {"audio": 10.0}, thresholds)


def test_scores_are_a_softmax_over_events_and_background():
    scores = _detector().scores("audio", np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0]]))
    e = np.exp(10.0)
    np.testing.assert_allclose(scores[0], [e / (e + 2), 1 / (e + 2)])
    np.testing.assert_allclose(scores[1], [1 / (e + 2), 1 / (e + 2)])  # the background wins


def test_events_open_after_n_windows_close_after_hold_and_respect_cooldown():
    detector = _detector(DetectorConfig(threshold=0.5, enter_windows=2, hold_s=1.0, cooldown_s=3.0))
    high, low = np.array([0.9, 0.0]), np.array([0.1, 0.0])
    fed = [(0.0, high), (0.5, low), (1.0, high), (1.5, high), (2.0, high), (2.5, low), (3.0, low),
           (3.5, high), (4.0, high), (4.5, low), (5.0, low), (5.5, low), (6.0, high), (6.5, high)]
    out = [(d.kind, d.t) for t, s in fed for d in detector.update("mic", "audio", t, s)]
    # open at the 2nd consecutive high window (1.5), close 1 s after the last high one (3.0);
    # 3.5-4.0 is within the 3 s cooldown; 6.0-6.5 opens again.
    assert out == [("start", 1.5), ("end", 3.0), ("start", 6.5)]
    assert [(d.kind, d.t, d.t_open) for d in detector.close_all(7.0)] == [("end", 7.0, 6.5)]


def test_silence_gate_modalities_and_calibrated_thresholds():
    gated = _detector(DetectorConfig(enter_windows=1, min_level_db=-50.0))
    assert gated.update("mic", "audio", 0.0, np.array([0.9, 0.9]), level_db=-60.0) == []
    assert [d.event for d in gated.update("mic", "audio", 1.0, np.array([0.9, 0.9]), level_db=-20.0)] == \
        ["bark", "glass"]
    depth_only = _detector(DetectorConfig(enter_windows=1))
    assert [d.event for d in depth_only.update("cam", "depth", 0.0, np.array([0.9, 0.9]))] == ["bark"]
    calibrated = _detector(DetectorConfig(enter_windows=1), {"bark": {"audio": 0.95}})
    assert calibrated.threshold(0, "audio") == 0.95 and calibrated.threshold(0, "depth") == 0.5
    assert calibrated.update("mic", "audio", 0.0, np.array([0.9, 0.0])) == []


def test_one_onset_window_above_its_own_threshold_opens_an_event():
    detector = _detector(DetectorConfig(enter_windows=2), {"bark": {"audio": 0.6, "audio/onset": 0.8}})
    assert detector.threshold(0, "audio", onset=True) == 0.8 and detector.threshold(1, "audio", onset=True) == 0.5
    assert detector.update("mic", "audio", 0.1, np.array([0.7, 0.0]), onset=True) == []  # below 0.8
    assert detector.update("mic", "audio", 0.5, np.array([0.7, 0.0])) == []  # a regular window: 1 of 2
    (start,) = detector.update("mic", "audio", 0.6, np.array([0.85, 0.0]), onset=True)
    assert (start.kind, start.event, start.t, start.onset) == ("start", "bark", 0.6, True)
    assert detector.update("mic", "audio", 1.0, np.array([0.7, 0.0])) == []  # already open


def test_thresholds_sit_above_what_the_background_sustained():
    background = np.array([0.1, 0.8, 0.2, 0.7, 0.75, 0.3, 0.6, 0.65])
    sustained = sustained_peaks(background, 2)  # the lower of each pair of neighbours
    np.testing.assert_allclose(sustained, [0.1, 0.2, 0.2, 0.7, 0.3, 0.3, 0.6])
    assert thresholds_for(sustained, floor=0.5, allowed=0) == pytest.approx(0.71)
    assert thresholds_for(sustained, floor=0.5, allowed=1) == pytest.approx(0.61)
    assert thresholds_for(sustained, floor=0.65, allowed=1) == 0.65  # never below the floor


def test_calibration_files_round_trip_and_name_their_model(tmp_path):
    path = Calibration("edgebind-tiny-synthetic", {"bark": {"audio": 0.93}}, 120.0, 2.0, {"audio": 237}).save(
        tmp_path / "c.json")
    loaded = Calibration.load(path, "edgebind-tiny-synthetic")
    assert loaded.thresholds == {"bark": {"audio": 0.93}} and loaded.seconds == 120.0
    with pytest.raises(ConfigError, match="made for model 'edgebind-tiny-synthetic', not 'other'; calibrate again"):
        Calibration.load(path, "other")
    (tmp_path / "bad.json").write_text(json.dumps({"thresholds": {}}))
    with pytest.raises(ConfigError, match="is not an edgebind calibration"):
        Calibration.load(tmp_path / "bad.json")


def test_event_configs_check_their_examples_and_thresholds():
    with pytest.raises(ConfigError, match="example 'bark.wav' must be MODALITY:FILE"):
        EventConfig(name="bark", examples=("bark.wav",))
    with pytest.raises(ConfigError, match=r"threshold must lie in \(0, 1\), got 1.5"):
        EventConfig(name="bark", threshold=1.5)


def test_bounded_queue_drops_the_oldest_or_waits_when_lossless():
    queue = BoundedQueue(2)
    for i in range(5):
        queue.put(i)
    assert queue.get_many(10, 0) == [3, 4] and queue.drops == 3
    lossless = BoundedQueue(1, lossless=True)
    lossless.put("a")
    putter = threading.Thread(target=lossless.put, args=("b",))
    putter.start()
    putter.join(0.2)
    assert putter.is_alive()  # waits for room instead of dropping
    assert lossless.get_many(1, 1) == ["a"]
    putter.join(2)
    assert lossless.get_many(1, 1) == ["b"] and lossless.drops == 0
