"""A recording cut into time windows and written as a data set in the manifest format.

Field recordings thereby become training and evaluation data. Each window (`window_s`, default
2 s: the audio encoder's clip) becomes one sample: the audio and IMU blocks whose middle lies in
the window, and the depth, thermal and colour frames nearest its middle. A stream with a Gap in
the window, or covering less than `min_coverage` of it, is left out of that sample (counted), so
no sample stitches over lost data. Windows are cut on the host clock that all sources share; the
recording is streamed, holding only the open windows (their blocks and one frame per stream).
A window's label is the ground truth label its chunks agree on (the sim's `meta`), if any.
"""
from __future__ import annotations

import collections
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from edgebind import datafiles
from edgebind.drivers.chunks import Chunk, Gap, Item
from edgebind.errors import ConfigError, InputError
from edgebind.frames import DepthFrame, ThermalFrame
from edgebind.manifest import MANIFEST_NAME, write_manifest
from edgebind.sample import Sample

BLOCK_MODALITIES = ("audio", "imu")
# Modality -> manifest key (its folder too).
KEYS = {"vision": "image", "audio": "audio", "depth": "depth", "thermal": "thermal", "imu": "imu"}
# A window is written once every source is SETTLE_S past it (sources' items interleave unevenly in
# a recording, and a source may first appear late), or one is MAX_SKEW_S past it (a source that
# stopped must not hold every window in memory).
SETTLE_S, MAX_SKEW_S = 10.0, 30.0
KELVIN = {"kelvin": (1.0, 0.0), "centikelvin": (0.01, 0.0), "celsius": (1.0, 273.15)}


@dataclass
class ExtractReport:
    """What a conversion wrote and what it left out, and why."""

    manifest: Path
    samples: int = 0
    streams: dict[str, str] = field(default_factory=dict)  # modality -> source it was taken from
    written: collections.Counter = field(default_factory=collections.Counter)  # modality -> files
    left_out: collections.Counter = field(default_factory=collections.Counter)  # "modality: why" -> windows


class _Window:
    """The items of one window while the recording streams past it."""

    def __init__(self, index: int, start: float, window_s: float) -> None:
        self.index, self.start, self.end = index, start, start + window_s
        self.chunks: dict[str, list[Chunk]] = collections.defaultdict(list)
        self.gaps: set[str] = set()  # modalities whose source had a gap here

    def add(self, chunk: Chunk) -> None:
        """Keep a block whose middle lies in the window, or a frame nearer the middle than the last."""
        t0, t1 = chunk.host_span
        if not self.start <= (t0 + t1) / 2 < self.end:
            return
        kept = self.chunks[chunk.modality]
        if chunk.modality in BLOCK_MODALITIES:
            kept.append(chunk)
        elif not kept or abs(chunk.host_time - self.middle) < abs(kept[0].host_time - self.middle):
            kept[:] = [chunk]

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def recording_to_manifest(recording: "str | Path", out_dir: "str | Path", window_s: float = 2.0,
                          hop_s: float | None = None, sources: Sequence[str] = (), min_coverage: float = 0.9,
                          overwrite: bool = False, progress: bool = True) -> ExtractReport:
    """Write the windows of `recording` under `out_dir` (one folder per modality plus manifest.jsonl).

    `sources` picks the recorded sources to use (needed when two sources give the same modality).
    """
    from edgebind.drivers.recording import read_items  # mcap is needed only here

    hop_s = window_s if hop_s is None else hop_s
    if not (window_s > 0 and hop_s > 0 and 0 < min_coverage <= 1):
        raise ConfigError(f"window ({window_s}) and hop ({hop_s}) must be > 0 s and min_coverage in (0, 1]")
    out = _prepare(Path(out_dir).resolve(), overwrite)
    report = ExtractReport(out / MANIFEST_NAME)
    writer = _SampleWriter(out, Path(recording).stem, window_s, hop_s, min_coverage, report)
    items = _selected(read_items(recording), set(sources), report.streams)
    windows = _windows(items, window_s, hop_s, min_coverage)
    samples = [s for w in tqdm(windows, desc="windows", unit="window", disable=not progress)
               if (s := writer.sample(w)) is not None]
    if not samples:
        raise InputError(f"{recording}: no window of {window_s} s holds usable data; "
                         f"left out: {dict(report.left_out) or 'nothing recorded'}")
    write_manifest(report.manifest, samples)
    report.samples = len(samples)
    return report


def _prepare(out: Path, overwrite: bool) -> Path:
    if (out / MANIFEST_NAME).exists():
        if not overwrite:
            raise ConfigError(f"{out} already holds a data set ({MANIFEST_NAME}); choose another folder "
                              "or pass overwrite (--overwrite) to replace it")
        for key in KEYS.values():
            shutil.rmtree(out / key, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _selected(items: Iterable[Item], wanted: set[str], streams: dict[str, str]) -> Iterable[Item]:
    """The items of the wanted sources; two sources of one modality is an error naming both."""
    seen: set[str] = set()
    for item in items:
        seen.add(item.source)
        if wanted and item.source not in wanted:
            continue
        if isinstance(item, Chunk):
            if item.modality not in KEYS:
                continue
            owner = streams.setdefault(item.modality, item.source)
            if owner != item.source:
                raise ConfigError(f"the recording has two {item.modality} sources ({owner}, {item.source}); "
                                  "choose one per modality with sources (--sources)")
        yield item
    if wanted - seen:
        raise ConfigError(f"no source named {', '.join(sorted(wanted - seen))} in the recording; "
                          f"it has: {', '.join(sorted(seen)) or 'no items'}")


def _windows(items: Iterable[Item], window_s: float, hop_s: float, min_coverage: float) -> Iterable[_Window]:
    """Windows in time order, each yielded once no later item is expected to fall into it."""
    open_windows: collections.deque[_Window] = collections.deque()
    modality_of: dict[str, set[str]] = collections.defaultdict(set)  # source -> its modalities
    latest: dict[str, float] = {}  # source -> the latest host time it reached
    origin, opened = None, 0
    for item in items:
        if origin is None:
            origin = item.host_span[0] if isinstance(item, Chunk) else item.host_time
        latest[item.source] = max(latest.get(item.source, origin), item.host_time)
        while origin + opened * hop_s <= latest[item.source]:
            open_windows.append(_Window(opened, origin + opened * hop_s, window_s))
            opened += 1
        for window in open_windows:
            if isinstance(item, Gap):
                if window.start <= item.host_time < window.end:
                    window.gaps |= modality_of[item.source]
            else:
                modality_of[item.source].add(item.modality)
                window.add(item)
        horizon = max(min(latest.values()) - SETTLE_S, max(latest.values()) - MAX_SKEW_S)
        while open_windows and open_windows[0].end <= horizon:
            yield open_windows.popleft()
    last = max(latest.values(), default=0.0)  # the recording's end: windows it cuts off short are not written
    yield from (w for w in open_windows if w.start + (w.end - w.start) * min_coverage <= last)


class _SampleWriter:
    """Writes the files of one window and returns its Sample (None when nothing was usable)."""

    def __init__(self, out: Path, stem: str, window_s: float, hop_s: float, min_coverage: float,
                 report: ExtractReport) -> None:
        self.out, self.stem, self.report = out, stem, report
        self.window_s, self.hop_s, self.min_s = window_s, hop_s, window_s * min_coverage

    def sample(self, window: _Window) -> Sample | None:
        sample_id = f"{self.stem}_{window.index:06d}"
        inputs: dict[str, Any] = {}
        for modality, chunks in window.chunks.items():
            if modality in window.gaps:
                self.report.left_out[f"{modality}: gap in the window"] += 1
                continue
            path = self.out / KEYS[modality] / sample_id
            path.parent.mkdir(exist_ok=True)
            written = self._write(modality, chunks, window, path)
            if written is not None:
                inputs[modality] = written
                self.report.written[modality] += 1
        if not inputs:
            return None
        labels = {c.meta.get("label") for chunks in window.chunks.values() for c in chunks} - {None}
        extra = {"recording": self.stem, "t_start": round(window.index * self.hop_s, 6),
                 "t_end": round(window.index * self.hop_s + self.window_s, 6),
                 "sources": {m: self.report.streams[m] for m in inputs}}
        return Sample(sample_id, tuple(labels) if len(labels) == 1 else (), None, inputs, extra)

    def _write(self, modality: str, chunks: list[Chunk], window: _Window, path: Path) -> Any:
        if modality in BLOCK_MODALITIES:
            seconds = sum(c.duration for c in chunks)
            if seconds < self.min_s:
                self.report.left_out[f"{modality}: covers {seconds:.2f} s < {self.min_s:.2f} s"] += 1
                return None
            samples = np.concatenate([c.data[0] for c in chunks])
            rate = chunks[0].data[1]
            if modality == "audio":
                return datafiles.save_audio(path, samples, int(rate))
            return datafiles.save_imu(path, np.column_stack([np.arange(len(samples)) / rate, samples]))
        frame = chunks[0].data
        if modality == "depth":
            return DepthFrame(datafiles.save_depth(path, np.asarray(frame.depth)), frame.baseline_m, frame.focal_px)
        if modality == "thermal":
            return self._thermal(frame, path)
        return datafiles.save_image(path, np.asarray(frame))

    def _thermal(self, frame: ThermalFrame, path: Path) -> Path | None:
        if frame.units not in KELVIN:
            self.report.left_out[f"thermal: units {frame.units!r} are not absolute temperatures"] += 1
            return None
        scale, offset = KELVIN[frame.units]
        return datafiles.save_thermal(path, np.asarray(frame.data, dtype=np.float32) * scale + offset)
