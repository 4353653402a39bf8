"""IMU transform: a T x 6 accelerometer + gyroscope recording -> ImageBind IMU tensor [6, length].

Channel order is accel x, y, z (m/s^2) then gyro x, y, z (rad/s). Steps: validate -> resample to
`rate_hz` by linear interpolation over time (uneven CSV timestamps are interpolated onto a uniform
grid; a recording already at `rate_hz` passes through unchanged) -> crop or pad to `length` ->
divide accel by `accel_scale` (g by default) and gyro by `gyro_scale` -> transpose to [6, length].

Crop/pad policy: a too-long recording keeps its most recent `length` samples (crop="last", what a
live node wants) or its middle ones (crop="center"). A too-short one is padded by repeating its
edge samples (pad="edge") or with zeros (pad="zero"), before the data with crop="last" so the
newest sample is always the last column, on both sides with crop="center".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgebind.errors import ConfigError, InputError
from edgebind.modality import Modality
from edgebind.transforms.base import TRANSFORMS, Transform
from edgebind.transforms.io import (
    TIME_UNITS,
    check_choice,
    check_finite,
    check_rate,
    is_path,
    read_imu_file,
    to_numpy,
)

CHANNELS = 6


@dataclass
class ImuConfig:
    """IMU preprocessing settings; ImageBind's IMU encoder takes [6, 2000] at 200 Hz."""

    rate_hz: float = 200.0
    length: int = 2000
    accel_scale: float = 9.80665
    gyro_scale: float = 1.0
    pad: str = "edge"
    crop: str = "last"
    time_unit: str = "auto"  # of CSV timestamps: s, ms, us, ns, or auto (the one a plausible rate implies)

    def __post_init__(self) -> None:
        check_choice(self.time_unit, ("auto", *TIME_UNITS), "transforms.imu.time_unit")
        check_choice(self.pad, ("edge", "zero"), "transforms.imu.pad")
        check_choice(self.crop, ("last", "center"), "transforms.imu.crop")
        for name in ("rate_hz", "length", "accel_scale", "gyro_scale"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"transforms.imu.{name} must be > 0, got {getattr(self, name)}")

    @property
    def input_size(self) -> tuple[int, ...]:
        """The tensor size the encoder's stem is built for: [samples] per channel."""
        return (self.length,)


def check_imu_array(data: Any, what: str = "imu") -> np.ndarray:
    """A finite float64 T x 6 array; a 6 x T array is rejected with a hint to transpose it."""
    arr = to_numpy(data, what)
    if arr.ndim != 2 or arr.shape[1] != CHANNELS:
        looks_transposed = arr.ndim == 2 and arr.shape[0] == CHANNELS
        hint = " (it looks like 6 x T: pass its transpose, arr.T)" if looks_transposed else ""
        raise InputError(
            f"{what}: expected T x 6 (accel x,y,z then gyro x,y,z), got shape {tuple(arr.shape)}{hint}"
        )
    check_finite(arr, what)
    return arr.astype(np.float64)


def resample(data: np.ndarray, times: np.ndarray, rate_hz: float) -> np.ndarray:
    """Linearly interpolate T x C samples taken at `times` (s) onto a uniform `rate_hz` grid from times[0]."""
    count = int(np.floor((times[-1] - times[0]) * rate_hz + 1e-9)) + 1
    grid = times[0] + np.arange(count) / rate_hz
    return np.stack([np.interp(grid, times, data[:, c]) for c in range(data.shape[1])], axis=1)


def fit_length(data: np.ndarray, length: int, pad: str, crop: str) -> np.ndarray:
    """Crop or pad T x C data along time to exactly `length` samples, per the pad/crop policy."""
    extra = data.shape[0] - length
    if extra >= 0:
        start = extra if crop == "last" else extra // 2
        return data[start : start + length]
    before = -extra if crop == "last" else -extra // 2
    widths = ((before, -extra - before), (0, 0))
    return np.pad(data, widths, mode="edge") if pad == "edge" else np.pad(data, widths)


@TRANSFORMS.register("imu")
class ImuTransform(Transform):
    """CSV/.npy path, T x 6 array at `rate_hz`, or (array, rate_hz) -> [6, length] float32."""

    modality = Modality.IMU
    config_cls = ImuConfig

    def __call__(self, item: Any) -> torch.Tensor:
        cfg = self.config
        data, times = self.samples(item)
        if len(times) > 1 and not self._is_uniform_at_target(times):
            data = resample(data, times, cfg.rate_hz)
        data = fit_length(data, cfg.length, cfg.pad, cfg.crop)
        scales = np.repeat([cfg.accel_scale, cfg.gyro_scale], 3)
        return torch.from_numpy(np.ascontiguousarray((data / scales).T, dtype=np.float32))

    def samples(self, item: Any) -> tuple[np.ndarray, np.ndarray]:
        """(T x 6 float64 data, sample times in seconds): CSV timestamps, else index / rate."""
        rate, times = self.config.rate_hz, None
        if is_path(item):
            data, _, times = read_imu_file(item, self.config.time_unit)
        elif isinstance(item, tuple):
            if len(item) != 2:
                raise InputError(f"imu: a tuple input must be (array, rate_hz), got {len(item)} items")
            data, rate = item[0], check_rate(item[1], "imu")
        else:
            data = item
        data = check_imu_array(data, f"imu: {item}" if is_path(item) else "imu")
        return data, np.arange(data.shape[0]) / rate if times is None else times

    def _is_uniform_at_target(self, times: np.ndarray) -> bool:
        """True when samples are evenly spaced at `rate_hz` already (within 0.1 % jitter)."""
        step = 1.0 / self.config.rate_hz
        return bool(np.all(np.abs(np.diff(times) - step) <= 1e-3 * step))
