"""Source chunks -> the windows the encoders embed.

Audio and IMU arrive as blocks of samples: a `BlockWindower` cuts them into windows of the
model's input length (audio: its clip, 2 s; IMU: its window, e.g. 400 samples at 200 Hz) every
`hop_s`, sample-accurately across block boundaries. Depth, thermal and colour arrive as frames: a
`FrameWindower` passes one on every 1/`rate_hz` seconds. A Gap restarts a block windower, so no
window spans lost data. Times are host monotonic seconds (the clock every source shares).
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
        if self.fill_s is None or self.fill_s <= self.length_s:
            return data
        size = round(self.fill_s * self._rate)
        return np.tile(data, (-(-size // len(data)), 1))[:size]

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


def _level_db(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20 * math.log10(max(rms, 1e-10))
