"""What a Source yields (Chunk and Gap) and what it says about itself (SourceInfo, SourceStatus).

A chunk's `data` is exactly what `model.transform(modality)` accepts, so nothing converts twice:
audio `(float32 frames x channels, rate)`; depth `DepthFrame(uint16 mm, baseline_m, focal_px)`;
thermal `ThermalFrame(float32 Kelvin or uint16 centikelvin, units)`; IMU `(float32 T x 6 in m/s^2
and rad/s, rate_hz)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Union


@dataclass(frozen=True)
class Chunk:
    """One block of samples or one frame of a source.

    `host_time` is `time.monotonic()` when the chunk was captured (for a block of samples: when its
    last sample arrived, so it spans `host_span`); `sensor_time` is the device's own clock in
    seconds at the chunk's first sample (as PortAudio and RealSense report it) where the device has
    a clock, else None. Both are kept: they drift apart.
    """

    source: str
    modality: str
    data: Any
    host_time: float
    sensor_time: float | None = None
    seq: int = 0  # per source, counting from 0; a Gap precedes any jump
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. the sim's ground truth

    @property
    def duration(self) -> float:
        """Seconds of signal in a block of samples (audio, IMU); 0 for a frame."""
        if isinstance(self.data, tuple) and len(self.data) == 2:
            samples, rate = self.data
            return len(samples) / float(rate)
        return 0.0

    @property
    def host_span(self) -> tuple[float, float]:
        """(start, end) of the chunk on the host's monotonic clock."""
        return self.host_time - self.duration, self.host_time


@dataclass(frozen=True)
class Gap:
    """An explicit hole in a stream: data before and after it are not contiguous.

    `reason` says why (device lost, device overflow, consumer too slow); `dropped` counts the
    chunks known to be lost (0 when unknown, e.g. while a device was unplugged).
    """

    source: str
    reason: str
    host_time: float
    dropped: int = 0


Item = Union[Chunk, Gap]


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a source: its modality, native rate (samples or frames per second), the shape
    and dtype of a chunk's array, and its units."""

    modality: str
    rate_hz: float
    shape: tuple[int, ...]
    dtype: str
    units: str


@dataclass(frozen=True)
class SourceInfo:
    """What a source is: its name, config type, device id and streams (plus device extras such as
    a camera's intrinsics)."""

    name: str
    type: str
    device: str
    streams: tuple[StreamInfo, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)


class State(str, Enum):
    """Where a source is in its life."""

    IDLE = "idle"  # created, not opened
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # the device was lost; a Gap is in the stream; retrying
    FINISHED = "finished"  # a finite source (replay, timed sim) reached its end
    FAILED = "failed"  # an error that retrying cannot fix; iterating re-raises it
    CLOSED = "closed"


@dataclass(frozen=True)
class SourceStatus:
    """A snapshot of a source's state and counters.

    chunks: chunks produced; drops: chunks dropped because the consumer was slow (oldest first);
    overflows: overruns the device itself reported; gaps: Gap markers emitted; reconnects:
    successful reopenings after a loss.
    """

    state: State
    chunks: int = 0
    drops: int = 0
    overflows: int = 0
    gaps: int = 0
    reconnects: int = 0
    last_error: str | None = None
