"""AudioSet and VGGSound: YouTube clips read as (frame at the clip centre, audio around the centre).

AudioSet (Google, v1 CSV release) under `root`:
- `class_labels_indices.csv`: header `index,mid,display_name`, e.g. `0,/m/09x0r,"Speech"`;
- a segment list such as `balanced_train_segments.csv`, `eval_segments.csv` or
  `unbalanced_train_segments.csv`: `#` comment lines, then `YTID, start_seconds, end_seconds,
  "mid1,mid2,..."` (fields separated by ", ", the label ids quoted);
- clips downloaded by the user (Google publishes no media) under `clips_dir`, one video file per
  segment, already trimmed to it, found by the first matching `clip_patterns` entry. Pattern fields:
  {ytid}, {start} and {end} (whole seconds), {start_ms} and {end_ms}. Default `{ytid}_{start}.mp4`
  then `{ytid}.mp4`. Labels: every display name of the row (multi-label); classes in index order.

VGGSound (Oxford VGG release) under `root`: `vggsound.csv` without header, rows
`youtube_id,start_seconds,label,split` (split "train" or "test", labels quoted when they hold a
comma), clips `video/<youtube_id>_<start:06d>.mp4` (the naming of the common mirrors). One label
per clip; classes sorted.

Records: inputs["vision"] = H x W x 3 uint8 frame at the clip centre, inputs["audio"] =
(float32 mono waveform, sample_rate) of `audio_seconds` centred on the same instant. A row that
does not parse, names an unknown label id, or has no clip file is skipped and counted; a clip
that does not decode or has too little audio is skipped at load time (see skip.py, video.py).
Real AudioSet downloads typically miss 10-20 % of clips, so set max_skip_fraction accordingly.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from edgebind.errors import ConfigError, UnreadableFileError

from edgebind.sample import Sample
from .skip import DATASETS, DEFAULT_MAX_SKIP_FRACTION, SkippingDataset
from .video import read_moment

VGGSOUND_CLIP_SECONDS = 10.0  # every VGGSound clip is the 10 s from its start_seconds


@dataclass(frozen=True)
class ClipEntry:
    """One indexed clip: its record id, labels and video file."""

    id: str
    labels: tuple[str, ...]
    path: Path


class YouTubeClipDataset(SkippingDataset[ClipEntry]):
    """Shared part of AudioSet and VGGSound: CSV rows -> clip files -> (frame, audio) records."""

    def __init__(
        self,
        root: "str | Path",
        clips_dir: "str | Path",
        clip_patterns: Sequence[str],
        audio_seconds: float,
        sample_rate: int,
        max_skip_fraction: float,
    ) -> None:
        self.root = Path(root)
        self.clips_dir = self.root / clips_dir
        self.clip_patterns = tuple(clip_patterns)
        self.audio_seconds = audio_seconds
        self.sample_rate = sample_rate
        if not (audio_seconds > 0 and sample_rate > 0):
            raise ConfigError(f"{self.name}: audio_seconds and sample_rate must be > 0")
        super().__init__(max_skip_fraction)

    def _load(self, entry: ClipEntry) -> Sample:
        moment = read_moment(entry.path, audio_seconds=self.audio_seconds, sample_rate=self.sample_rate)
        inputs = {"vision": moment.frame, "audio": (moment.audio, moment.sample_rate)}
        return Sample(entry.id, entry.labels, None, inputs)

    def _rows(self, file: Path) -> Iterator[tuple[int, list[str]]]:
        """(line number, fields) of a CSV file, skipping blank and `#` comment lines."""
        try:
            with open(file, newline="", encoding="utf-8") as handle:
                for number, row in enumerate(csv.reader(handle, skipinitialspace=True), start=1):
                    if row and not row[0].startswith("#"):
                        yield number, [field.strip() for field in row]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UnreadableFileError(f"{self.name}: cannot read {file} ({exc}); check the download") \
                from None

    def _entry(self, ytid: str, start: float, end: float, labels: tuple[str, ...]) -> Optional[ClipEntry]:
        """The entry for a clip whose file exists under one of the patterns; else count a skip."""
        fields = dict(ytid=ytid, start=int(start), end=int(end),
                      start_ms=round(start * 1000), end_ms=round(end * 1000))
        for pattern in self.clip_patterns:
            path = self.clips_dir / pattern.format(**fields)
            if path.is_file():
                return ClipEntry(f"{ytid}_{int(start)}", labels, path)
        self._skip("missing clip", str(self.clips_dir / self.clip_patterns[0].format(**fields)))
        return None

    def _bad_row(self, file: Path, number: int, why: str) -> None:
        self._skip("bad CSV row", f"{file}:{number}: {why}")


@DATASETS.register("audioset")
class AudioSet(YouTubeClipDataset):
    """AudioSet segments with their clips: multi-label, classes in `class_labels_indices.csv` order."""

    name = "audioset"
    layout = "class_labels_indices.csv, a *_segments.csv and clips/<YTID>_<start>.mp4"

    def __init__(
        self,
        root: "str | Path",
        segments: str = "balanced_train_segments.csv",
        labels_csv: str = "class_labels_indices.csv",
        clips_dir: "str | Path" = "clips",
        clip_patterns: Sequence[str] = ("{ytid}_{start}.mp4", "{ytid}.mp4"),
        audio_seconds: float = 2.0,
        sample_rate: int = 16000,
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        self.segments = Path(root) / segments
        self.labels_csv = Path(root) / labels_csv
        self._names: dict[str, str] = {}
        super().__init__(root, clips_dir, clip_patterns, audio_seconds, sample_rate, max_skip_fraction)
        self.classes = tuple(self._names.values())

    def _scan(self) -> Iterator[ClipEntry]:
        rows = [row for _, row in self._rows(self.labels_csv)]
        if not rows or rows[0] != ["index", "mid", "display_name"] or any(len(row) != 3 for row in rows):
            raise UnreadableFileError(
                f"audioset: {self.labels_csv} must be the header index,mid,display_name then 3 fields per row"
            )
        self._names = {mid: name for _, mid, name in rows[1:]}
        for number, row in self._rows(self.segments):
            if len(row) != 4:
                self._bad_row(self.segments, number, f"expected 4 fields, got {len(row)}")
                continue
            ytid, start, end, mids = row
            try:
                times = float(start), float(end)
            except ValueError:
                self._bad_row(self.segments, number, f"start/end {start!r}, {end!r} are not numbers")
                continue
            unknown = [mid for mid in mids.split(",") if mid not in self._names]
            if unknown or not mids:
                self._bad_row(self.segments, number, f"unknown label ids {unknown or mids!r}")
                continue
            entry = self._entry(ytid, *times, tuple(self._names[mid] for mid in mids.split(",")))
            if entry is not None:
                yield entry


@DATASETS.register("vggsound")
class VGGSound(YouTubeClipDataset):
    """VGGSound clips of one split (or both with split=None): single-label."""

    name = "vggsound"
    layout = "vggsound.csv and video/<youtube_id>_<start:06d>.mp4"

    def __init__(
        self,
        root: "str | Path",
        split: Optional[str] = "train",
        csv_file: str = "vggsound.csv",
        clips_dir: "str | Path" = "video",
        clip_patterns: Sequence[str] = ("{ytid}_{start:06d}.mp4",),
        audio_seconds: float = 2.0,
        sample_rate: int = 16000,
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        self.split = split
        self.csv_file = Path(root) / csv_file
        super().__init__(root, clips_dir, clip_patterns, audio_seconds, sample_rate, max_skip_fraction)

    def _scan(self) -> Iterator[ClipEntry]:
        for number, row in self._rows(self.csv_file):
            if len(row) != 4 or not row[0] or not row[2]:
                self._bad_row(self.csv_file, number, f"expected youtube_id,start,label,split, got {row!r}")
                continue
            ytid, start, label, split = row
            if self.split is not None and split != self.split:
                continue
            try:
                begin = float(start)
            except ValueError:
                self._bad_row(self.csv_file, number, f"start {start!r} is not a number")
                continue
            entry = self._entry(ytid, begin, begin + VGGSOUND_CLIP_SECONDS, (label,))
            if entry is not None:
                yield entry
