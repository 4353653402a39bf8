"""Sensor frames that carry their own calibration or units, as drivers hand them to the transforms.

Kept free of torch so that sensor drivers can build them without loading the model stack;
`edgebind.transforms.depth` and `.thermal` re-export them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgebind.config import check_choice
from edgebind.errors import InputError

THERMAL_UNITS = ("auto", "kelvin", "celsius", "centikelvin", "uint8")
CAMERA_PRESETS: dict[str, tuple[float, float]] = {
    "kinect_v1": (0.075, 518.857),
    "kinect_v2": (0.075, 365.5),
    "realsense_d415": (0.055, 592.0),
    "realsense_d435": (0.050, 383.0),
    "realsense_d455": (0.095, 390.0),
    "xtion": (0.095, 570.0),
}


@dataclass(frozen=True)
class DepthFrame:
    """A depth map (path, uint16 millimetres or float metres) with the camera that took it."""

    depth: Any
    baseline_m: float
    focal_px: float

    def __post_init__(self) -> None:
        if not (np.isfinite([self.baseline_m, self.focal_px]).all() and self.baseline_m > 0
                and self.focal_px > 0):
            raise InputError(f"depth frame: baseline_m and focal_px must be finite and > 0, got "
                             f"{self.baseline_m} and {self.focal_px}; pass the camera's own calibration")

    @classmethod
    def from_camera(cls, depth: Any, camera: str) -> "DepthFrame":
        """A frame from a camera preset (see CAMERA_PRESETS)."""
        check_choice(camera, tuple(CAMERA_PRESETS), "camera")
        return cls(depth, *CAMERA_PRESETS[camera])


@dataclass(frozen=True)
class ThermalFrame:
    """A thermal frame (path or array) with the units its values are in (see THERMAL_UNITS)."""

    data: Any
    units: str

    def __post_init__(self) -> None:
        check_choice(self.units, THERMAL_UNITS, "thermal frame units")
