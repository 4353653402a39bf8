"""Depth transform: a metric depth map -> ImageBind disparity tensor [1, size, size].

ImageBind sees depth as disparity (baseline_m * focal_px / depth_m), which is invariant to image
scale. Steps: to metres -> clamp valid depths to [min_depth_m, max_depth_m] -> disparity ->
optionally clamp to `max_disparity` and divide by it (Omnivore's DepthNorm, which imagebind_huge's
config uses with 75; ImageBind never published its own depth loader) -> bilinear resize of the
short side to `size` (no antialiasing) -> centre crop -> (x - mean) / std.
The map stays floating point throughout; it is never squeezed into an 8-bit image.

Units: uint16 arrays and 16-bit PNGs are millimetres; float arrays and float .npy are metres.
Invalid pixels (0, or NaN in float maps) get disparity 0. A map with no valid pixel, inf values
or negative depths raises InputError.

CAMERA_PRESETS maps a camera name to (baseline_m, focal_px). Values are approximate, gathered from
public datasheets and calibrations (Kinect v1 as in SUN RGB-D / NYU: 0.075 m, 518.857 px at
640x480; Kinect v2: 0.075 m, 365.5 px at 512x424; RealSense D415: 0.055 m, ~592 px; D435:
0.050 m, ~383 px; D455: 0.095 m, ~390 px; ASUS Xtion: 0.095 m, ~570 px; RealSense/Xtion at
640x480). For real use pass your own camera's intrinsics: focal_px is the camera's fx at the
resolution the depth frame was captured at, baseline_m its stereo/projector baseline.

A frame whose camera differs from the config's (a data set mixing sensors, a live camera) travels
as a `DepthFrame`, which carries its own baseline and focal length; the transform uses those.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgebind.errors import ConfigError, InputError
from edgebind.frames import CAMERA_PRESETS, DepthFrame  # noqa: F401  (re-exported)
from edgebind.modality import Modality
from edgebind.transforms.base import TRANSFORMS, Transform
from edgebind.transforms.io import (
    as_map2d,
    check_choice,
    is_path,
    read_depth_file,
    resize_center_crop,
    to_numpy,
)

@dataclass
class DepthConfig:
    """Depth preprocessing settings; a `camera` preset overrides baseline_m and focal_px."""

    size: int = 224
    baseline_m: float = 0.075
    focal_px: float = 518.857
    camera: str | None = None
    min_depth_m: float = 0.01
    max_depth_m: float = 50.0
    max_disparity: float | None = None  # clamp disparity to this, then divide by it (Omnivore's DepthNorm)
    mean: float = 0.0418
    std: float = 0.0295
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.camera is not None:
            check_choice(self.camera, tuple(CAMERA_PRESETS), "transforms.depth.camera")
        if self.max_disparity is not None and not self.max_disparity > 0:
            raise ConfigError(f"transforms.depth.max_disparity must be > 0, got {self.max_disparity}")
        for name in ("size", "baseline_m", "focal_px", "min_depth_m", "std"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"transforms.depth.{name} must be > 0, got {getattr(self, name)}")
        if not self.max_depth_m > self.min_depth_m:
            raise ConfigError("transforms.depth.max_depth_m must be larger than min_depth_m")

    def stereo(self) -> tuple[float, float]:
        """(baseline_m, focal_px) in effect: the camera preset's when set, else the fields."""
        return CAMERA_PRESETS[self.camera] if self.camera else (self.baseline_m, self.focal_px)

    @property
    def input_size(self) -> tuple[int, ...]:
        """The tensor size the encoder's stem is built for: [height, width]."""
        return (self.size, self.size)


def depth_in_metres(data: Any, what: str = "depth") -> tuple[np.ndarray, np.ndarray]:
    """(float64 H x W depth in metres, boolean mask of valid pixels) from uint16 mm or float metres."""
    arr = as_map2d(to_numpy(data, what), what)
    if arr.dtype == np.uint16:
        return arr / 1000.0, arr > 0
    if arr.dtype.kind != "f":
        raise InputError(
            f"{what}: dtype {arr.dtype} is ambiguous; pass uint16 millimetres "
            "(arr.astype(np.uint16)) or float metres (arr / 1000.0)"
        )
    if np.isinf(arr).any():
        raise InputError(f"{what}: the map contains inf; mark invalid pixels with 0 or NaN instead")
    metres = arr.astype(np.float64)
    valid = ~np.isnan(metres) & (metres != 0)
    if (metres[valid] < 0).any():
        raise InputError(f"{what}: the map has negative depths; depth must be metres >= 0 (0 = invalid)")
    return metres, valid


@TRANSFORMS.register("depth")
class DepthTransform(Transform):
    """16-bit PNG / .npy path or depth array (or a DepthFrame with its own camera) -> disparity
    tensor [1, size, size] float32."""

    modality = Modality.DEPTH
    config_cls = DepthConfig

    def with_options(self, **options: Any) -> "DepthTransform":
        """As Transform.with_options; a baseline or focal length given without a `camera` replaces
        the config's camera preset rather than being overridden by it."""
        if {"baseline_m", "focal_px"} & set(options):
            options.setdefault("camera", None)
        return super().with_options(**options)

    def __call__(self, item: Any) -> torch.Tensor:
        cfg = self.config
        baseline, focal = cfg.stereo()
        if isinstance(item, DepthFrame):
            item, baseline, focal = item.depth, item.baseline_m, item.focal_px
        metres, valid = depth_in_metres(read_depth_file(item) if is_path(item) else item)
        if not valid.any():
            raise InputError("depth: every pixel is invalid (0 or NaN); check the sensor frame")
        disparity = np.zeros(metres.shape, dtype=np.float64)
        disparity[valid] = baseline * focal / np.clip(metres[valid], cfg.min_depth_m, cfg.max_depth_m)
        if cfg.max_disparity is not None:
            disparity = np.minimum(disparity, cfg.max_disparity) / cfg.max_disparity
        out = resize_center_crop(torch.from_numpy(disparity.astype(np.float32)), cfg.size)
        return (out - cfg.mean) / cfg.std if cfg.normalize else out
