"""The live web view's server side: small previews of what the node sees, and snapshots as browser media.

The page itself (edgebind/runtime/web/: index.html, app.js, app.css; no framework, nothing fetched from
elsewhere) is served by the API at `/`. `Previews` is a thread that, while a page listens, reads the
node's latest window per stream a few times a second and turns each new one into a tile message of a
few kB: the audio level and a coarse magnitude spectrum of the newest hop (a spectrogram column), a
downsampled false-colour PNG of a depth or thermal frame with its value range, or the newest hop of IMU
traces. It only reads what the node already keeps, so the node never waits for it. `snapshot_media`
lists what of an event's snapshot a browser can show, and `render_media` makes it a WAV, a PNG or traces.
"""
from __future__ import annotations

import base64
import io
import math
import threading
import time
import wave
from dataclasses import is_dataclass
from importlib import resources
from typing import Any, Callable, Mapping

import numpy as np

from edgebind.errors import InputError

ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8"}
SPECTRUM_BINS = 48  # spectrogram rows per column
IMAGE_PX = 96  # a previewed frame's longest side, pixels
TRACE_POINTS = 50  # IMU samples per channel and preview
FLOOR_DB = -100.0  # spectrum and level floor
# A false-colour map (dark blue -> purple -> orange -> pale yellow), interpolated to 256 entries;
# app.js draws the scale bar with the same anchors.
ANCHORS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                    [250, 193, 39], [252, 255, 164]], np.float64)
PALETTE = np.stack([np.interp(np.linspace(0, len(ANCHORS) - 1, 256), np.arange(len(ANCHORS)), ANCHORS[:, c])
                    for c in range(3)], axis=1).round().astype(np.uint8)


def asset(name: str) -> bytes:
    """The bytes of one of the page's files (a KeyError for any other name)."""
    ASSETS[name]  # noqa: B018  (only the listed files are served)
    return resources.files("edgebind.runtime").joinpath("web", name).read_bytes()


# --- tiles --------------------------------------------------------------------------------------------
def spectrum(samples: np.ndarray, rate: float, bins: int = SPECTRUM_BINS) -> tuple[float, list[int]]:
    """(level in dBFS, magnitudes in dB of `bins` equal bands from 0 Hz to Nyquist, floored at FLOOR_DB)
    of an audio segment (Welch: Hann-windowed frames of up to 512 samples, half overlapping)."""
    samples = np.asarray(samples, np.float64).reshape(-1)
    level = 20 * math.log10(max(float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0, 1e-10))
    n = min(512, max(2 * bins, 1 << int(math.log2(max(samples.size, 2)))))
    frames = [samples[i:i + n] for i in range(0, max(samples.size - n, 0) + 1, n // 2)]
    frames = [np.pad(f, (0, n - f.size)) for f in frames] or [np.zeros(n)]
    power = np.mean([np.abs(np.fft.rfft(f * np.hanning(n))) ** 2 for f in frames], axis=0)[1:]
    band = np.minimum(np.arange(1, power.size + 1) * bins // power.size, bins - 1)  # FFT bin -> band
    power = np.bincount(band, power, bins) / np.maximum(np.bincount(band, minlength=bins), 1)
    db = 10 * np.log10(np.maximum(power * 4 / n ** 2, 1e-20))
    return round(max(level, FLOOR_DB), 1), [int(v) for v in np.clip(db, FLOOR_DB, 0).round()]


def frame_array(data: Any) -> tuple[np.ndarray, str]:
    """(values, units) of a frame window's data: a DepthFrame (mm or m), ThermalFrame or plain array."""
    if is_dataclass(data) and hasattr(data, "depth"):
        depth = np.asarray(data.depth)
        return depth, "mm" if depth.dtype.kind in "iu" else "m"
    if is_dataclass(data) and hasattr(data, "units"):
        return np.asarray(data.data), str(data.units)
    return np.asarray(data), ""


def false_colour(values: np.ndarray, max_px: int = IMAGE_PX) -> tuple[bytes, float | None, float | None]:
    """(PNG bytes, low, high) of a 2-D array in false colour over its valid range (zeros of an integer
    depth map and non-finite values are invalid, drawn black), or of an RGB image as it is;
    downsampled by striding to at most `max_px` on its longest side."""
    from PIL import Image

    values = np.asarray(values)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim not in (2, 3) or 0 in values.shape[:2]:
        raise InputError(f"an image needs 2 dimensions (or 3 for colour), got shape {values.shape}")
    step = max(1, math.ceil(max(values.shape[:2]) / max_px))
    values = values[::step, ::step]
    low = high = None
    if values.ndim == 3:
        rgb = np.clip(values[..., :3], 0, 255 if values.dtype.kind in "iu" or values.max() > 1 else 1)
        rgb = (rgb * (255 if rgb.dtype.kind == "f" and rgb.max() <= 1 else 1)).astype(np.uint8)
    else:
        floats = values.astype(np.float64)
        valid = np.isfinite(floats) & ((values != 0) if values.dtype.kind in "iu" else True)
        if valid.any():
            low, high = float(floats[valid].min()), float(floats[valid].max())
            scaled = (floats - low) / max(high - low, 1e-12)
            index = np.clip(np.nan_to_num(scaled) * 255, 0, 255).astype(np.uint8)
            rgb = np.where(valid[..., None], PALETTE[index], 0).astype(np.uint8)
        else:
            rgb = np.zeros((*values.shape, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buffer, "PNG")
    return buffer.getvalue(), low, high


def traces(samples: np.ndarray, points: int = TRACE_POINTS) -> list[list[float]]:
    """Per channel, `points` evenly picked samples of a [N, channels] block, rounded to 3 decimals."""
    samples = np.asarray(samples, np.float64)
    samples = samples.reshape(len(samples), -1)
    pick = np.linspace(0, len(samples) - 1, min(points, len(samples))).round().astype(int) if len(samples) else []
    return [[round(float(v), 3) for v in samples[pick, c]] for c in range(samples.shape[1])]


def tile(stream: str, window: Any, hop_s: float, wall_offset: float) -> dict[str, Any] | None:
    """The tile message of one window (the newest hop of an audio or IMU window), or None for a
    modality without a preview."""
    record = {"type": "tile", "stream": stream, "source": window.source, "modality": window.modality,
              "wall_time": round(window.t_end + wall_offset, 3)}
    if window.modality in ("audio", "imu"):
        samples, rate = window.data
        newest = np.asarray(samples)[-max(1, round(hop_s * float(rate))):]
        if window.modality == "audio":
            record["level_db"], record["spectrum"] = spectrum(newest, float(rate))
            record["nyquist_hz"] = float(rate) / 2
        else:
            record["traces"] = traces(newest)
        return record
    if window.modality in ("depth", "thermal", "vision"):
        values, units = frame_array(window.data)
        png, low, high = false_colour(values)
        record.update(image="data:image/png;base64," + base64.b64encode(png).decode(), low=low, high=high,
                      units=units)
        return record
    return None


class Previews:
    """A thread publishing a tile message (`publish(record)`) for each stream's newest window, at most
    once per `interval_s` per stream, and only while `wanted()` says a page listens."""

    def __init__(self, node: Any, publish: Callable[[dict], None], wanted: Callable[[], bool],
                 interval_s: float = 0.25, wall_offset: float | None = None) -> None:
        self.node, self.publish, self.wanted, self.interval_s = node, publish, wanted, interval_s
        self.wall_offset = time.time() - time.monotonic() if wall_offset is None else wall_offset
        self.sent = 0
        self.errors = 0
        self._last: dict[str, Any] = {}  # stream -> the window last previewed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Previews":
        self._thread = threading.Thread(target=self._run, name="edgebind-api-previews", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.wanted():
                continue
            hop_s = self.node.config.windows.hop_s
            for stream, window in self.node.latest_windows().items():
                if self._last.get(stream) is window:
                    continue
                self._last[stream] = window
                try:
                    record = tile(stream, window, hop_s, self.wall_offset)
                except Exception:  # noqa: BLE001  (an odd frame costs its preview, never the thread)
                    self.errors += 1
                    continue
                if record is not None:
                    self.publish(record)
                    self.sent += 1


# --- snapshots --------------------------------------------------------------------------------------------
def snapshot_media(arrays: Mapping[str, np.ndarray]) -> list[dict[str, str]]:
    """What a browser can show of a snapshot's arrays ("stream.field..." names): per stream, an audio
    clip ("wav"), a frame ("png") or IMU samples ("traces"), with the array's name."""
    shown = []
    for name, array in sorted(arrays.items()):
        stream, _, field = name.partition(".")
        modality = stream.rpartition("/")[2]
        if modality in ("audio", "imu") and field == "data.0" and f"{stream}.data.1" in arrays:
            shown.append({"stream": stream, "modality": modality, "kind": "wav" if modality == "audio" else "traces",
                          "name": name})
        elif modality in ("depth", "thermal", "vision") and array.ndim in (2, 3) and field in (
                "data.depth", "data.data", "data"):
            shown.append({"stream": stream, "modality": modality, "kind": "png", "name": name})
    return shown


def render_media(arrays: Mapping[str, np.ndarray], name: str) -> tuple[bytes | dict, str, dict[str, str]]:
    """(content, media type, headers) of snapshot array `name` as `snapshot_media` lists it: WAV bytes
    (16-bit), PNG bytes (false colour; its value range in the headers X-Low and X-High), or traces."""
    kinds = {m["name"]: m for m in snapshot_media(arrays)}
    if name not in kinds:
        raise InputError(f"the snapshot has no audio, frame or IMU array named {name!r}; it has: "
                         f"{', '.join(sorted(kinds)) or 'none'}")
    item, array = kinds[name], arrays[name]
    rate = float(arrays[f"{item['stream']}.data.1"]) if item["kind"] != "png" else None
    if item["kind"] == "wav":
        pcm = (np.clip(np.asarray(array, np.float64).reshape(-1), -1, 1) * 32767).round().astype("<i2")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(int(round(rate)))
            out.writeframes(pcm.tobytes())
        return buffer.getvalue(), "audio/wav", {}
    if item["kind"] == "traces":
        return {"stream": item["stream"], "rate_hz": rate, "traces": traces(array, 400)}, "application/json", {}
    png, low, high = false_colour(array, max_px=320)
    return png, "image/png", {"X-Low": f"{low:.6g}", "X-High": f"{high:.6g}"} if low is not None else {}
