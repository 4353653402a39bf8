"""Real librealsense recordings of a software camera: a `software_device` with a z16 depth stream
(known intrinsics and depth units) and optionally an rgb8 colour stream, its frames fed with
`on_video_frame` through librealsense's recorder into a `.db3` (rosbag2) or `.bag` file."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyrealsense2 as rs

SERIAL, MODEL = "123456", "Soft D435"
WIDTH, HEIGHT, FPS = 8, 6, 30
FX, FY, PPX, PPY = 100.0, 101.0, 3.5, 2.5
FIRST_NUMBER, FIRST_MS = 100, 1000.0


@dataclass(frozen=True)
class SoftCamera:
    """What a recording holds: its depth units, optional baseline option (mm) and colour stream."""

    depth_units: float = 0.0001
    baseline_mm: float | None = 50.2
    color: bool = True
    color_format: str = "rgb8"
    color_every: int = 1  # a colour frame with every n-th depth frame


def depth_pixels(i: int) -> np.ndarray:
    """Frame i's raw z16 map: distinct per pixel and frame, with invalid (0) pixels."""
    raw = (np.arange(HEIGHT * WIDTH, dtype=np.uint16).reshape(HEIGHT, WIDTH) * 7 + 1000 * i + 1)
    raw[0, :3] = 0
    return raw


def color_pixels(i: int) -> np.ndarray:
    return ((np.arange(HEIGHT * WIDTH * 3).reshape(HEIGHT, WIDTH, 3) + 5 * i) % 256).astype(np.uint8)


def timestamp_ms(i: int) -> float:
    return FIRST_MS + i * 1000.0 / FPS


def intrinsics(fx: float, fy: float) -> rs.intrinsics:
    intr = rs.intrinsics()
    intr.width, intr.height, intr.ppx, intr.ppy, intr.fx, intr.fy = WIDTH, HEIGHT, PPX, PPY, fx, fy
    intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.0] * 5
    return intr


def video_stream(kind: rs.stream, index: int, uid: int, fmt: rs.format, bpp: int, fx: float = FX,
                 fy: float = FY) -> rs.video_stream:
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid, stream.fmt, stream.bpp = kind, index, uid, fmt, bpp
    stream.width, stream.height, stream.fps, stream.intrinsics = WIDTH, HEIGHT, FPS, intrinsics(fx, fy)
    return stream


Stream = tuple[rs.software_sensor, rs.stream_profile]


def software_camera(camera: SoftCamera) -> tuple[rs.software_device, list[Stream]]:
    """The device and its (sensor, profile) pairs: depth first, then colour."""
    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, SERIAL)
    device.register_info(rs.camera_info.name, MODEL)
    depth = device.add_sensor("Stereo Module")
    streams = [(depth, depth.add_video_stream(video_stream(rs.stream.depth, 0, 0, rs.format.z16, 2)))]
    depth.add_read_only_option(rs.option.depth_units, camera.depth_units)
    if camera.baseline_mm is not None:
        depth.add_read_only_option(rs.option.stereo_baseline, camera.baseline_mm)
    if camera.color:
        color = device.add_sensor("RGB Camera")
        streams.append((color, color.add_video_stream(
            video_stream(rs.stream.color, 0, 1, getattr(rs.format, camera.color_format), 3, fx=90.0, fy=90.0))))
    return device, streams


def _frame(profile: rs.stream_profile, pixels: np.ndarray, i: int) -> rs.software_video_frame:
    frame = rs.software_video_frame()
    frame.pixels, frame.bpp = pixels, pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)
    frame.stride, frame.timestamp, frame.frame_number = frame.bpp * WIDTH, timestamp_ms(i), FIRST_NUMBER + i
    frame.domain, frame.profile = rs.timestamp_domain.hardware_clock, profile.as_video_stream_profile()
    return frame


def record(path: Path, frames: int, camera: SoftCamera = SoftCamera()) -> Path:
    """Record `frames` frames per stream, fed at the stream's rate, to `path` (.db3 or .bag)."""
    device, streams = software_camera(camera)
    recorder = rs.recorder(str(path), device, False)  # uncompressed: pixels stay exact
    queue = rs.frame_queue(4 * frames * len(streams), keep_frames=True)
    recorded = list(zip(recorder.query_sensors(), streams))
    for sensor, (_, profile) in recorded:
        sensor.open([p for p in sensor.get_stream_profiles() if p.unique_id() == profile.unique_id()])
        sensor.start(queue)
    fed = 0
    for i in range(frames):
        sources = (depth_pixels(i), color_pixels(i) if i % camera.color_every == 0 else None)
        for (soft, profile), pixels in zip(streams, sources):
            if pixels is not None:
                soft.on_video_frame(_frame(profile, pixels, i))
                fed += 1
        time.sleep(1.0 / FPS)
    for _ in range(fed):  # every frame went through the recorder
        queue.wait_for_frame(2000)
    for sensor, _ in recorded:
        sensor.stop()
        sensor.close()
    return path  # the recorder finishes the file when it is destroyed, on return
