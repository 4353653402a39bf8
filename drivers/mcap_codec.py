"""Chunks and Gaps <-> JSON messages in schemas that Foxglove displays natively.

Topics are `/<source>/<stream>`; every message's `frame_id` is its source name. Bytes are base64,
as Foxglove's JSON encoding wants them.
- depth: `foxglove.RawImage`, `16UC1` millimetres (0 = invalid) or `32FC1` metres; the camera's
  baseline and focal length go to `/<source>/calibration` as `foxglove.CameraCalibration`
  (K = [fx 0 cx; 0 fy cy; 0 0 1], P[3] = -fx * baseline_m, the ROS convention), written again
  whenever they change.
- thermal: `foxglove.RawImage` `16UC1` in centikelvin (Kelvin x 100, the FLIR Y16 convention: 0.01 K
  steps up to 655 K); it replays as `ThermalFrame(uint16, "centikelvin")`.
- vision (a colour camera): `foxglove.RawImage` `rgb8`; replays as uint8 H x W x 3.
- audio: `foxglove.RawAudio` `pcm-s16` (interleaved, little-endian); replays as float32 / 32768.
- imu: `edgebind.ImuBlock` (JSON schema IMU_BLOCK_SCHEMA below): `rate_hz` and `samples`, rows of
  accel x, y, z in m/s^2 then gyro x, y, z in rad/s.
- gaps: `edgebind.Gap` (`reason`, `dropped`) on `/<source>/gap`, so a replay shows them too.
Each message also carries `edgebind`: the chunk's seq, sensor_time, monotonic host_time and meta.
"""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from edgebind.drivers.chunks import Chunk, Gap, Item
from edgebind.errors import RecordingError
from edgebind.frames import DepthFrame, ThermalFrame

_TIME = {"type": "object", "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}}}
_BYTES = {"type": "string", "contentEncoding": "base64"}
_EDGEBIND = {"type": "object", "description": "seq, sensor_time (s), host_time (monotonic s), meta"}
IMU_BLOCK_SCHEMA = {
    "title": "edgebind.ImuBlock", "type": "object",
    "description": "A block of IMU samples: accel x,y,z (m/s^2) then gyro x,y,z (rad/s) per row",
    "properties": {"timestamp": _TIME, "frame_id": {"type": "string"}, "rate_hz": {"type": "number"},
                   "samples": {"type": "array", "items": {"type": "array", "items": {"type": "number"},
                                                           "minItems": 6, "maxItems": 6}},
                   "edgebind": _EDGEBIND},
}
SCHEMAS: dict[str, dict] = {
    "foxglove.RawImage": {"title": "foxglove.RawImage", "type": "object", "properties": {
        "timestamp": _TIME, "frame_id": {"type": "string"}, "width": {"type": "integer"},
        "height": {"type": "integer"}, "encoding": {"type": "string"}, "step": {"type": "integer"},
        "data": _BYTES, "edgebind": _EDGEBIND}},
    "foxglove.RawAudio": {"title": "foxglove.RawAudio", "type": "object", "properties": {
        "timestamp": _TIME, "data": _BYTES, "format": {"type": "string"}, "sample_rate": {"type": "integer"},
        "number_of_channels": {"type": "integer"}, "edgebind": _EDGEBIND}},
    "foxglove.CameraCalibration": {"title": "foxglove.CameraCalibration", "type": "object", "properties": {
        "timestamp": _TIME, "frame_id": {"type": "string"}, "width": {"type": "integer"},
        "height": {"type": "integer"}, "distortion_model": {"type": "string"},
        **{k: {"type": "array", "items": {"type": "number"}} for k in ("D", "K", "R", "P")}}},
    "edgebind.ImuBlock": IMU_BLOCK_SCHEMA,
    "edgebind.Gap": {"title": "edgebind.Gap", "type": "object", "properties": {
        "timestamp": _TIME, "frame_id": {"type": "string"}, "reason": {"type": "string"},
        "dropped": {"type": "integer"}, "edgebind": _EDGEBIND}},
}
_IMAGE_ENCODINGS = {"16UC1": np.dtype("<u2"), "32FC1": np.dtype("<f4"), "rgb8": np.dtype("u1")}


def stamp(ns: int) -> dict:
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def encode(item: Item, ns: int) -> list[tuple[str, str, dict]]:
    """(topic, schema name, message) records for `item` captured at wall-clock `ns`."""
    if isinstance(item, Gap):
        return [(f"/{item.source}/gap", "edgebind.Gap", {"timestamp": stamp(ns), "frame_id": item.source,
                                                          "reason": item.reason, "dropped": item.dropped,
                                                          "edgebind": {"host_time": item.host_time}})]
    extra = {"edgebind": {"seq": item.seq, "sensor_time": item.sensor_time, "host_time": item.host_time,
                          "meta": _plain(item.meta)}}
    base = {"timestamp": stamp(ns), "frame_id": item.source, **extra}
    topic = f"/{item.source}/{item.modality}"
    if item.modality == "audio":
        samples, rate = item.data
        pcm = np.clip(np.rint(np.asarray(samples, np.float32) * 32768), -32768, 32767).astype("<i2")
        pcm = pcm.reshape(len(pcm), -1)
        return [(topic, "foxglove.RawAudio", {**base, "data": _b64(pcm), "format": "pcm-s16",
                                              "sample_rate": int(rate), "number_of_channels": pcm.shape[1]})]
    if item.modality == "imu":
        samples, rate = item.data
        return [(topic, "edgebind.ImuBlock", {**base, "rate_hz": float(rate),
                                              "samples": np.asarray(samples, np.float64).tolist()})]
    if isinstance(item.data, DepthFrame):
        depth = np.asarray(item.data.depth)
        encoding = "16UC1" if depth.dtype == np.uint16 else "32FC1"
        return [(topic, "foxglove.RawImage", _image(base, depth.astype(_IMAGE_ENCODINGS[encoding]), encoding))]
    if isinstance(item.data, ThermalFrame):
        return [(topic, "foxglove.RawImage", _image(base, centikelvin(item.data), "16UC1"))]
    if item.modality == "vision" and _is_rgb8(item.data):
        return [(topic, "foxglove.RawImage", _image(base, item.data, "rgb8"))]
    raise RecordingError(f"cannot record a {item.modality} chunk of {type(item.data).__name__} from "
                         f"{item.source}; recordable: audio, imu, DepthFrame, ThermalFrame, vision uint8 H x W x 3")


def calibration(frame: DepthFrame, source: str, ns: int) -> tuple[str, str, dict]:
    """The depth camera's calibration record (principal point at the image centre)."""
    height, width = np.asarray(frame.depth).shape[:2]
    f, cx, cy = frame.focal_px, (width - 1) / 2, (height - 1) / 2
    return (f"/{source}/calibration", "foxglove.CameraCalibration", {
        "timestamp": stamp(ns), "frame_id": source, "width": width, "height": height, "distortion_model": "",
        "D": [], "K": [f, 0, cx, 0, f, cy, 0, 0, 1], "R": [1, 0, 0, 0, 1, 0, 0, 0, 1],
        "P": [f, 0, cx, -f * frame.baseline_m, 0, f, cy, 0, 0, 0, 1, 0]})


def centikelvin(frame: ThermalFrame) -> np.ndarray:
    """A radiometric thermal frame as uint16 Kelvin x 100."""
    data = np.asarray(frame.data)
    if frame.units == "centikelvin" or (frame.units == "auto" and data.dtype == np.uint16):
        return data.astype(np.uint16)
    if frame.units in ("kelvin", "celsius") or (frame.units == "auto" and data.dtype.kind == "f"):
        kelvin = data + (273.15 if frame.units == "celsius" else 0.0)
        return np.clip(np.rint(kelvin * 100), 0, 65535).astype(np.uint16)
    raise RecordingError(f"thermal frames in units {frame.units!r} are not radiometric; "
                         "only Kelvin, Celsius or centikelvin frames can be recorded")


def decode(schema: str, topic: str, msg: dict, calib: dict[str, tuple[float, float]]) -> Item | None:
    """The Chunk or Gap a message holds (None for calibration records, which update `calib`:
    source -> (baseline_m, focal_px))."""
    source = msg.get("frame_id") or topic.strip("/").split("/")[0]
    if schema == "foxglove.CameraCalibration":
        calib[source] = (-msg["P"][3] / msg["P"][0], msg["P"][0])
        return None
    if schema == "edgebind.Gap":
        return Gap(source, msg["reason"], msg.get("edgebind", {}).get("host_time", math.nan), msg["dropped"])
    info = msg["edgebind"]
    modality = topic.rsplit("/", 1)[-1]
    if schema == "foxglove.RawAudio":
        pcm = np.frombuffer(base64.b64decode(msg["data"]), "<i2").reshape(-1, msg["number_of_channels"])
        data: Any = (pcm.astype(np.float32) / 32768, msg["sample_rate"])
    elif schema == "edgebind.ImuBlock":
        data = (np.asarray(msg["samples"], np.float32).reshape(-1, 6), msg["rate_hz"])
    elif schema == "foxglove.RawImage":
        image = np.frombuffer(base64.b64decode(msg["data"]), _IMAGE_ENCODINGS[msg["encoding"]])
        if modality == "vision":
            data = image.reshape(msg["height"], msg["width"], 3)
        elif modality == "thermal":
            data = ThermalFrame(image.reshape(msg["height"], msg["width"]), "centikelvin")
        elif source not in calib:
            raise RecordingError(f"{topic}: a depth image before its camera calibration; the file was "
                                 "not written by edgebind record")
        else:
            data = DepthFrame(image.reshape(msg["height"], msg["width"]), *calib[source])
    else:
        return None  # a topic of another program: not ours to replay
    return Chunk(source, modality, data, info["host_time"], info["sensor_time"], info["seq"], info["meta"])


def _image(base: dict, array: np.ndarray, encoding: str) -> dict:
    height, width = array.shape[:2]
    return {**base, "width": width, "height": height, "encoding": encoding,
            "step": array[0].nbytes, "data": _b64(array)}


def _is_rgb8(data: Any) -> bool:
    return isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 3 and data.shape[2] == 3


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _plain(value: Any) -> Any:
    """JSON-ready copy of chunk metadata (numpy scalars and bools become Python values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value
