"""`thermal`: a UVC thermal camera (PureThermal/Lepton, Boson, TC001-style) through OpenCV's V4L2
backend, frames taken unconverted (`CAP_PROP_CONVERT_RGB` = 0) and decoded by
`edgebind.drivers.thermal_formats`.

Each chunk is one `ThermalFrame` (centikelvin, Kelvin, or the relative uint8 scale; see
thermal_formats) with the V4L2 buffer timestamp as `sensor_time` where the driver gives one. A
failed read (no frame within `read_timeout_s`, which also bounds how long `close()` may wait
for a silent camera) or a vanished device becomes a Gap and the device is reopened by name or index every
`reconnect_interval_s`; a camera that negotiates another pixel format or size is an error naming
what it sends.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from edgebind.config import check_choice
from edgebind.drivers.chunks import Item, SourceInfo, StreamInfo
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.drivers.thermal_formats import FORMATS, ThermalFormat, decode
from edgebind.errors import ConfigError, DeviceError, DeviceNotConnectedError, InputError, require


@dataclass(kw_only=True)
class ThermalCameraConfig(SourceConfig):
    """A UVC thermal camera: its V4L2 device, camera format, frame rate and radiometry."""

    type: str = "thermal"
    device: "str | int" = 0  # /dev/videoN, /dev/v4l/by-id/..., or the index N (`edgebind devices`)
    format: str = "lepton"  # lepton, boson or tc001 (see edgebind.drivers.thermal_formats)
    fps: float = 0.0  # frames per second to ask for; 0: the camera's own rate
    radiometric: bool = True  # Y16 cameras: TLinear centikelvin; false: raw counts, relative scale
    read_timeout_s: float = 2.0  # a camera silent this long is lost (TC001s pause < 1 s when re-calibrating)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.format, tuple(FORMATS), "thermal format")
        if isinstance(self.device, str) and self.device.isdigit():
            self.device = int(self.device)
        valid = self.device != "" if isinstance(self.device, str) else (
            isinstance(self.device, int) and not isinstance(self.device, bool) and self.device >= 0)
        if not valid:
            raise ConfigError(f"thermal device must be a /dev/video path or an index >= 0, got {self.device!r}")
        if self.fps < 0 or not self.read_timeout_s > 0:
            raise ConfigError(f"thermal fps must be >= 0 (0: the camera's own rate) and read_timeout_s > 0, "
                              f"got {self.fps} and {self.read_timeout_s}")
        if not self.radiometric and not FORMATS[self.format].relative:
            raise ConfigError(f"thermal radiometric: false applies to Y16 cameras (lepton, boson); "
                              f"{self.format} frames are always radiometric")


@SOURCES.register("thermal")
class ThermalCameraSource(Source):
    """One ThermalFrame per camera frame."""

    config_cls = ThermalCameraConfig
    config: ThermalCameraConfig

    def __init__(self, config: ThermalCameraConfig) -> None:
        super().__init__(config)
        self.format: ThermalFormat = FORMATS[config.format]
        self._cap = None
        self._size = self.format.sizes[0]

    def info(self) -> SourceInfo:
        c, (width, height) = self.config, self._size
        if c.format == "tc001":
            height //= 2  # the thermal half of the frame
        dtype, units = (("uint8", "relative (per-frame min..max -> 0..255)") if not c.radiometric else
                        ("float32", "K") if c.format == "tc001" else ("uint16", "centikelvin"))
        return SourceInfo(self.name, c.type, str(c.device),
                          (StreamInfo("thermal", c.fps or self.format.fps, (height, width), dtype, units),),
                          {"format": c.format, "fourcc": self.format.fourcc.strip()})

    def _connect(self) -> None:
        cv2 = require("cv2", "sensors", "the thermal source")
        device = self.config.device
        cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise DeviceNotConnectedError(
                f"thermal: cannot open {device}; check the cable and the device name "
                "(`edgebind devices` lists video devices)")
        width, height = self.format.sizes[0]
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.format.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)  # V4L2 settles on the nearest size the camera has
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self.config.fps:
            cap.set(cv2.CAP_PROP_FPS, self.config.fps)
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)  # the raw Y16 / YUYV buffer, not a BGR picture of it
        cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.config.read_timeout_s * 1000)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if fourcc != self.format.fourcc or size not in self.format.sizes:
            cap.release()
            raise DeviceError(
                f"thermal: {device} sends {fourcc.strip() or '?'} {size[0]}x{size[1]}, not {self.config.format} "
                f"frames ({self.format.describe()}); set format to this camera's "
                f"({', '.join(f'{n}: {f.describe()}' for n, f in FORMATS.items())})")
        self._cap, self._size = cap, size

    def _disconnect(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _read(self) -> Sequence[Item]:
        cv2 = require("cv2", "sensors", "the thermal source")
        ok, raw = self._cap.read()
        if not ok or raw is None:
            raise DeviceNotConnectedError(f"thermal: {self.config.device} stopped sending frames")
        now = time.monotonic()
        try:
            frame = decode(self.config.format, raw, self.config.radiometric)
        except InputError as exc:
            raise DeviceError(f"thermal: {self.config.device}: {exc}") from None
        stamp_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return [self.chunk("thermal", frame, sensor_time=stamp_ms / 1000 if stamp_ms > 0 else None, host_time=now)]
