"""The node's dataclasses: what it is configured with (NodeConfig, WindowConfig), what it hands out
(Embedding) and what it counts per stream (StreamStats), importable without the node's threads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from edgebind.config import from_dict
from edgebind.drivers import source_config
from edgebind.errors import ConfigError
from edgebind.runtime.backend import backend_config
from edgebind.runtime.detector import DetectorConfig, EventConfig
from edgebind.runtime.store import StoreConfig


@dataclass(frozen=True)
class Embedding:
    """One embedded window: a unit vector in the shared space for [t_start, t_end] (host clock)."""

    source: str
    modality: str
    t_start: float
    t_end: float
    vector: np.ndarray
    scores: Mapping[str, float] = field(default_factory=dict)  # event name -> score, where scored
    meta: Mapping[str, Any] = field(default_factory=dict)
    onset: bool = False  # an onset window: [t_start, t_end] is a new sound from its start (see WindowConfig)


@dataclass(kw_only=True)
class WindowConfig:
    """How streams are cut into windows (their length is the model's input length)."""

    hop_s: float = 0.5  # audio and IMU: seconds between window starts
    frame_rate_hz: float = 2.0  # depth, thermal, colour: frames embedded per second per stream
    audio_s: float | None = None  # audio window (None: the model's clip, 2 s); shorter ones are looped to it
    # The onset path: when the audio level jumps by onset_rise_db, the new sound alone (from its onset
    # to now, looped to the clip) is also scored every onset_hop_s until onset_max_s after it.
    onset: bool = True
    onset_hop_s: float = 0.1
    onset_max_s: float = 0.5
    onset_rise_db: float = 6.0

    def __post_init__(self) -> None:
        if not (self.hop_s > 0 and self.frame_rate_hz > 0) or (self.audio_s is not None and not self.audio_s > 0):
            raise ConfigError("windows.hop_s, windows.frame_rate_hz and windows.audio_s must be > 0")
        if not (0 < self.onset_hop_s <= self.onset_max_s and self.onset_rise_db > 0):
            raise ConfigError(f"windows.onset_hop_s ({self.onset_hop_s}) must lie in (0, onset_max_s "
                              f"({self.onset_max_s})] and windows.onset_rise_db ({self.onset_rise_db}) be > 0")


@dataclass(kw_only=True)
class NodeConfig:
    """Everything a node runs: sources, backend, windowing, events and queue sizes."""

    sensors: list = field(default_factory=lambda: [{"type": "sim", "modality": m, "name": f"sim_{m}"}
                                                   for m in ("audio", "depth", "thermal", "imu")])
    backend: dict = field(default_factory=dict)
    windows: WindowConfig = field(default_factory=WindowConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    events: list = field(default_factory=list)  # EventConfig dicts (or objects)
    calibration: str | None = None  # a file from `edgebind calibrate` (thresholds)
    store: StoreConfig | None = None  # keep embeddings and events on disk (queryable, survives restarts)
    restart_interval_s: float = 5.0  # a source that failed is restarted this often until it works
    queue_size: int = 64  # windows waiting for the model before the oldest are dropped
    output_size: int = 4096  # embeddings and detections waiting for the library user

    def __post_init__(self) -> None:
        self.sensors = [source_config(s, f"sensors[{i}]") for i, s in enumerate(self.sensors)]
        self.events = [from_dict(EventConfig, e, f"events[{i}]") for i, e in enumerate(self.events)]
        self.backend = backend_config(self.backend)
        if not self.sensors:
            raise ConfigError("a node needs at least one sensor")
        if not self.restart_interval_s > 0:
            raise ConfigError(f"restart_interval_s must be > 0, got {self.restart_interval_s}")
        if self.queue_size < 1 or self.output_size < 1:
            raise ConfigError("queue_size and output_size must be >= 1")


@dataclass
class StreamStats:
    """Counters of one stream (source + modality)."""

    windows: int = 0
    embedded: int = 0
    dropped: int = 0
    cpu_s: float = 0.0  # inference thread CPU time spent on this stream's windows
    latency_ms: list = field(default_factory=list)  # window end -> embedding ready, recent ones
