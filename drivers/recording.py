"""MCAP recordings that survive a crash: writing (Recorder) and reading back (read_items).

The mcap writer keeps its open chunk in memory and writes the index only in `finish()`, so the
Recorder closes a chunk, flushes and fsyncs every `flush_interval_s` (default 0.5 s): a recorder
killed with SIGKILL or by a power cut loses at most that much. `read_items` streams the file
record by record, so a file without its summary (a killed recorder) reads up to its last complete
chunk. A full disk stops recording with RecordingError; the file stays readable up to the last flush.
"""
from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import time
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from edgebind.errors import RecordingError, require

require("mcap", "sensors", "recording and replay")  # a clear message when the extra is missing
from mcap.exceptions import EndOfFile, McapError  # noqa: E402
from mcap.reader import make_reader  # noqa: E402
from mcap.records import Channel, Message, Schema  # noqa: E402
from mcap.stream_reader import StreamReader  # noqa: E402
from mcap.writer import Writer  # noqa: E402

from edgebind.drivers import mcap_codec  # noqa: E402
from edgebind.drivers.chunks import Chunk, Item, StreamInfo  # noqa: E402
from edgebind.drivers.merge import merge  # noqa: E402
from edgebind.drivers.source import Source  # noqa: E402
from edgebind.frames import DepthFrame, ThermalFrame  # noqa: E402

UNITS = {"audio": "full scale [-1, 1]", "imu": "m/s^2, rad/s", "thermal": "centikelvin", "vision": "rgb8"}


class Recorder:
    """Writes Chunks and Gaps of any sources to one MCAP file; use as a context manager."""

    def __init__(self, path: "str | Path", flush_interval_s: float = 0.5, chunk_size: int = 1 << 20) -> None:
        self.path, self.flush_interval_s = Path(path), flush_interval_s
        try:
            self._file: BinaryIO = open(self.path, "wb")
        except OSError as exc:
            raise RecordingError(f"cannot create {self.path}: {exc.strerror}; choose another place") from None
        self._writer = Writer(self._file, chunk_size=chunk_size)
        self._writer.start(profile="", library="edgebind")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._calibrations: dict[str, tuple[float, float]] = {}
        self._wall_minus_mono = time.time_ns() - time.monotonic_ns()
        self._last_flush = time.monotonic()
        self.messages = 0
        self.closed = False

    def write(self, item: Item) -> None:
        """Record one item (flushing to disk when the flush interval has passed)."""
        ns = self._wall_minus_mono + int(item.host_time * 1e9)
        records = mcap_codec.encode(item, ns)
        if isinstance(item, Chunk) and isinstance(item.data, DepthFrame):
            camera = (item.data.baseline_m, item.data.focal_px)
            if self._calibrations.get(item.source) != camera:
                self._calibrations[item.source] = camera
                records.insert(0, mcap_codec.calibration(item.data, item.source, ns))
        if self.closed:
            raise RecordingError(f"{self.path} is closed; recording stopped")
        try:
            for topic, schema, message in records:
                self._writer.add_message(self._channel(topic, schema), ns, json.dumps(message).encode(), ns)
                self.messages += 1
            if time.monotonic() - self._last_flush >= self.flush_interval_s:
                self.flush()
        except OSError as exc:
            self._abandon()
            raise RecordingError(f"writing {self.path} failed ({exc.strerror}); recording stopped, the file "
                                 "holds what was recorded up to the last flush") from None

    def flush(self) -> None:
        """Close the open chunk, write it and fsync: everything so far survives a crash."""
        self._writer.flush()
        os.fsync(self._file.fileno())
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write the index and summary (a complete, seekable file). Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.finish()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            self._abandon()
            raise RecordingError(f"finishing {self.path} failed ({exc.strerror}); the file is readable "
                                 "up to the last flush") from None

    def _abandon(self) -> None:
        """Stop writing after a failed write (a full disk): release the file, writing nothing more."""
        self.closed = True
        with contextlib.suppress(OSError):  # the buffered tail cannot be written; the fd closes anyway
            self._file.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _channel(self, topic: str, schema: str) -> int:
        if topic not in self._channels:
            if schema not in self._schemas:
                data = json.dumps(mcap_codec.SCHEMAS[schema]).encode()
                self._schemas[schema] = self._writer.register_schema(schema, "jsonschema", data)
            self._channels[topic] = self._writer.register_channel(topic, "json", self._schemas[schema])
        return self._channels[topic]


def read_items(path: "str | Path") -> Iterator[Item]:
    """Every Chunk and Gap of a recording in file order, up to the last complete chunk of a file
    whose writer was killed (no summary). Messages of other programs' topics are skipped."""
    schemas, channels, calib = {}, {}, {}
    try:
        with open(path, "rb") as f:
            try:
                for record in StreamReader(f).records:
                    if isinstance(record, Schema):
                        schemas[record.id] = record.name
                    elif isinstance(record, Channel):
                        channels[record.id] = (record.topic, schemas.get(record.schema_id, ""))
                    elif isinstance(record, Message) and record.channel_id in channels:
                        topic, schema = channels[record.channel_id]
                        item = mcap_codec.decode(schema, topic, json.loads(record.data), calib)
                        if item is not None:
                            yield item
            except (EndOfFile, struct.error):  # struct.error: the cut fell inside a record's fixed fields
                return  # a recorder killed mid-write (or a full disk): everything before the cut was read
            except McapError as exc:
                raise RecordingError(f"{path} is not a readable MCAP recording ({exc})") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror}") from None


def recorded_streams(path: "str | Path") -> dict[str, StreamInfo]:
    """Topic -> what its stream holds (rate, shape and dtype of its first chunk), by topic, from the file's
    summary; empty for a file without one (a killed recorder: replay still plays it)."""
    try:
        with open(path, "rb") as f:
            reader = make_reader(f)
            summary = reader.get_summary()
            if summary is None or summary.statistics is None:
                return {}
            stats, streams, calib = summary.statistics, {}, {}
            seconds = max((stats.message_end_time - stats.message_start_time) / 1e9, 1e-9)
            wanted = {c.topic for c in summary.channels.values() if not c.topic.endswith(("/gap", "/calibration"))}
            for schema, channel, message in reader.iter_messages():
                if set(streams) == wanted:
                    break
                if channel.topic in streams or channel.topic.endswith("/gap"):
                    continue
                item = mcap_codec.decode(schema.name, channel.topic, json.loads(message.data), calib)
                if isinstance(item, Chunk):
                    count = stats.channel_message_counts.get(channel.id, 0)
                    streams[channel.topic] = _stream_info(item, count / seconds)
            return dict(sorted(streams.items()))
    except (McapError, EndOfFile, OSError, ValueError):
        return {}


def _stream_info(chunk: Chunk, messages_per_s: float) -> StreamInfo:
    data = chunk.data
    if isinstance(data, tuple):  # a block of samples at its own rate
        return StreamInfo(chunk.modality, float(data[1]), data[0].shape, str(data[0].dtype), UNITS[chunk.modality])
    array = np.asarray(data.depth if isinstance(data, DepthFrame) else data.data if isinstance(data, ThermalFrame)
                       else data)
    units = ("millimetres" if array.dtype == np.uint16 else "metres") if chunk.modality == "depth" \
        else UNITS[chunk.modality]
    return StreamInfo(chunk.modality, round(messages_per_s, 3), array.shape, str(array.dtype), units)


def record(sources: "list[Source]", path: "str | Path", duration_s: float | None = None,
           stop: threading.Event | None = None, flush_interval_s: float = 0.5) -> Recorder:
    """Open `sources`, record them to `path` until `duration_s` passed, they all finished or `stop`
    is set, then close them and finish the file (also when a source fails: its error is raised
    after the file is complete)."""
    stop = stop or threading.Event()
    with Recorder(path, flush_interval_s) as recorder, contextlib.ExitStack() as opened:
        for source in sources:
            opened.enter_context(source)
        if duration_s is not None:
            timer = threading.Timer(duration_s, stop.set)
            timer.daemon = True
            timer.start()
            opened.callback(timer.cancel)
        for item in merge(sources, stop):
            recorder.write(item)
    return recorder
