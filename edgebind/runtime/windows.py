"""Source chunks -> the windows the encoders embed.

Audio and IMU arrive as blocks of samples: a `BlockWindower` cuts them into windows of the
model's input length (audio: its clip, 2 s; IMU: its window, e.g. 400 samples at 200 Hz) every
`hop_s`, sample-accurately across block boundaries. Depth, thermal and colour arrive as frames: a
`FrameWindower` passes one on every 1/`rate_hz` seconds. Audio also has an onset path: an
`OnsetWindower` watches the level and, when a sound starts, cuts windows of just the new sound
(from its onset to now, looped to the model's clip) every `hop_s` for `max_s`, so a new sound is
scored as soon as a short stretch of it exists instead of when it fills most of a 2 s window. A Gap
restarts every windower, so no window spans lost data. Times are host monotonic seconds (the clock every source shares).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from edgebind.drivers.chunks import Chunk
from edgebind.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """One input to embed: `data` is what `model.transform(modality)` takes; it spans
    [t_start, t_end] on the host clock (a frame: t_start == t_end)."""

    source: str
    modality: str
    t_start: float
    t_end: float
    data: Any
    level_db: float | None = None  # audio: RMS level in dB full scale (for the silence gate)
    meta: Mapping[str, Any] = field(default_factory=dict)  # the last chunk's meta (e.g. sim truth)
    onset: bool = False  # an onset window (OnsetWindower): [t_start, t_end] is the new sound so far
    context: "Window | None" = None  # an onset window's stream as recorded, fill_s up to t_end (a snapshot)


class BlockWindower:
    """Windows of `length_s` every `hop_s` over a stream of (samples, rate) blocks; with `fill_s`
    longer than the window, each window is repeated end to end to that length (the model's input),
    so a short window (a quick onset) is embedded as a loop of itself rather than with silence."""

    def __init__(self, length_s: float, hop_s: float, fill_s: float | None = None) -> None:
        if not (length_s > 0 and hop_s > 0):
            raise ConfigError(f"window length ({length_s} s) and hop ({hop_s} s) must be > 0")
        self.length_s, self.hop_s, self.fill_s = length_s, hop_s, fill_s
        self.reset()

    def _filled(self, data: np.ndarray) -> np.ndarray:
        return data if self.fill_s is None or self.fill_s <= self.length_s else _looped(data, self.fill_s, self._rate)

    def reset(self) -> None:
        """Forget buffered samples (after a Gap: the next window starts fresh)."""
        self._buf: np.ndarray | None = None
        self._rate: float | None = None
        self._total = 0  # samples received since the reset
        self._next_end = 0  # sample count at which the next window ends

    def push(self, chunk: Chunk) -> list[Window]:
        samples, rate = chunk.data
        samples = np.asarray(samples, np.float32)
        if self._rate != rate:  # first block, or the device changed its rate: start over
            self.reset()
            self._rate = float(rate)
            self._length = max(1, round(self.length_s * rate))
            self._hop = max(1, round(self.hop_s * rate))
            self._next_end = self._length
        self._buf = samples if self._buf is None else np.concatenate([self._buf, samples])
        self._total += len(samples)
        windows = []
        while self._next_end <= self._total:
            after = self._total - self._next_end  # samples past this window's end
            data = self._buf[len(self._buf) - after - self._length: len(self._buf) - after]
            t_end = chunk.host_time - after / self._rate
            windows.append(Window(chunk.source, chunk.modality, t_end - self._length / self._rate, t_end,
                                  (self._filled(data), self._rate),
                                  _level_db(data) if chunk.modality == "audio" else None, chunk.meta))
            self._next_end += self._hop
        keep = self._total - (self._next_end - self._length)  # what the next window still needs
        self._buf = self._buf[len(self._buf) - min(keep, len(self._buf)):]
        return windows


class FrameWindower:
    """Every frame at most `rate_hz` times a second (None: every frame)."""

    def __init__(self, rate_hz: float | None) -> None:
        if rate_hz is not None and not rate_hz > 0:
            raise ConfigError(f"frame rate must be > 0, got {rate_hz}")
        self.period = 0.0 if rate_hz is None else 1.0 / rate_hz
        self._last = -math.inf

    def reset(self) -> None:
        """Frames need no history; kept for the windowers' common interface."""

    def push(self, chunk: Chunk) -> list[Window]:
        # A little slack so that a 30 fps camera asked for 15 Hz keeps every second frame.
        if chunk.host_time - self._last < self.period * 0.9:
            return []
        self._last = chunk.host_time
        return [Window(chunk.source, chunk.modality, chunk.host_time, chunk.host_time, chunk.data, None, chunk.meta)]


class OnsetWindower:
    """Onset windows of one audio stream. In frames of `frame_s`, a sound starts where a frame is
    `rise_db` louder than the loudest frame of the `memory_s` before its attack (up to `attack_s`
    before it, where a swelling sound may already rise), so a steady or pulsing sound does not
    retrigger itself. Its attack begins at the first of the frames just before it that are all a
    third of `rise_db` above that loudest one; every `hop_s` up to `max_s` after that, a window
    holds the samples from there to now, looped to `fill_s`. Each also carries, as `context`, the
    stream's last `fill_s` as recorded up to its end: the snapshot of an event it opens, which then
    holds the sound's start (the last regular window may have ended before it)."""

    def __init__(self, fill_s: float, hop_s: float = 0.1, max_s: float = 0.5, rise_db: float = 6.0,
                 frame_s: float = 0.01, memory_s: float = 1.0, attack_s: float = 0.1) -> None:
        if not (fill_s > 0 and 0 < hop_s <= max_s and rise_db > 0 and frame_s > 0 and memory_s > 0):
            raise ConfigError(f"onset windows need hop_s ({hop_s}) in (0, max_s ({max_s})] and rise_db ({rise_db}) > 0")
        self.fill_s, self.hop_s, self.max_s, self.rise_db = fill_s, hop_s, max_s, rise_db
        self.frame_s, self.memory_s, self.attack_s = frame_s, memory_s, attack_s
        self.reset()

    def reset(self) -> None:
        """Forget the level history and any onset in progress."""
        self._rate: float | None = None
        self._buf = np.zeros((0, 1), np.float32)  # from two frames before the scan point (or the onset) on
        self._scan = 0  # buffer index up to which frames were measured
        self._levels: list[float] = []  # dB of the frames of the last memory_s and attack, oldest first
        self._onset: int | None = None  # buffer index where the current onset's windows start
        self._next = 0  # buffer index where its next window ends
        self._history = 0  # samples of fill_s: the buffer keeps at least these for the context

    def push(self, chunk: Chunk) -> list[Window]:
        samples, rate = chunk.data
        if self._rate != rate:
            self.reset()
            self._rate = float(rate)
            self._frame = max(1, round(self.frame_s * rate))
            self._attack = round(self.attack_s / self.frame_s)
            self._memory = max(1, round(self.memory_s / self.frame_s)) + self._attack
            self._hop, self._max = max(1, round(self.hop_s * rate)), round(self.max_s * rate)
            self._history = round(self.fill_s * rate)
        self._buf = np.concatenate([self._buf, np.asarray(samples, np.float32).reshape(len(samples), -1)])
        self._mono = np.ndim(samples) == 1  # the context keeps the stream's own shape
        windows: list[Window] = []
        while self._scan + self._frame <= len(self._buf):
            level = _level_db(self._buf[self._scan: self._scan + self._frame])
            self._scan += self._frame
            if self._onset is None and len(self._levels) == self._memory:
                self._detect(level)
            self._levels = (self._levels + [level])[-self._memory:]
            self._emit(chunk, windows)
        self._emit(chunk, windows)
        cut = max(0, self._scan - (self._attack + 1) * self._frame) if self._onset is None else self._onset
        cut = min(cut, max(0, len(self._buf) - self._history))
        self._buf, self._scan, self._next = self._buf[cut:], self._scan - cut, self._next - cut
        self._onset = None if self._onset is None else self._onset - cut
        return windows

    def _detect(self, level: float) -> None:
        """Whether the frame just measured (at `level` dB) starts a sound, and where its attack began."""
        reference = max(self._levels[:len(self._levels) - self._attack])
        if level < reference + self.rise_db:
            return
        frames = 1  # the frames of the attack: this one and those just before it, loud enough
        while frames <= self._attack and self._levels[-frames] >= reference + self.rise_db / 3:
            frames += 1
        self._onset = max(0, self._scan - frames * self._frame)
        self._next = self._onset + self._hop

    def _emit(self, chunk: Chunk, windows: list[Window]) -> None:
        """The current onset's windows that the buffer now holds (chunk.host_time: its last sample)."""
        while self._onset is not None and self._next <= len(self._buf):
            data = self._buf[self._onset: self._next]
            t_end = chunk.host_time - (len(self._buf) - self._next) / self._rate
            recorded = self._buf[max(0, self._next - self._history): self._next]
            recorded = recorded[:, 0] if self._mono else recorded
            context = Window(chunk.source, chunk.modality, t_end - len(recorded) / self._rate, t_end,
                             (recorded, self._rate), _level_db(recorded), chunk.meta)
            windows.append(Window(chunk.source, chunk.modality, t_end - len(data) / self._rate, t_end,
                                  (_looped(data, self.fill_s, self._rate), self._rate), _level_db(data),
                                  chunk.meta, onset=True, context=context))
            self._next += self._hop
            if self._next > self._onset + self._max + self._frame:
                self._onset = None


def _looped(data: np.ndarray, fill_s: float, rate: float) -> np.ndarray:
    """`data` repeated end to end to `fill_s` seconds (the model's input length)."""
    size = round(fill_s * rate)
    return np.tile(data, (-(-size // len(data)), 1))[:size]


def _level_db(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20 * math.log10(max(rms, 1e-10))
