"""Raw UVC thermal frames, as OpenCV's V4L2 backend delivers them unconverted, -> ThermalFrame.

Pure numpy, one decoder per camera family (FORMATS, by the `format` name of the `thermal` source):

- `lepton`: FLIR Lepton on a PureThermal board, Y16 (one uint16 per pixel): 160x120 (Lepton 3.x)
  or 80x60 (Lepton 2.x). With radiometry on (TLinear, at its 0.01 K resolution, PureThermal's
  default) each value is centikelvin, degC = v / 100 - 273.15.
- `boson`: FLIR Boson, Y16 320x256 or 640x512; radiometric models with TLinear give centikelvin
  as the Lepton does; other models give raw counts (`radiometric: false`).
- `tc001`: TOPDON TC001 and InfiRay P2 / P2 Pro style cameras, YUYV 256x384 (two bytes a pixel):
  the top 192 rows are the camera's visible false-colour image, the bottom 192 rows its raw
  thermal data, one little-endian 16-bit value per pixel (raw = byte0 + 256 * byte1) in 1/64 K:
  Kelvin = raw / 64. Source: LeoDJ's reverse engineering in the EEVblog thread "InfiRay and
  their P2 Pro discussion", as PyThermalCamera (tc001v4.2.py) applies it: degC = raw / 64 - 273.15.

Radiometric frames become `ThermalFrame(uint16 centikelvin, "centikelvin")` (Y16, passed through
unchanged) or `ThermalFrame(float32 Kelvin, "kelvin")` (tc001: raw / 64 is exact in float32).

The relative scale (`radiometric: false`, Y16 only): raw counts rise with scene radiance but
carry no calibration, so each frame is stretched linearly from its own minimum (0) to its maximum
(255) and passed as `ThermalFrame(uint8, "uint8")`, which the thermal transform reads as a display
image (/255, no temperature window), like the camera's own AGC output: values compare within a
frame, not across frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgebind.errors import InputError
from edgebind.frames import ThermalFrame

CENTIKELVIN_MIN = 15000  # 150 K: colder Y16 values are not TLinear centikelvin (the transform's limit too)
TC001_KELVIN_PER_COUNT = 1 / 64


@dataclass(frozen=True)
class ThermalFormat:
    """A camera family's V4L2 pixel format, frame sizes (width, height) and decoder."""

    fourcc: str
    sizes: tuple[tuple[int, int], ...]
    decode: Callable[[np.ndarray, bool], ThermalFrame]
    fps: float  # the camera's native frame rate
    relative: bool  # whether non-radiometric (raw count) output exists

    def describe(self) -> str:
        return f"{self.fourcc.strip()} {' or '.join(f'{w}x{h}' for w, h in self.sizes)}"


def relative_scale(counts: np.ndarray) -> np.ndarray:
    """Raw counts -> uint8, the frame's minimum at 0 and its maximum at 255 (floor; flat: all 0)."""
    values = counts.astype(np.int64)
    low, span = values.min(), max(int(values.max() - values.min()), 1)
    return ((values - low) * 255 // span).astype(np.uint8)


def _y16(raw: np.ndarray, radiometric: bool) -> ThermalFrame:
    if not radiometric:
        return ThermalFrame(relative_scale(raw), "uint8")
    if raw.min() < CENTIKELVIN_MIN:
        raise InputError(
            f"Y16 values down to {raw.min()} are below 150 K read as centikelvin, so the camera is not "
            "sending radiometric (TLinear) output: enable TLinear at 0.01 K resolution, or set "
            "radiometric: false for the relative scale")
    return ThermalFrame(raw.copy(), "centikelvin")


def _tc001(raw: np.ndarray, radiometric: bool) -> ThermalFrame:
    thermal = raw[raw.shape[0] // 2:]  # the bottom half; the top is the visible image
    counts = thermal[..., 0].astype(np.uint16) | (thermal[..., 1].astype(np.uint16) << 8)
    return ThermalFrame(counts.astype(np.float32) * np.float32(TC001_KELVIN_PER_COUNT), "kelvin")


FORMATS: dict[str, ThermalFormat] = {
    "lepton": ThermalFormat("Y16 ", ((160, 120), (80, 60)), _y16, 8.7, relative=True),
    "boson": ThermalFormat("Y16 ", ((640, 512), (320, 256)), _y16, 30.0, relative=True),
    "tc001": ThermalFormat("YUYV", ((256, 384),), _tc001, 25.0, relative=False),
}


def frame_size(raw: np.ndarray, fmt: ThermalFormat) -> tuple[int, int] | None:
    """(width, height) of a frame as V4L2 delivers `fmt` (Y16: H x W uint16; YUYV: H x W x 2
    uint8), or None when the array is not laid out that way."""
    if fmt.fourcc == "Y16 " and raw.ndim == 2 and raw.dtype == np.uint16:
        return raw.shape[1], raw.shape[0]
    if fmt.fourcc == "YUYV" and raw.ndim == 3 and raw.shape[2] == 2 and raw.dtype == np.uint8:
        return raw.shape[1], raw.shape[0]
    return None


def decode(name: str, raw: np.ndarray, radiometric: bool = True) -> ThermalFrame:
    """The ThermalFrame in a raw frame of camera format `name` (see FORMATS); InputError for a frame of
    another format or size, or Y16 that is not radiometric while `radiometric` is set."""
    fmt = FORMATS[name]
    raw = np.asarray(raw)
    if frame_size(raw, fmt) not in fmt.sizes:
        layout = "uint16 H x W" if fmt.fourcc == "Y16 " else "uint8 H x W x 2"
        raise InputError(
            f"{name}: expected a {fmt.describe()} frame ({layout}), "
            f"got {raw.dtype} {'x'.join(map(str, raw.shape))}; set format to this camera's "
            f"({', '.join(f'{n}: {f.describe()}' for n, f in FORMATS.items())})")
    return fmt.decode(raw, radiometric)
