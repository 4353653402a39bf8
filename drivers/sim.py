"""`sim`: the synthetic world streamed as a live sensor, one source per modality.

Real time by default (`speed: 1`); `speed: 10` plays ten times faster and `speed: 0` as fast as
the consumer reads (then nothing is dropped, and host times are the open time plus simulated
time, so several fast sim sources stay aligned in time as live ones do). Every chunk's `meta`
holds the ground truth (scene index, label, whether its event is on, the onset time in sim time
and on the host clock), and `SimSource.schedule.events()` lists the events, so detection can be
scored. Sensor time is the simulated clock in seconds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

from edgebind.config import check_choice
from edgebind.drivers.chunks import Item, SourceInfo, StreamInfo
from edgebind.drivers.sim_scenes import SceneSchedule
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.errors import ConfigError
from edgebind.frames import CAMERA_PRESETS, DepthFrame, ThermalFrame

MODALITIES = ("audio", "depth", "thermal", "imu")
# modality -> (default rate: Hz of samples or frames, default samples per chunk, dtype, units)
DEFAULTS = {
    "audio": (16000.0, 512, "float32", "full scale [-1, 1]"),
    "depth": (30.0, 1, "uint16", "millimetres"),
    "thermal": (15.0, 1, "float32", "kelvin"),
    "imu": (200.0, 10, "float32", "m/s^2, rad/s"),
}


@dataclass(kw_only=True)
class SimConfig(SourceConfig):
    """A simulated sensor of one modality over the synthetic world's scene schedule."""

    type: str = "sim"
    modality: str = "audio"
    rate_hz: float | None = None  # samples (audio, IMU) or frames (depth, thermal) per second
    block: int | None = None  # samples per chunk (audio 512 = 32 ms, IMU 10 = 50 ms)
    size: int = 64  # depth / thermal frame width and height, pixels
    camera: str = "kinect_v1"  # depth calibration the frames carry (the shipped model's)
    seed: int = 0
    num_classes: int = 8
    scene_s: float = 8.0  # each scene lasts this long
    onset_s: float = 3.0  # its event starts this far into it
    heat_s: float = 2.0  # the object heats up over this long
    events: bool = True  # False: background only, never an event (to calibrate a detector on)
    speed: float = 1.0  # 1 real time, 0 as fast as the consumer reads
    duration_s: float | None = None  # end after this much simulated time (None: never)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.modality, MODALITIES, "sim modality")
        check_choice(self.camera, tuple(CAMERA_PRESETS), "sim camera")
        if not 0 <= self.onset_s < self.scene_s:
            raise ConfigError(f"sim onset_s must lie in [0, scene_s={self.scene_s}), got {self.onset_s}")
        if self.speed < 0 or (self.rate_hz is not None and self.rate_hz <= 0):
            raise ConfigError("sim speed must be >= 0 and rate_hz > 0")
        if self.block is not None and (self.block < 1 or self.modality in ("depth", "thermal")):
            raise ConfigError("sim block (samples per chunk, >= 1) applies to audio and imu only")

    @property
    def rate(self) -> float:
        return self.rate_hz or DEFAULTS[self.modality][0]

    @property
    def samples_per_chunk(self) -> int:
        return self.block or DEFAULTS[self.modality][1]


@SOURCES.register("sim")
class SimSource(Source):
    """Chunks of one modality of the simulated world, paced by the host clock."""

    config_cls = SimConfig
    config: SimConfig

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        c = config
        self.schedule = SceneSchedule(c.seed, c.num_classes, c.scene_s, c.onset_s if c.events else math.inf, c.heat_s)
        self._index = 0  # samples (audio, IMU) or frames (depth, thermal) produced
        self._start = 0.0

    def default_name(self) -> str:
        return f"sim_{self.config.modality}"

    def lossless(self) -> bool:
        return self.config.speed == 0

    def info(self) -> SourceInfo:
        c = self.config
        _, _, dtype, units = DEFAULTS[c.modality]
        shape = (c.samples_per_chunk, 1 if c.modality == "audio" else 6) if c.modality in ("audio", "imu") \
            else (c.size, c.size)
        extra = dict(zip(("baseline_m", "focal_px"), CAMERA_PRESETS[c.camera])) if c.modality == "depth" else {}
        return SourceInfo(self.name, c.type, f"sim:{c.modality}:seed{c.seed}",
                          (StreamInfo(c.modality, c.rate, shape, dtype, units),), extra)

    def _connect(self) -> None:
        self._start = time.monotonic()

    def _read(self) -> Sequence[Item] | None:
        c = self.config
        n = c.samples_per_chunk
        t0, t1 = self._index / c.rate, (self._index + n) / c.rate  # sim time of this chunk
        if c.duration_s is not None and t0 >= c.duration_s:
            return None
        if c.speed and not self.wait_until(self._start + (t1 if n > 1 else t0) / c.speed):
            return []
        data = self._render(t0, n)
        self._index += n
        # As fast as read, the host clock follows simulated time (so windows and recordings line up).
        host_time = None if c.speed else self._start + (t1 if n > 1 else t0)
        return [self.chunk(c.modality, data, sensor_time=t0, host_time=host_time,
                           meta=self._truth(t0 if n == 1 else t1))]

    def _truth(self, t: float) -> dict:
        """The schedule's ground truth at sim time `t`, plus its onset on the host clock."""
        truth = self.schedule.truth(t)
        onset = truth["onset_s"]
        truth["onset_host"] = None if onset is None else self._start + onset / (self.config.speed or 1.0)
        return truth

    def _render(self, t: float, n: int):
        """What the model's transform takes for this modality at sim time `t`."""
        c, s = self.config, self.schedule
        if c.modality == "depth":
            return DepthFrame.from_camera(s.depth(t, c.size), c.camera)
        if c.modality == "thermal":
            return ThermalFrame(s.thermal(t, c.size), "kelvin")
        return s.samples(c.modality, self._index, n, c.rate), c.rate
