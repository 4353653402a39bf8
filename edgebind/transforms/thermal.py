"""Thermal transform: a thermal frame -> ImageBind thermal tensor [1, size, size].

ImageBind was trained on LLVIP-style thermal images used as a greyscale [0, 1] image without
mean/std (hence mean=0, std=1). Radiometric input is mapped to that range by a fixed temperature
window: [min_temp_c, max_temp_c] maps linearly onto [0, 1] and is clipped. Then the short side
is resized to `size` (bilinear), the centre cropped, and (x - mean) / std applied.

Units policy (`units`):
- "auto": uint8 (array, 8-bit PNG/JPEG) is a display image, divided by 255 without a window;
  uint16 (array, 16-bit TIFF/PNG) is raw radiometric Y16 in centikelvin (FLIR Lepton /
  PureThermal convention: degC = v / 100 - 273.15); float is Kelvin. Values below 150 K (float
  below 150, uint16 below 15000) raise InputError, since real scenes are warmer: Celsius data needs
  units="celsius", and uint16 that low is not radiometric (raw counts, or not thermal at all).
  Other integer dtypes are ambiguous and raise InputError.
- "kelvin", "celsius", "centikelvin", "uint8" force that reading of the values, whatever the dtype.
A frame whose units differ from the config's travels as `ThermalFrame(data, units)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgebind.errors import ConfigError, InputError
from edgebind.frames import THERMAL_UNITS as UNITS, ThermalFrame  # noqa: F401  (re-exported)
from edgebind.modality import Modality
from edgebind.transforms.base import TRANSFORMS, Transform
from edgebind.transforms.io import (
    as_map2d,
    check_choice,
    check_finite,
    is_path,
    read_thermal_file,
    resize_center_crop,
    to_numpy,
)

_KELVIN_OFFSET = 273.15
_MIN_SCENE_KELVIN = 150.0


@dataclass
class ThermalConfig:
    """Thermal preprocessing settings: input units and the temperature window mapped to [0, 1]."""

    size: int = 224
    units: str = "auto"
    min_temp_c: float = -10.0
    max_temp_c: float = 50.0
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        check_choice(self.units, UNITS, "transforms.thermal.units")
        if not self.size > 0 or not self.std > 0:
            raise ConfigError("transforms.thermal.size and transforms.thermal.std must be > 0")
        if not self.max_temp_c > self.min_temp_c:
            raise ConfigError("transforms.thermal.max_temp_c must be larger than min_temp_c")

    @property
    def input_size(self) -> tuple[int, ...]:
        """The tensor size the encoder's stem is built for: [height, width]."""
        return (self.size, self.size)


def resolve_units(arr: np.ndarray, units: str, what: str = "thermal") -> str:
    """The units an array is read in: `units` itself, or under "auto" the one its dtype implies."""
    if units != "auto":
        return units
    if arr.dtype == np.uint8:
        return "uint8"
    if arr.dtype == np.uint16:
        if arr.min() < _MIN_SCENE_KELVIN * 100:
            raise InputError(
                f"{what}: uint16 values down to {arr.min()} are below {_MIN_SCENE_KELVIN:g} K read as "
                "centikelvin (radiometric Y16), so this is not a radiometric frame (raw sensor counts? "
                "a depth map?); enable radiometry (TLinear) on the camera, or set units if you know them"
            )
        return "centikelvin"
    if arr.dtype.kind != "f":
        raise InputError(
            f"{what}: dtype {arr.dtype} does not tell the units; set units to one of {', '.join(UNITS[1:])}"
        )
    if arr.min() < _MIN_SCENE_KELVIN:
        raise InputError(
            f"{what}: float values below {_MIN_SCENE_KELVIN:g} cannot be Kelvin scene temperatures; "
            'if the data is in degrees Celsius set units="celsius"'
        )
    return "kelvin"


def to_unit_range(arr: np.ndarray, units: str, min_temp_c: float, max_temp_c: float) -> np.ndarray:
    """Values in `units` -> float64 in [0, 1]: /255 for uint8, else the clipped Celsius window."""
    values = arr.astype(np.float64)
    if units == "uint8":
        return np.clip(values / 255.0, 0.0, 1.0)
    celsius = {
        "kelvin": lambda v: v - _KELVIN_OFFSET,
        "celsius": lambda v: v,
        "centikelvin": lambda v: v / 100.0 - _KELVIN_OFFSET,
    }[units](values)
    return np.clip((celsius - min_temp_c) / (max_temp_c - min_temp_c), 0.0, 1.0)


@TRANSFORMS.register("thermal")
class ThermalTransform(Transform):
    """Thermal image path or array -> [1, size, size] float32 in the model's thermal range."""

    modality = Modality.THERMAL
    config_cls = ThermalConfig

    def __call__(self, item: Any) -> torch.Tensor:
        cfg = self.config
        units = cfg.units
        if isinstance(item, ThermalFrame):
            item, units = item.data, item.units
        arr = as_map2d(to_numpy(read_thermal_file(item) if is_path(item) else item, "thermal"), "thermal")
        check_finite(arr, "thermal")
        units = resolve_units(arr, units)
        scaled = to_unit_range(arr, units, cfg.min_temp_c, cfg.max_temp_c)
        out = resize_center_crop(torch.from_numpy(scaled.astype(np.float32)), cfg.size)
        return (out - cfg.mean) / cfg.std
