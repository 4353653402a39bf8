"""File readers and input checks shared by the audio, depth, thermal and IMU transforms.

Every failure raises InputError or UnreadableFileError with a message saying what to pass instead,
so a bad sample never surfaces as a bare numpy/torch/PIL traceback.
"""
from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from edgebind.config import check_choice  # noqa: F401  (re-exported for the transforms)
from edgebind.errors import InputError, UnreadableFileError

IMU_CSV_HEADER = ("t", "ax", "ay", "az", "gx", "gy", "gz")
_READ_ERRORS = (OSError, ValueError, RuntimeError, EOFError, TypeError)
_log = logging.getLogger(__name__)


def is_path(item: Any) -> bool:
    """True when `item` names a file (str or os.PathLike) rather than holding data."""
    return isinstance(item, (str, os.PathLike))


def check_file(path: str | os.PathLike[str], suffixes: Sequence[str], what: str) -> Path:
    """Return `path` as a Path if it is an existing file with one of `suffixes`."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UnreadableFileError(
            f"{what}: unsupported file type {path.suffix or '(none)'!r} for {path}; "
            f"use one of {', '.join(suffixes)}"
        )
    if not path.is_file():
        raise UnreadableFileError(f"{what}: file not found: {path}; check the path")
    return path


def check_rate(rate: Any, what: str) -> float:
    """A sample rate in Hz: a finite real number > 0."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise InputError(f"{what}: sample rate must be a number in Hz, got {type(rate).__name__}")
    if not math.isfinite(rate) or rate <= 0:
        raise InputError(f"{what}: sample rate must be > 0 Hz, got {rate}")
    return float(rate)


def to_numpy(item: Any, what: str) -> np.ndarray:
    """A non-empty real numeric numpy array from a numpy array or torch tensor (no copy if possible)."""
    if isinstance(item, torch.Tensor):
        if item.dtype in (torch.bfloat16, torch.float16):
            item = item.float()
        item = item.detach().cpu().numpy()
    if not isinstance(item, np.ndarray):
        raise InputError(
            f"{what}: expected a file path or a numpy/torch array, got {type(item).__name__}"
        )
    if item.dtype.kind not in "iuf":
        raise InputError(
            f"{what}: array dtype {item.dtype} is not supported; pass real numbers (int or float)"
        )
    if item.size == 0:
        raise InputError(f"{what}: the array is empty (shape {tuple(item.shape)}); pass some data")
    return item


def check_finite(arr: np.ndarray, what: str) -> None:
    """Reject NaN and +-inf values."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError(f"{what}: the data contains NaN or inf values; clean or drop the sample")


def as_map2d(arr: np.ndarray, what: str) -> np.ndarray:
    """An H x W map from an H x W or H x W x 1 array."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise InputError(
            f"{what}: expected a single-channel H x W (or H x W x 1) map, got shape {tuple(arr.shape)}"
        )
    return arr


def resize_center_crop(map2d: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear-resize an H x W map so its short side is `size`, centre-crop to [1, size, size].

    No antialiasing (plain bilinear, align_corners=False); the long side is truncated like torchvision.
    """
    h, w = map2d.shape
    scale = size / min(h, w)
    new_h, new_w = (size, max(size, int(w * scale))) if h <= w else (max(size, int(h * scale)), size)
    x = map2d[None, None].float()
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[0, :, top : top + size, left : left + size].contiguous()


def _read_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise UnreadableFileError(
            f"{what}: cannot read {path} as a .npy array ({exc}); re-save it with numpy.save"
        ) from None


def _read_image(path: Path, what: str) -> np.ndarray:
    """A greyscale image as uint8 (8-bit files) or uint16 (16-bit files), never rescaled."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("L", "P", "RGB", "RGBA", "LA"):
                img = img.convert("L")  # colour files become greyscale; palettes are not inverted
            arr = np.asarray(img)
    except _READ_ERRORS as exc:
        raise UnreadableFileError(
            f"{what}: cannot read image {path} ({exc}); check it is a valid image"
        ) from None
    if mode in ("L", "P", "RGB", "RGBA", "LA"):
        return arr
    if not mode.startswith("I") or arr.ndim != 2 or arr.min() < 0 or arr.max() > 65535:
        raise UnreadableFileError(
            f"{what}: image mode {mode} of {path} is not supported; save 8- or 16-bit greyscale"
        )
    return arr.astype(np.uint16)


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile: (float32 [frames, channels] in [-1, 1], sample_rate)."""
    import soundfile

    path = check_file(path, (".wav", ".flac", ".ogg"), "audio")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except _READ_ERRORS as exc:
        raise UnreadableFileError(f"audio: cannot decode {path} ({exc}); re-encode it as PCM WAV") from None
    return data, int(rate)


def read_depth_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a depth map: 16-bit PNG -> uint16 millimetres; .npy -> as stored (float metres or uint16 mm)."""
    path = check_file(path, (".png", ".npy"), "depth")
    if path.suffix.lower() == ".npy":
        return _read_npy(path, "depth")
    arr = _read_image(path, "depth")
    if arr.dtype != np.uint16:
        raise UnreadableFileError(
            f"depth: {path} is an 8-bit image, which has lost the metric scale; "
            "save depth as a 16-bit PNG in millimetres or a float .npy in metres"
        )
    return arr


def read_thermal_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a thermal frame: .npy as stored, 16-bit TIFF/PNG -> uint16 raw counts, 8-bit PNG/JPEG -> uint8."""
    path = check_file(path, (".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg"), "thermal")
    if path.suffix.lower() == ".npy":
        return _read_npy(path, "thermal")
    return _read_image(path, "thermal")


# Timestamp unit -> seconds per unit; "auto" picks the first whose implied rate is a plausible IMU rate.
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
PLAUSIBLE_IMU_HZ = (2.0, 20000.0)


def timestamps_in_seconds(times: np.ndarray, unit: str, where: str) -> np.ndarray:
    """`times` in `unit` -> seconds. Under "auto", a unit that makes the rate implausible as
    seconds (e.g. 0.2 Hz for milliseconds at 200 Hz) is replaced by the one that fits, with a
    warning saying what was assumed; no fitting unit raises InputError."""
    if unit != "auto":
        check_choice(unit, ("auto", *TIME_UNITS), "transforms.imu.time_unit")
        return times * TIME_UNITS[unit]
    if len(times) < 2:
        return times
    per_unit = (len(times) - 1) / (times[-1] - times[0])  # samples per timestamp unit
    low, high = PLAUSIBLE_IMU_HZ
    for name, seconds in TIME_UNITS.items():
        if low <= per_unit / seconds <= high:
            if name != "s":
                _log.warning("%s: timestamps read as %s (as seconds they would mean %.3g Hz); set "
                             "time_unit to say so", where, name, per_unit)
            return times * seconds
    raise InputError(f"{where}: the timestamps imply {per_unit:.3g} samples per unit, no plausible IMU "
                     f"rate ({low:g}-{high:g} Hz) in s, ms, us or ns; check the t column or set time_unit")


def read_imu_file(
    path: str | os.PathLike[str], time_unit: str = "auto"
) -> tuple[np.ndarray, float | None, np.ndarray | None]:
    """Read IMU data: (T x 6 array, rate_hz or None, timestamps in seconds or None).

    CSV needs the header `t,ax,ay,az,gx,gy,gz` (m/s^2, rad/s; t in `time_unit`, see
    timestamps_in_seconds); its rate comes from the timestamps, which must strictly increase.
    A .npy file holds T x 6 with no timestamps.
    """
    path = check_file(path, (".csv", ".npy"), "imu")
    if path.suffix.lower() == ".npy":
        return _read_npy(path, "imu"), None, None
    try:
        with open(path, newline="") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFileError(f"imu: cannot read {path} as a text CSV file ({exc})") from None
    header = tuple(col.strip().lower() for col in rows[0]) if rows else ()
    if header != IMU_CSV_HEADER:
        raise UnreadableFileError(
            f"imu: {path} must start with the header line {','.join(IMU_CSV_HEADER)}, "
            f"got {','.join(header)!r}"
        )
    if len(rows) < 2:
        raise InputError(f"imu: {path} has a header but no samples")
    try:
        table = np.array([[float(v) for v in row] for row in rows[1:]], dtype=np.float64)
    except ValueError as exc:
        raise UnreadableFileError(
            f"imu: {path} has a non-numeric or ragged row ({exc}); fix the CSV"
        ) from None
    if table.shape[1] != len(IMU_CSV_HEADER):
        raise UnreadableFileError(f"imu: every row of {path} needs {len(IMU_CSV_HEADER)} values")
    check_finite(table, f"imu: {path}")
    if np.any(np.diff(table[:, 0]) <= 0):
        raise InputError(
            f"imu: timestamps in {path} must strictly increase; sort the rows and drop duplicates"
        )
    times = timestamps_in_seconds(table[:, 0], time_unit, f"imu: {path}")
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None
    return table[:, 1:], rate, times
