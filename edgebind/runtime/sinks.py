"""Where the node's outputs go besides the library user: JSON lines to a file or stdout.

Each line is one record: `{"type": "event", ...}` for a detection's start or end, and with
`embeddings` also `{"type": "embedding", ...}` per window (vector as a list). The network API and
`edgebind query` share these shapes, and those of stored moments and events. Times are given on
the host's monotonic clock (`t`, comparable between records) and as wall-clock `wall_time`
(seconds since the epoch, for people and other machines). Lines are flushed as written, so a
killed node leaves every complete line readable.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from edgebind.errors import ConfigError
from edgebind.runtime.detector import Detection
from edgebind.runtime.node_config import Embedding
from edgebind.runtime.store_tables import Moment, StoredEvent


def detection_record(d: Detection, wall_offset: float) -> dict[str, Any]:
    return {"type": "event", "kind": d.kind, "event": d.event, "source": d.source, "modality": d.modality,
            "t": round(d.t, 6), "wall_time": round(d.t + wall_offset, 6), "t_open": round(d.t_open, 6),
            "score": round(d.score, 6)}


def embedding_record(e: Embedding, wall_offset: float, vector: bool = True) -> dict[str, Any]:
    record = {"type": "embedding", "source": e.source, "modality": e.modality, "t_start": round(e.t_start, 6),
              "t_end": round(e.t_end, 6), "wall_time": round(e.t_end + wall_offset, 6),
              "scores": {k: round(v, 6) for k, v in e.scores.items()}}
    if vector:
        record["vector"] = [round(float(x), 6) for x in e.vector]
    return record


def moment_record(rank: int, m: Moment) -> dict[str, Any]:
    """A query answer's row (wall-clock times), as `edgebind query` and the API give it."""
    return {"rank": rank, "score": round(m.score, 4), "modality": m.modality, "source": m.source,
            "t_start": round(m.t_start, 3), "t_end": round(m.t_end, 3), "snapshot": m.snapshot}


def stored_event_record(e: StoredEvent) -> dict[str, Any]:
    """A stored event's row (wall-clock times; t_close null while open)."""
    return {"event": e.event, "source": e.source, "modality": e.modality, "t_open": round(e.t_open, 3),
            "t_close": None if e.t_close is None else round(e.t_close, 3), "score": round(e.score, 4),
            "peak": round(e.peak, 4), "snapshot": e.snapshot}


class JsonlSink:
    """JSON lines of detections (and embeddings) to `path` ("-": stdout), appended."""

    def __init__(self, path: "str | Path", embeddings: bool = False) -> None:
        self.embeddings = embeddings
        self.wall_offset = time.time() - time.monotonic()
        if str(path) == "-":
            self._file: IO[str] = sys.stdout
        else:
            try:
                self._file = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot open {path} for writing: {exc.strerror}; choose another --out") from None
        self.lines = 0

    def write(self, item: "Embedding | Detection") -> None:
        if isinstance(item, Detection):
            record = detection_record(item, self.wall_offset)
        elif self.embeddings:
            record = embedding_record(item, self.wall_offset)
        else:
            return
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()
