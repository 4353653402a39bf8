"""`depth`: an Intel RealSense depth camera (D400 series), or a recording of one, via pyrealsense2.

Depth chunks are `DepthFrame`s with the camera's own calibration: `focal_px` is the depth stream's
fx; `baseline_m` comes from the extrinsics between the two infrared imagers, else the depth
sensor's `stereo_baseline` option (mm), else the `realsense_d435` preset (with a warning; e.g. a
recording, which keeps neither the infrared streams nor, unless recorded, the option).
Depth values: with the usual 1 mm depth scale the raw uint16 map is handed over as millimetres;
with any other scale (e.g. 0.1 mm on a D405) it becomes float32 metres = raw * depth_scale, 0
staying 0 (invalid). With `color: true` the colour camera's frames become `vision` chunks (H x W x 3
uint8 RGB), deliberately NOT aligned to depth: each modality is embedded on its own, and
alignment would cost CPU per frame and leave holes where the views differ.
`sensor_time` is the frame's timestamp (ms -> s), `meta["frame_number"]` its frame counter.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebind.drivers.chunks import Chunk, Item, SourceInfo, StreamInfo
from edgebind.drivers.devices import realsense_cameras
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.errors import ConfigError, DeviceError, DeviceNotConnectedError, require
from edgebind.frames import CAMERA_PRESETS, DepthFrame

log = logging.getLogger(__name__)

FALLBACK_CAMERA = "realsense_d435"  # the baseline used when the device exposes none
MILLIMETRE = 0.001
WAIT_MS = 100  # one `_read` waits at most this long, so close() stays prompt


@dataclass(kw_only=True)
class RealSenseConfig(SourceConfig):
    """A RealSense camera (by serial; None = the first one) or a `.bag` / `.db3` recording (`path`)."""

    type: str = "depth"
    serial: str | None = None  # `edgebind devices` lists the attached cameras' serials
    width: int = 640  # camera only: a recording plays at its recorded resolution and rate
    height: int = 480
    fps: int = 30
    color: bool = False  # also stream the colour camera as `vision` chunks (not aligned to depth)
    path: str | None = None  # play this recording instead of a camera
    real_time: bool = True  # recording only: at recorded pace (False: as fast as the consumer reads)
    frame_timeout_s: float = 5.0  # camera only: no frame for this long counts as a lost device

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.serial is not None:  # `--set depth.serial=123456` arrives as a JSON number
            self.serial = str(self.serial)
        if self.path is not None and self.serial is not None:
            raise ConfigError("depth: set either serial (a camera) or path (a recording), not both")
        if min(self.width, self.height, self.fps) < 1 or not self.frame_timeout_s > 0:
            raise ConfigError("depth width, height, fps and frame_timeout_s must be > 0")


def depth_values(raw: np.ndarray, depth_scale: float) -> np.ndarray:
    """The z16 map as the depth transform takes it: uint16 mm at a 1 mm scale, else float32 metres."""
    if math.isclose(depth_scale, MILLIMETRE, rel_tol=1e-6):
        return raw.copy()
    return raw.astype(np.float32) * np.float32(depth_scale)


def stereo_baseline(rs: Any, depth_sensor: Any) -> float | None:
    """The baseline in metres that the depth sensor exposes (infrared extrinsics or the
    `stereo_baseline` option), or None when it exposes neither."""
    infrared = {p.stream_index(): p for p in depth_sensor.get_stream_profiles()
                if p.stream_type() == rs.stream.infrared}
    if 1 in infrared and 2 in infrared:
        try:
            return abs(infrared[1].get_extrinsics_to(infrared[2]).translation[0])
        except RuntimeError:  # profiles without registered extrinsics
            pass
    if depth_sensor.supports(rs.option.stereo_baseline):
        return depth_sensor.get_option(rs.option.stereo_baseline) / 1000.0
    return None


@SOURCES.register("depth")
class RealSenseSource(Source):
    """Depth (and optionally colour) frames from a RealSense pipeline.

    `context` (an `rs.context`) is where cameras are looked up: by default a new one; pass your own
    to share it or to add devices to it (`context.load_device(recording)` appears as a camera).
    """

    config_cls = RealSenseConfig
    config: RealSenseConfig

    def __init__(self, config: RealSenseConfig, context: Any = None) -> None:
        super().__init__(config)
        self._context = context
        self._pipeline = self._device = None
        self._serial = config.serial  # the camera opened first is the one reopened after a loss
        self._lost = threading.Event()
        self._last: dict[Any, int] = {}  # stream -> last frame number emitted
        self._last_frame_time = 0.0
        self._details: dict[str, Any] = {}
        self._depth_dtype = "uint16"

    def lossless(self) -> bool:
        return self.config.path is not None and not self.config.real_time

    def info(self) -> SourceInfo:
        c, d = self.config, self._details
        width, height = d.get("resolution", (c.width, c.height))
        fps = d.get("fps", c.fps)
        streams = [StreamInfo("depth", fps, (height, width), self._depth_dtype,
                              "mm" if self._depth_dtype == "uint16" else "m")]
        if c.color:
            streams.append(StreamInfo("vision", fps, (height, width, 3), "uint8", "RGB"))
        return SourceInfo(self.name, c.type, c.path or self._serial or "first RealSense camera",
                          tuple(streams), dict(d))

    # --- connecting ---------------------------------------------------------------------------
    def _connect(self) -> None:
        rs = require("pyrealsense2", "sensors", "the depth source")
        if self._context is None:
            self._context = rs.context()
        pipeline, config = rs.pipeline(self._context), rs.config()
        if self.config.path is not None:
            self._configure_playback(rs, config)
        else:
            self._configure_camera(rs, config)
        try:
            profile = config.resolve(rs.pipeline_wrapper(pipeline))
        except RuntimeError as exc:
            raise DeviceError(f"depth: {self._what()} cannot stream {self._request()} ({exc}); "
                              "a D435 streams e.g. 640x480 or 848x480 at 15, 30, 60 or 90 fps") from None
        if self.config.path is not None:  # before start, so that no frame plays in the wrong mode
            profile.get_device().as_playback().set_real_time(self.config.real_time)
        self._lost.clear()
        try:
            profile = pipeline.start(config)
        except RuntimeError as exc:
            raise DeviceNotConnectedError(f"depth: cannot start {self._what()} ({exc})") from None
        self._pipeline, self._device, self._last = pipeline, profile.get_device(), {}
        self._last_frame_time = time.monotonic()
        try:
            self._describe(rs, profile)
        except DeviceError:
            self._disconnect()  # open() failed: leave no pipeline running
            raise

    def _configure_playback(self, rs: Any, config: Any) -> None:
        path = Path(self.config.path)
        if not path.is_file():
            raise DeviceNotConnectedError(f"depth: no recording at {path}; check the path "
                                          "(a .bag or .db3 file from realsense-viewer or rs-record)")
        config.enable_device_from_file(str(path), repeat_playback=False)
        config.enable_stream(rs.stream.depth)
        if self.config.color:
            config.enable_stream(rs.stream.color)

    def _configure_camera(self, rs: Any, config: Any) -> None:
        cameras = realsense_cameras(self._context)
        serials = [camera.id for camera in cameras]
        if not serials:
            raise DeviceNotConnectedError("depth: no RealSense camera found; connect one to a USB 3 port "
                                          "(`edgebind devices` lists the cameras it sees)")
        if self._serial is None:
            self._serial = serials[0]
        elif self._serial not in serials:
            raise DeviceNotConnectedError(f"depth: no RealSense camera with serial {self._serial}; attached: "
                                          f"{', '.join(serials)} (`edgebind devices` lists them)")
        self._context.set_devices_changed_callback(self._devices_changed)
        c = self.config
        config.enable_device(self._serial)
        config.enable_stream(rs.stream.depth, c.width, c.height, rs.format.z16, c.fps)
        if c.color:
            config.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)

    def _devices_changed(self, event: Any) -> None:
        """librealsense's hot-plug callback (its own thread): flag the loss for `_read`."""
        device = self._device
        if device is not None and event.was_removed(device):
            self._lost.set()

    def _describe(self, rs: Any, profile: Any) -> None:
        """Read the calibration and identity that chunks and `info()` report."""
        device = profile.get_device()
        sensor = device.first_depth_sensor()
        stream = profile.get_stream(rs.stream.depth).as_video_stream_profile()
        self._check_color(rs, profile)
        intrinsics = stream.get_intrinsics()
        self._scale = sensor.get_depth_scale()
        baseline = stereo_baseline(rs, sensor)
        if baseline is None:
            baseline = CAMERA_PRESETS[FALLBACK_CAMERA][0]
            log.warning("depth: %s exposes no stereo baseline; using the %s preset's %.3f m",
                        self._what(), FALLBACK_CAMERA, baseline)
        self._baseline, self._focal = baseline, intrinsics.fx
        self._depth_dtype = "uint16" if math.isclose(self._scale, MILLIMETRE, rel_tol=1e-6) else "float32"

        def camera_info(key: Any) -> str | None:
            return device.get_info(key) if device.supports(key) else None

        self._details = {
            "serial": camera_info(rs.camera_info.serial_number),
            "model": camera_info(rs.camera_info.name),
            "firmware": camera_info(rs.camera_info.firmware_version),
            "resolution": (intrinsics.width, intrinsics.height), "fps": stream.fps(),
            "depth_scale_m": self._scale, "baseline_m": baseline,
            "intrinsics": {"fx": intrinsics.fx, "fy": intrinsics.fy, "ppx": intrinsics.ppx,
                           "ppy": intrinsics.ppy, "model": str(intrinsics.model),
                           "coeffs": list(intrinsics.coeffs)},
        }
        if self.config.path is not None:
            self._details["recording"] = str(Path(self.config.path).resolve())

    def _check_color(self, rs: Any, profile: Any) -> None:
        if not self.config.color:
            return
        fmt = profile.get_stream(rs.stream.color).format()
        if fmt != rs.format.rgb8:
            raise DeviceError(f"depth: {self._what()} has colour as {fmt}; the depth source reads rgb8 "
                              "colour (record with colour format RGB8)")

    def _what(self) -> str:
        return f"recording {self.config.path}" if self.config.path else f"camera {self._serial}"

    def _request(self) -> str:
        c = self.config
        if c.path is not None:
            return "depth" + (" and colour" if c.color else "")
        return f"z16 depth{' and rgb8 colour' if c.color else ''} at {c.width}x{c.height} @ {c.fps} fps"

    # --- reading ------------------------------------------------------------------------------
    def _disconnect(self) -> None:
        pipeline, self._pipeline, self._device = self._pipeline, None, None
        if pipeline is not None:
            pipeline.stop()

    def _read(self) -> Sequence[Item] | None:
        if self._lost.is_set():
            raise DeviceNotConnectedError(f"depth: {self._what()} was unplugged")
        try:
            ok, frames = self._pipeline.try_wait_for_frames(WAIT_MS)
        except RuntimeError as exc:
            raise DeviceNotConnectedError(f"depth: {self._what()} stopped streaming ({exc})") from None
        if ok:
            return self._new_frames(frames)
        if self.config.path is not None:
            rs = require("pyrealsense2", "sensors", "the depth source")
            finished = self._device.as_playback().current_status() == rs.playback_status.stopped
            return None if finished else []
        if time.monotonic() - self._last_frame_time > self.config.frame_timeout_s:
            raise DeviceNotConnectedError(f"depth: no frame from {self._what()} for "
                                          f"{self.config.frame_timeout_s:g} s")
        return []

    def _new_frames(self, frames: Any) -> list[Chunk]:
        """A chunk per frame not seen before (a frameset repeats the latest frame of a stream
        that had none new)."""
        now = self._last_frame_time = time.monotonic()
        chunks = []
        for frame in frames:
            stream, number = frame.get_profile().stream_type(), frame.get_frame_number()
            if self._last.get(stream) == number:
                continue
            self._last[stream] = number
            pixels = np.asanyarray(frame.get_data())
            if frame.is_depth_frame():
                modality = "depth"
                data: Any = DepthFrame(depth_values(pixels, self._scale), self._baseline, self._focal)
            else:
                modality, data = "vision", pixels.copy()
            chunks.append(self.chunk(modality, data, sensor_time=frame.get_timestamp() / 1000.0,
                                     host_time=now, meta={"frame_number": number}))
        return chunks
