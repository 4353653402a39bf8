"""`replay`: a recording (from `edgebind record`) played back as a live Source.

Items keep their recorded source names, sensor times, sequence numbers and metadata; host times
are shifted so the recording starts when the replay opens. `speed: 1` plays at recorded speed,
`speed: 0` as fast as the consumer reads (nothing dropped). A file whose recorder was killed
plays up to its last flushed chunk.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from edgebind.drivers.chunks import Item, SourceInfo
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.errors import ConfigError, DeviceNotConnectedError


@dataclass(kw_only=True)
class ReplayConfig(SourceConfig):
    """A recording to play: its path, the speed, and optionally which recorded sources."""

    type: str = "replay"
    path: str
    speed: float = 1.0  # 1 recorded speed, 2 twice as fast, 0 as fast as the consumer reads
    sources: tuple[str, ...] = ()  # recorded source names to play (empty: all)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.speed < 0:
            raise ConfigError(f"replay speed must be >= 0, got {self.speed}")


@SOURCES.register("replay")
class ReplaySource(Source):
    """The recorded Chunks and Gaps, paced by their recorded host times."""

    config_cls = ReplayConfig
    config: ReplayConfig

    def __init__(self, config: ReplayConfig) -> None:
        super().__init__(config)
        self._items: Iterator[Item] | None = None
        self._offset: float | None = None  # replay monotonic time minus recorded host time

    def lossless(self) -> bool:
        return self.config.speed == 0

    def info(self) -> SourceInfo:
        """The recorded streams (from the file's summary: none listed for a killed recorder's file)."""
        from edgebind.drivers.recording import recorded_streams

        wanted = self.config.sources
        streams = {topic: s for topic, s in recorded_streams(self.config.path).items()
                   if not wanted or topic.split("/")[1] in wanted}
        return SourceInfo(self.name, "replay", str(Path(self.config.path).resolve()), tuple(streams.values()),
                          {"topics": list(streams), "speed": self.config.speed})

    def _connect(self) -> None:
        if self._items is not None:
            raise DeviceNotConnectedError(f"replay of {self.config.path} cannot resume after an error")
        path = Path(self.config.path)
        if not path.is_file():
            raise DeviceNotConnectedError(f"replay: no recording at {path}; check the path")
        from edgebind.drivers.recording import read_items  # mcap is needed only here

        self._items = read_items(path)
        self._start = time.monotonic()

    def _read(self) -> Sequence[Item] | None:
        wanted = self.config.sources
        for item in self._items:
            if wanted and item.source not in wanted:
                continue
            if self._offset is None:
                self._offset = self._start - item.host_time
            replayed = dataclasses.replace(item, host_time=item.host_time + self._offset)
            if self.config.speed and not self.wait_until(
                    self._start + (replayed.host_time - self._start) / self.config.speed):
                return []
            return [replayed]
        return None
