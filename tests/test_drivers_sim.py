"""The `sim` sources: real-time pacing, chunks the model's transforms take as they are, and scenes
that change over time (a sound starts, an object appears and heats up, the platform starts moving)
in agreement with the ground truth they report."""
import time

import numpy as np
import pytest

from edgebind.drivers import Chunk, build_source
from edgebind.frames import DepthFrame, ThermalFrame

FAST = {"type": "sim", "speed": 0, "scene_s": 4.0, "onset_s": 1.0, "heat_s": 1.0}


def _chunks(modality: str, seconds: float, **extra) -> list[Chunk]:
    with build_source({**FAST, "modality": modality, "duration_s": seconds, **extra}) as source:
        return list(source)


def _before_after(chunks: list[Chunk], stat) -> tuple[float, float]:
    """`stat` over the first scene's chunks before its onset, and over those a second after it."""
    before = [stat(c) for c in chunks if c.meta["scene"] == 0 and not c.meta["event"]]
    after = [stat(c) for c in chunks if c.meta["scene"] == 0 and c.sensor_time >= 2.0]
    return float(np.mean(before)), float(np.mean(after))


def test_audio_streams_in_real_time_in_small_blocks():
    with build_source({"type": "sim", "modality": "audio", "duration_s": 0.64}) as source:
        start = time.monotonic()
        chunks = list(source)
        took = time.monotonic() - start
    assert len(chunks) == 20 and 0.55 < took < 1.2
    assert chunks[0].data[0].shape == (512, 1) and chunks[0].data[1] == 16000
    spacing = np.diff([c.host_time for c in chunks])
    assert abs(np.median(spacing) - 0.032) < 0.01
    assert [c.sensor_time for c in chunks[:2]] == [0.0, 0.032]


def test_every_modality_changes_at_its_scene_onset():
    audio = _before_after(_chunks("audio", 2.5), lambda c: np.sqrt(np.mean(c.data[0] ** 2)))
    assert audio[1] > 10 * audio[0]  # a sound event starts
    imu = _chunks("imu", 4.0)
    accel = np.concatenate([c.data[0][:, :3] for c in imu])  # 200 Hz; the event starts at sample 200
    assert np.std(accel[300:], axis=0).sum() > 5 * np.std(accel[:200], axis=0).sum()  # it starts moving
    frames = _chunks("thermal", 2.5)
    heat = [float(c.data.data.max()) for c in frames]
    ambient, hot = _before_after(frames, lambda c: c.data.data.max())
    assert hot > ambient + 4 and heat[frames.index(next(c for c in frames if c.meta["event"])) - 1] < ambient + 0.5
    near = _before_after(_chunks("depth", 2.5), lambda c: np.mean((c.data.depth > 0) & (c.data.depth < 3600)))
    assert near[0] == 0 and near[1] > 0.02  # an object appears in front of the far wall


def test_ground_truth_matches_the_schedule_and_is_shared_by_every_modality():
    source = build_source({**FAST, "modality": "audio"})
    events = source.schedule.events(until_s=9.0)
    assert [e.onset_s for e in events] == [1.0, 5.0] and events[0].label == "drone"
    depth = _chunks("depth", 9.0)
    first_on = [next(c for c in depth if c.meta["scene"] == k and c.meta["event"]).sensor_time for k in (0, 1)]
    assert first_on == pytest.approx([1.0, 5.0], abs=1 / 30)
    assert {c.meta["label"] for c in depth if c.meta["scene"] == 1} == {events[1].label}


def test_continuous_signals_have_no_seam_between_blocks_or_scenes():
    blocks = _chunks("audio", 8.0, block=700)  # not a divisor of the scene length
    audio = np.concatenate([c.data[0] for c in blocks])
    whole = np.concatenate([build_source({**FAST, "modality": "audio"}).schedule.audio_scene(k, 16000.0)
                            for k in (0, 1)])
    np.testing.assert_array_equal(audio[: whole.shape[0]], whole)


def test_chunks_are_what_the_model_transforms_take(tiny_model):
    for modality, kind in (("audio", tuple), ("imu", tuple), ("depth", DepthFrame), ("thermal", ThermalFrame)):
        window = 2.0 if modality in ("audio", "imu") else 0.1
        chunks = _chunks(modality, window)
        assert isinstance(chunks[0].data, kind)
        if kind is tuple:  # the node windows blocks: concatenate, keep the rate
            item = (np.concatenate([c.data[0] for c in chunks]), chunks[0].data[1])
        else:
            item = chunks[0].data
        tensor = tiny_model.transform(modality)(item)
        assert np.isfinite(tensor.numpy()).all()


def test_info_describes_the_stream():
    info = build_source({"type": "sim", "modality": "depth", "size": 32}).info()
    stream = info.streams[0]
    assert (info.name, stream.modality, stream.rate_hz, stream.shape, stream.units) == \
        ("sim_depth", "depth", 30.0, (32, 32), "millimetres")
    assert info.extra == {"baseline_m": 0.075, "focal_px": 518.857}
