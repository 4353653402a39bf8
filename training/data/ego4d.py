"""Ego4D (v2, as the `ego4d` download CLI writes it): video frames paired with head-worn IMU windows.

Layout under `root` (the CLI's --output_directory, or its `v2` folder):
- `v2/ego4d.json` (or `ego4d.json`): metadata; from its "videos" list, `video_uid`,
  `duration_sec` and `has_imu` (videos with has_imu false are left out, not counted as skipped);
- `v2/full_scale/<video_uid>.mp4`: the canonical videos (--datasets full_scale);
- `v2/imu/<video_uid>.csv` (--datasets imu), header `component_idx,component_timestamp_ms,
  canonical_timestamp_ms,gyro_x,gyro_y,gyro_z,accl_x,accl_y,accl_z` at about 200 Hz;
  canonical_timestamp_ms is the time on the canonical video, NULL for rows trimmed away (dropped);
- optional `v2/annotations/narration.json`: {video_uid: {"narration_pass_1": {"narrations":
  [{"timestamp_sec", "narration_text", ...}]}, "narration_pass_2": ...}}.
Uncertain: Ego4D does not document the IMU units; its sample rows look like rad/s for gyro_*,
but accl_* magnitudes near 2.7 fit neither m/s^2 nor g. Values are passed through unscaled.

Samples are windows of `window_seconds` (default 10 s, as ImageBind and IMU2CLIP) every
`stride_seconds` (default: the window) inside the span the IMU file covers (its first and last
timestamps, read cheaply at index time) and the video's duration. Records:
inputs["vision"] = H x W x 3 uint8 frame at the window centre, inputs["imu"] = (T x 6 array:
accl x,y,z then gyro x,y,z, i.e. the CSV's gyro-first order swapped, linearly resampled onto a
uniform `imu_rate_hz` grid over the window, imu_rate_hz). caption = the narration nearest the
window centre inside the window (pass 1 before pass 2), else None; no labels (free text).
A video with a missing mp4 or CSV counts as skipped for every window its duration would give;
a window with an IMU gap over 0.25 s is skipped at load time.
"""
from __future__ import annotations

import bisect
import csv
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from edgebind.errors import ConfigError, UnreadableFileError

from edgebind.sample import Sample
from .skip import DATASETS, DEFAULT_MAX_SKIP_FRACTION, SkipSample, SkippingDataset
from .video import read_moment

TIME_COLUMN = "canonical_timestamp_ms"
IMU_COLUMNS = ("accl_x", "accl_y", "accl_z", "gyro_x", "gyro_y", "gyro_z")  # the record's order
MAX_IMU_GAP_S = 0.25
_PEEK_BYTES = 1 << 16


@dataclass(frozen=True)
class WindowEntry:
    """One IMU window of one video: files, start time (s) and the narration caption."""

    id: str
    labels: tuple[str, ...]
    video: Path
    imu: Path
    start: float
    caption: Optional[str]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _columns(header: Sequence[str], path: Path) -> list[int]:
    """Indices of the time column then IMU_COLUMNS in a CSV header."""
    names = [h.strip() for h in header]
    try:
        return [names.index(c) for c in (TIME_COLUMN, *IMU_COLUMNS)]
    except ValueError:
        detail = f"{path}: header {','.join(names)!r} lacks {TIME_COLUMN} or accl_*/gyro_*"
        raise SkipSample("bad IMU CSV", detail) from None


def imu_span(path: Path) -> tuple[float, float]:
    """(first, last) canonical time in seconds of an IMU CSV, from its first and last 64 KiB."""
    with open(path, "rb") as handle:
        head = handle.read(_PEEK_BYTES).decode("utf-8", "replace").splitlines()
        handle.seek(max(handle.seek(0, 2) - _PEEK_BYTES, 0))
        tail = handle.read().decode("utf-8", "replace").splitlines()[1:]
    column = _columns(head[0].split(",") if head else [], path)[0]

    def times(lines: list[str]) -> list[float]:
        rows = (line.split(",") for line in lines)
        return [t for row in rows if len(row) > column and math.isfinite(t := _number(row[column]))]

    first, last = times(head[1:]), times(tail)
    if not first or not last:
        raise SkipSample("bad IMU CSV", f"{path}: no row with a {TIME_COLUMN}")
    return min(first) / 1000.0, max(last) / 1000.0


@functools.lru_cache(maxsize=4)
def imu_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique times in s, N x 6 accel-then-gyro) of an IMU CSV; rows with NULLs dropped."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        columns = _columns(header, path)
        rows = [[_number(row[c]) for c in columns] for row in reader if len(row) == len(header)]
    table = np.array(rows, dtype=np.float64).reshape(-1, len(columns))
    table = table[np.isfinite(table).all(axis=1)]
    times, first = np.unique(table[:, 0] / 1000.0, return_index=True)
    return times, table[first, 1:]


@DATASETS.register("ego4d")
class Ego4D(SkippingDataset[WindowEntry]):
    """Ego4D IMU windows with the video frame at each window's centre."""

    name = "ego4d"
    layout = "v2/ego4d.json, v2/full_scale/<video_uid>.mp4 and v2/imu/<video_uid>.csv"

    def __init__(
        self,
        root: "str | Path",
        window_seconds: float = 10.0,
        stride_seconds: Optional[float] = None,
        imu_rate_hz: float = 200.0,
        video_uids: Optional[Sequence[str]] = None,
        narrations: bool = True,
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        root = Path(root)
        self.root = root / "v2" if (root / "v2").is_dir() else root
        self.window_seconds = window_seconds
        self.stride_seconds = stride_seconds or window_seconds
        self.imu_rate_hz = imu_rate_hz
        self.video_uids = None if video_uids is None else tuple(sorted(video_uids))
        self.narrations = narrations
        if not (window_seconds > 0 and self.stride_seconds > 0 and imu_rate_hz > 0):
            raise ConfigError("ego4d: window_seconds, stride_seconds and imu_rate_hz must be > 0")
        super().__init__(max_skip_fraction)

    def _windows(self, begin: float, end: float) -> list[float]:
        """Start times of the windows that fit in [begin, end]."""
        if end - begin < self.window_seconds:
            return []
        count = int((end - begin - self.window_seconds) / self.stride_seconds + 1e-9) + 1
        return [begin + i * self.stride_seconds for i in range(count)]

    def _read_json(self, *names: str) -> Optional[object]:
        """The first of root/name, root.parent/name that exists, parsed; None if none does."""
        for file in (folder / name for name in names for folder in (self.root, self.root.parent)):
            if file.is_file():
                try:
                    return json.loads(file.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise UnreadableFileError(f"ego4d: cannot read {file} ({exc}); re-download it") from None
        return None

    def _narrations(self) -> dict[str, list[tuple[float, str]]]:
        """video_uid -> [(timestamp_sec, text)] sorted by time, pass 1 before pass 2 at equal times."""
        raw = self._read_json("annotations/narration.json") if self.narrations else None
        found: dict[str, list[tuple[float, str]]] = {}
        for uid, passes in (raw or {}).items():
            for name in ("narration_pass_1", "narration_pass_2"):
                for item in (passes.get(name) or {}).get("narrations", []):
                    time, text = item.get("timestamp_sec"), item.get("narration_text")
                    if isinstance(time, (int, float)) and text:
                        found.setdefault(uid, []).append((float(time), text))
        return {uid: sorted(items, key=lambda i: i[0]) for uid, items in found.items()}

    def _caption(self, narrations: list[tuple[float, str]], start: float) -> Optional[str]:
        """The narration closest to the window centre among those inside the window."""
        lo = bisect.bisect_left(narrations, start, key=lambda i: i[0])
        hi = bisect.bisect_left(narrations, start + self.window_seconds, key=lambda i: i[0])
        centre = start + self.window_seconds / 2
        return min(narrations[lo:hi], key=lambda i: abs(i[0] - centre))[1] if hi > lo else None

    def _scan(self) -> Iterator[WindowEntry]:
        metadata = self._read_json("ego4d.json")
        if not isinstance(metadata, dict):
            raise UnreadableFileError(
                f"ego4d: no ego4d.json in {self.root} or its parent; download it with --metadata"
            )
        narrations = self._narrations()
        wanted = None if self.video_uids is None else set(self.video_uids)
        for video in metadata.get("videos", []):
            uid, duration = video.get("video_uid"), float(video.get("duration_sec") or 0.0)
            if video.get("has_imu") is False or (wanted is not None and uid not in wanted):
                continue
            mp4, csv_file = self.root / "full_scale" / f"{uid}.mp4", self.root / "imu" / f"{uid}.csv"
            lost = max(len(self._windows(0.0, duration)), 1)
            if not mp4.is_file() or not csv_file.is_file():
                self._skip("missing video or IMU CSV", f"{mp4 if not mp4.is_file() else csv_file}", lost)
                continue
            try:
                first, last = imu_span(csv_file)
            except (SkipSample, OSError) as exc:
                self._skip("bad IMU CSV", str(exc), lost)
                continue
            for start in self._windows(max(first, 0.0), min(last, duration) if duration else last):
                caption = self._caption(narrations.get(uid, []), start)
                yield WindowEntry(f"{uid}@{start:.2f}", (), mp4, csv_file, start, caption)

    def _load(self, entry: WindowEntry) -> Sample:
        times, data = imu_table(entry.imu)
        end = entry.start + self.window_seconds
        inside = times[(times >= entry.start) & (times <= end)]
        gaps = np.diff(np.concatenate(([entry.start], inside, [end])))
        if gaps.max() > MAX_IMU_GAP_S:
            detail = f"{entry.imu}: {gaps.max():.2f} s without samples in window {entry.id}"
            raise SkipSample("IMU gap", detail)
        grid = entry.start + np.arange(int(round(self.window_seconds * self.imu_rate_hz))) / self.imu_rate_hz
        imu = np.stack([np.interp(grid, times, data[:, c]) for c in range(data.shape[1])], axis=1)
        frame = read_moment(entry.video, at=entry.start + self.window_seconds / 2).frame
        inputs = {"vision": frame, "imu": (imu, self.imu_rate_hz)}
        return Sample(entry.id, entry.labels, entry.caption, inputs)
