"""Writing one input to the file format the manifest reads for its key (see edgebind.manifest).

Shared by the synthetic world and by recordings converted to data sets, so both write the same
formats: image PNG, audio 16-bit WAV, depth 16-bit PNG (mm) or .npy (m), thermal .npy (Kelvin),
IMU CSV with header `t,ax,ay,az,gx,gy,gz`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

IMU_HEADER = "t,ax,ay,az,gx,gy,gz"


def _named(path: Path, suffix: str) -> Path:
    """`path` with `suffix` appended (ids may hold dots, so no with_suffix)."""
    return path.with_name(path.name + suffix)


def save_image(path: Path, rgb: np.ndarray) -> Path:
    """uint8 H x W x 3 (or H x W) as PNG."""
    path = _named(path, ".png")
    Image.fromarray(rgb).save(path)
    return path


def save_audio(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Float samples in [-1, 1] (frames, or frames x channels) as a 16-bit PCM WAV."""
    path = _named(path, ".wav")
    sf.write(path, samples, int(rate), subtype="PCM_16")
    return path


def save_depth(path: Path, depth: np.ndarray) -> Path:
    """uint16 millimetres as a 16-bit PNG; float metres as .npy (kept exact)."""
    if depth.dtype == np.uint16:
        path = _named(path, ".png")
        Image.fromarray(depth).save(path)
    else:
        path = _named(path, ".npy")
        np.save(path, depth.astype(np.float32))
    return path


def save_thermal(path: Path, kelvin: np.ndarray) -> Path:
    """Float Kelvin as .npy."""
    path = _named(path, ".npy")
    np.save(path, kelvin.astype(np.float32))
    return path


def save_imu(path: Path, rows: np.ndarray) -> Path:
    """T x 7 rows (t in s, accel m/s^2, gyro rad/s) as CSV."""
    path = _named(path, ".csv")
    np.savetxt(path, rows, fmt="%.6f", delimiter=",", header=IMU_HEADER, comments="")
    return path
