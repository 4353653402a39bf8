"""Read one moment of a video file with PyAV: the RGB frame shown at a time, plus audio around it.

Used by the AudioSet, VGGSound and Ego4D adapters. Times are in seconds on the file's own
presentation clock (frame.time). Decode failures raise SkipSample so a long run skips the clip.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgebind.errors import require

from .skip import SkipSample

_EPS = 1e-6
_MIN_AUDIO_FRACTION = 0.9  # a window with less of its audio than this counts as truncated


@dataclass
class ClipMoment:
    """A frame (H x W x 3 uint8) and, when asked for, mono float32 audio at `sample_rate` Hz."""

    frame: np.ndarray
    audio: Optional[np.ndarray]
    sample_rate: int


def read_moment(
    path: Path, at: Optional[float] = None, audio_seconds: float = 0.0, sample_rate: int = 16000
) -> ClipMoment:
    """The frame on screen at time `at` (default: the clip centre) and `audio_seconds` of audio
    centred there (shifted to fit inside the clip). A clip whose audio covers less than 90 % of
    that window raises SkipSample("truncated audio", ...)."""
    av = require("av", "train", "reading video data sets")
    try:
        with av.open(str(path)) as container:
            start, length = _span(container, path)
            at = start + length / 2 if at is None else at
            frame = _frame_at(container, path, at)
            audio = None
            if audio_seconds > 0:
                begin = min(max(at - audio_seconds / 2, start), start + length - audio_seconds)
                audio = _audio_window(av, container, path, max(begin, start), audio_seconds, sample_rate)
    except av.error.FFmpegError as exc:
        raise SkipSample("undecodable video", f"{path}: {exc}") from exc
    return ClipMoment(frame, audio, sample_rate)


def _span(container, path: Path) -> tuple[float, float]:
    """(start, duration) of the file in seconds, from the container or else its first stream."""
    if container.duration:
        return (container.start_time or 0) / 1e6, container.duration / 1e6
    for stream in container.streams:
        if stream.duration and stream.time_base:
            start = float((stream.start_time or 0) * stream.time_base)
            return start, float(stream.duration * stream.time_base)
    raise SkipSample("undecodable video", f"{path}: the file does not say how long it is")


def _frame_at(container, path: Path, at: float) -> np.ndarray:
    """The last decoded frame whose timestamp is <= `at` (the one on screen then)."""
    if not container.streams.video:
        raise SkipSample("undecodable video", f"{path}: no video stream")
    stream = container.streams.video[0]
    container.seek(max(int(at / stream.time_base), 0), stream=stream)
    shown = None
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        if frame.time > at + _EPS and shown is not None:
            break
        shown = frame
    if shown is None:
        raise SkipSample("undecodable video", f"{path}: no frame decoded near {at:.2f} s")
    return shown.to_ndarray(format="rgb24")


def _audio_window(av, container, path: Path, begin: float, seconds: float, rate: int) -> np.ndarray:
    """`seconds` of mono float32 audio from `begin`, resampled to `rate` Hz."""
    if not container.streams.audio:
        raise SkipSample("truncated audio", f"{path}: no audio stream")
    stream = container.streams.audio[0]
    container.seek(max(int(begin / stream.time_base), 0), stream=stream)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    first = None
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        first = frame.time if first is None else first
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        if frame.time > begin + seconds:
            break
    chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    wanted = int(round(seconds * rate))
    offset = int(round((begin - first) * rate)) if first is not None else 0
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    window = samples[max(offset, 0) : max(offset + wanted, 0)]
    if len(window) < _MIN_AUDIO_FRACTION * wanted:
        raise SkipSample(
            "truncated audio", f"{path}: {len(window) / rate:.2f} s of audio where {seconds:g} s were needed"
        )
    return window.astype(np.float32, copy=False)
