"""Video data-set adapters (AudioSet, VGGSound, Ego4D) on tiny mp4 trees written with PyAV.

Test clips: 3 s of 32 x 32 video at 10 fps whose grey level is 8 x the frame index (so a frame
tells its time), and a 16 kHz chirp of instantaneous frequency 200 + 400 t Hz (so a stretch of
audio tells its time).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgebind.errors import InputError
from edgebind.training.data.audioset import AudioSet, VGGSound
from edgebind.training.data.ego4d import Ego4D
from edgebind.training.data.skip import SkipSample, iter_records

av = pytest.importorskip("av", reason="PyAV (the train extra) decodes the video data sets; pip install 'edgebind[train]'")
FPS, RATE = 10, 16000


def write_clip(path: Path, seconds: float = 3.0, audio_seconds: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=FPS)
        video.width = video.height = 32
        video.pix_fmt, video.bit_rate = "yuv420p", 4_000_000
        audio = out.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        for index in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 8, np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        t = np.arange(int((audio_seconds or seconds) * RATE)) / RATE
        wave = (0.5 * np.sin(2 * np.pi * (200 * t + 200 * t * t))).astype(np.float32)
        for start in range(0, len(wave), 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return path


def frame_index(frame: np.ndarray) -> int:
    return int(round(frame.mean() / 8))


def pitch(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.argmax(spectrum) * RATE / len(wave))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


CLASSES = """index,mid,display_name
0,/m/09x0r,"Speech"
1,/m/0jbk,"Animal"
2,/m/068hy,"Domestic animals, pets"
"""
SEGMENTS = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=5, num_segs=5, num_unique_labels=3, num_positive_labels=6
# YTID, start_seconds, end_seconds, positive_labels
--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/068hy"
-0RWZT-miFs, 420.000, 430.000, "/m/0jbk"
-0SdAVK79lg, 0.000, 10.000, "/m/09x0r"
-1nilez17Dg, abc, 10.000, "/m/09x0r"
-1pRmoJIGQc, 10.000, 20.000, "/m/bogus"
"""


def make_audioset(root: Path, clip: Path) -> Path:
    (root / "clips").mkdir(parents=True)
    (root / "class_labels_indices.csv").write_text(CLASSES)
    (root / "balanced_train_segments.csv").write_text(SEGMENTS)
    (root / "clips/--PJHxphWEs_30.mp4").write_bytes(clip.read_bytes())
    (root / "clips/-0RWZT-miFs.mp4").write_bytes(clip.read_bytes())  # the {ytid}.mp4 naming
    return root


def test_audioset_records(tmp_path, clip):
    data = AudioSet(make_audioset(tmp_path, clip), max_skip_fraction=0.8)
    assert data.classes == ("Speech", "Animal", "Domestic animals, pets")
    assert len(data) == 2 and data.skipped == {"bad CSV row": 2, "missing clip": 1}
    assert "-0SdAVK79lg_0.mp4" in data.skip_examples["missing clip"]
    record = data[0]
    assert record.id == "--PJHxphWEs_30" and record.labels == ("Speech", "Domestic animals, pets")
    frame, (wave, rate) = record.inputs["vision"], record.inputs["audio"]
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    assert frame_index(frame) == 15  # the frame shown at the clip centre, 1.5 s
    assert rate == RATE and wave.dtype == np.float32 and wave.shape == (2 * RATE,)
    quarter = RATE // 4  # the window is 0.5-2.5 s: its first quarter second sweeps ~450 Hz, its last ~1150 Hz
    assert abs(pitch(wave[:quarter]) - (200 + 400 * 0.625)) < 25
    assert abs(pitch(wave[-quarter:]) - (200 + 400 * 2.375)) < 25
    assert data[1].labels == ("Animal",)


def test_audioset_corrupt_and_truncated_clips_are_skipped(tmp_path, clip):
    root = make_audioset(tmp_path, clip)
    (root / "clips/-0RWZT-miFs.mp4").write_bytes(b"\x00" * 1000)
    write_clip(root / "clips/-0SdAVK79lg_0.mp4", audio_seconds=1.0)
    data = AudioSet(root, max_skip_fraction=0.9)
    with pytest.raises(SkipSample, match=re.escape(f"undecodable video: {root / 'clips/-0RWZT-miFs.mp4'}: ")):
        data[1]
    short = f"truncated audio: {root / 'clips/-0SdAVK79lg_0.mp4'}: 0.52 s of audio where 2 s were needed"
    with pytest.raises(SkipSample, match=re.escape(short)):
        data[2]
    assert [r.id for r in iter_records(data)] == ["--PJHxphWEs_30"]
    assert data.skipped["undecodable video"] == 1 and data.skipped["truncated audio"] == 1


def test_audioset_too_many_missing_clips(tmp_path, clip):
    root = make_audioset(tmp_path, clip)
    segments, missing = root / "balanced_train_segments.csv", root / "clips/-0SdAVK79lg_0.mp4"
    expected = (f"audioset: skipped 3 of 5 samples: bad CSV row x2 (e.g. {segments}:7: start/end 'abc', "
                f"'10.000' are not numbers); missing clip x1 (e.g. {missing}); that is more than "
                f"max_skip_fraction=0.05 of {root}.")
    with pytest.raises(InputError, match=re.escape(expected)):
        AudioSet(root)


def test_vggsound_split_and_naming(tmp_path, clip):
    rows = '---g-f_I2yQ,1,people marching,test\n--0PQM4-hqg,30,"child speech, kid speaking",train\n' \
           "--56QUhyDQM,185,playing tennis,train\nbad row\n"
    (tmp_path / "vggsound.csv").write_text(rows)
    for name in ("---g-f_I2yQ_000001", "--0PQM4-hqg_000030", "--56QUhyDQM_000185"):
        (tmp_path / "video").mkdir(exist_ok=True)
        (tmp_path / "video" / f"{name}.mp4").write_bytes(clip.read_bytes())
    train = VGGSound(tmp_path, max_skip_fraction=0.5)
    assert [(r.id, r.labels) for r in iter_records(train)] == [
        ("--0PQM4-hqg_30", ("child speech, kid speaking",)), ("--56QUhyDQM_185", ("playing tennis",))]
    assert train.skipped == {"bad CSV row": 1}
    assert train.classes == ("child speech, kid speaking", "playing tennis")
    assert frame_index(train[0].inputs["vision"]) == 15
    assert len(VGGSound(tmp_path, split="test", max_skip_fraction=0.5)) == 1


# --- Ego4D ----------------------------------------------------------------------------------

IMU_HEADER = ("component_idx,component_timestamp_ms,canonical_timestamp_ms,"
              "gyro_x,gyro_y,gyro_z,accl_x,accl_y,accl_z\n")


def write_imu(path: Path, gap: tuple[float, float] | None = None) -> None:
    """200 Hz for 0-2.995 s: gyro (1, 2, 3), accl (t, 5, 6); two NULL rows; no rows inside `gap`."""
    lines = [IMU_HEADER, "0,0.0,NULL,9,9,9,9,9,9\n", "0,1.0,,9,9,9,9,9,9\n"]
    for step in range(600):
        t = step / 200
        if gap is None or not gap[0] < t < gap[1]:
            lines.append(f"0,{t * 1000 + 7},{t * 1000},1,2,3,{t},5,6\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def make_ego4d(root: Path, clip: Path, gap: tuple[float, float] | None = None) -> Path:
    v2 = root / "v2"
    videos = [{"video_uid": "aaa", "duration_sec": 3.0, "has_imu": True},
              {"video_uid": "bbb", "duration_sec": 3.0, "has_imu": True},  # not downloaded
              {"video_uid": "ccc", "duration_sec": 3.0, "has_imu": False}]
    (v2 / "full_scale").mkdir(parents=True)
    (v2 / "ego4d.json").write_text(json.dumps({"version": "v2", "videos": videos}))
    (v2 / "full_scale/aaa.mp4").write_bytes(clip.read_bytes())
    write_imu(v2 / "imu/aaa.csv", gap)
    narrations = {"aaa": {"narration_pass_1": {"narrations": [
        {"timestamp_sec": 1.4, "timestamp_frame": 42, "narration_text": "#C C picks a cup"},
        {"timestamp_sec": 1.9, "timestamp_frame": 57, "narration_text": "#C C drinks"}], "summaries": []}}}
    (v2 / "annotations").mkdir()
    (v2 / "annotations/narration.json").write_text(json.dumps(narrations))
    return root


def test_ego4d_windows_reorder_and_frames(tmp_path, clip):
    data = Ego4D(make_ego4d(tmp_path, clip), window_seconds=1.0, stride_seconds=0.5, max_skip_fraction=0.6)
    # IMU covers 0-2.995 s: 1 s windows every 0.5 s start at 0, 0.5, 1.0, 1.5; bbb's 5 windows are lost
    assert [r.id for r in iter_records(data)] == ["aaa@0.00", "aaa@0.50", "aaa@1.00", "aaa@1.50"]
    assert data.skipped == {"missing video or IMU CSV": 5} and data.classes == ()
    record = data[2]
    imu, rate = record.inputs["imu"]
    assert rate == 200.0 and imu.shape == (200, 6)
    np.testing.assert_allclose(imu[:, 0], 1.0 + np.arange(200) / 200, atol=1e-9)  # accl_x first
    np.testing.assert_allclose(imu[:, 1:], np.broadcast_to([5, 6, 1, 2, 3], (200, 5)))  # accel, then gyro
    assert frame_index(record.inputs["vision"]) == 15  # window centre, 1.5 s
    assert record.caption == "#C C picks a cup" and data[0].caption is None
    assert data[3].caption == "#C C drinks"


def test_video_records_feed_the_transforms(tmp_path, clip):
    from edgebind.transforms import build_transform

    record = AudioSet(make_audioset(tmp_path / "audioset", clip), max_skip_fraction=0.8)[0]
    assert build_transform("audio")(record.inputs["audio"]).shape == (3, 1, 128, 204)
    assert build_transform("vision", {"size": 16})(record.inputs["vision"]).shape == (3, 16, 16)
    ego = Ego4D(make_ego4d(tmp_path / "ego4d", clip), window_seconds=1.0, max_skip_fraction=0.8)[0]
    assert build_transform("imu", {"length": 2000})(ego.inputs["imu"]).shape == (6, 2000)


def test_ego4d_imu_gap_is_skipped(tmp_path, clip):
    data = Ego4D(make_ego4d(tmp_path, clip, gap=(1.2, 1.8)), window_seconds=1.0, video_uids=["aaa"])
    assert len(data) == 2 and not data.skipped
    gap = f"skipped 1 of 2 samples: IMU gap x1 (e.g. {tmp_path / 'v2/imu/aaa.csv'}: 0.60 s without samples"
    with pytest.raises(InputError, match=re.escape(gap)):
        data[1]
