"""The node's memory on disk: embeddings, events and their snapshots in one SQLite file.

SQLite in WAL mode (atomic commits; readers never block the writer) holds a sqlite-vec `vec0` table
of the vectors whose metadata columns (modality, wall-clock start) filter *inside* the exact KNN
scan, so a filtered query still returns k moments when k exist. Writes are queued and committed by
one background thread every `commit_interval_s`: the inference thread never waits on the disk,
and a killed node loses at most about that much. Retention deletes the oldest rows by age and by
size; sqlite-vec >= 0.1.7 frees emptied chunks, so the file stops growing instead of being vacuumed.

Times: callers pass host monotonic times plus the offset to wall-clock time (default: measured at
each call, so an NTP step on a Jetson without a clock battery only moves later records); the store
keeps wall-clock seconds since the epoch, which survive a restart.

The SQLite binding is sqlean.py: CPython's sqlite3 module built with extension loading, which some
Python builds (pyenv's default, for one) leave out; it also brings one SQLite version everywhere.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import sqlean as sqlite3

from edgebind.config import from_dict
from edgebind.errors import ConfigError, InputError, StoreError
from edgebind.runtime.store_retention import retain
from edgebind.runtime.store_snapshots import npz_arrays, snapshot_arrays
from edgebind.runtime.store_tables import (Moment, StoredEvent, connect, open_schema, read_meta, select_events,
                                           select_moments, write_rows)

log = logging.getLogger(__name__)

MAX_K = 4096  # sqlite-vec's limit on k


@dataclass(kw_only=True)
class StoreConfig:
    """Where the store lives and how much it keeps."""

    path: str  # the SQLite file (created with its parent folder if missing)
    max_age_s: float | None = None  # delete embeddings and events older than this (None: keep)
    max_bytes: int | None = None  # keep the file (plus its write-ahead log) under this size (None: no cap)
    commit_interval_s: float = 0.5  # queued writes are committed at least this often
    max_pending: int = 100_000  # embeddings queued for the disk before the oldest are dropped
    max_snapshot_bytes: int = 4 << 20  # raw bytes of one event's snapshot; larger arrays are left out

    def __post_init__(self) -> None:
        if self.max_age_s is not None and not self.max_age_s > 0:
            raise ConfigError(f"store max_age_s must be > 0 or null, got {self.max_age_s}")
        if self.max_bytes is not None and self.max_bytes < 1 << 20:
            raise ConfigError(f"store max_bytes must be at least 1 MiB (1048576) or null, got {self.max_bytes}")
        if not 0 < self.commit_interval_s <= 5:
            raise ConfigError(f"store commit_interval_s must lie in (0, 5], got {self.commit_interval_s}")
        if self.max_pending < 1 or self.max_snapshot_bytes < 0:
            raise ConfigError("store max_pending must be >= 1 and max_snapshot_bytes >= 0")


class Store:
    """`Store(path, dim, model_id, max_age_s=..., max_bytes=...)`: add, query, list events, close.

    One thread may write (`add`, `add_event`); any thread may read (`query`, `events`,
    `snapshot`, `stats`). Reads see what is committed: `flush()` commits now.
    """

    def __init__(self, path: str | os.PathLike, dim: int, model_id: str, **options: Any) -> None:
        self.config = from_dict(StoreConfig, {"path": str(path), **options}, "store")
        self.path = Path(self.config.path)
        if dim < 1:
            raise ConfigError(f"store dim must be >= 1, got {dim}")
        self.dim, self.model_id = int(dim), str(model_id)
        self._check_existing()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(self.path)
        self._local = threading.local()
        self._readers: list[Any] = []
        self._cond = threading.Condition()
        self._rows: deque[tuple] = deque()  # (id-less) embedding rows waiting for the disk
        self._events: list[tuple] = []  # detections waiting for the disk, in order
        self._queued = self._committed = 0  # write sequence numbers, for flush()
        self._flush_wanted = self._closing = False
        self._error: BaseException | None = None
        self._counts = {"dropped": 0, "lost": 0, "commits": 0, "deleted": 0}
        self._last_commit = time.time()
        try:
            self._next_id, self._rows_stored = open_schema(self._db, self.dim, self.model_id,
                                                           self.config.max_bytes)
        except BaseException:
            self._db.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"store:{self.path.name}", daemon=True)
        self._thread.start()

    # --- opening --------------------------------------------------------------------------------
    def _check_existing(self) -> None:
        """A file that is not our store raises StoreError before anything could write to it."""
        meta = read_meta(self.path)
        if meta is not None and (int(meta["dim"]) != self.dim or meta["model_id"] != self.model_id):
            raise StoreError(f"{self.path} holds embeddings of model {meta['model_id']!r} (dim {meta['dim']}), "
                             f"not of this node's model {self.model_id!r} (dim {self.dim}): their vectors "
                             "are not comparable; pass another store path or run that model")

    # --- writing: callers queue, the store's thread commits ------------------------------------------
    def add(self, embeddings: Iterable[Any], wall_offset: float | None = None) -> None:
        """Queue embeddings (with source, modality, t_start, t_end on the host clock, and a vector).

        Stored times are the host times plus `wall_offset` (default: time.time() - time.monotonic(),
        now). Never waits on the disk: past `max_pending` queued rows the oldest are dropped, counted.
        """
        offset = _wall_offset(wall_offset)
        rows = []
        for e in embeddings:
            vector = np.asarray(e.vector, dtype=np.float32)
            if vector.shape != (self.dim,) or not np.isfinite(vector).all():
                raise InputError(f"store: an embedding of {e.source}/{e.modality} must be {self.dim} finite "
                                 f"floats (the store's dim), got shape {vector.shape}")
            rows.append((vector.tobytes(), e.modality, e.source, e.t_start + offset, e.t_end + offset))
        with self._cond:
            self._check_open()
            self._rows.extend(rows)
            excess = len(self._rows) - self.config.max_pending
            for _ in range(excess):
                self._rows.popleft()
            self._counts["dropped"] += max(0, excess)
            self._queued += 1

    def add_event(self, detection: Any, wall_offset: float | None = None) -> None:
        """Queue a Detection: a "start" opens an event (keeping its snapshot's numeric arrays, up to
        `max_snapshot_bytes`), the matching "end" closes it; `wall_offset` as in `add`."""
        if detection.kind not in ("start", "end"):
            raise InputError(f"store: a detection's kind must be 'start' or 'end', got {detection.kind!r}")
        offset = _wall_offset(wall_offset)
        arrays = (snapshot_arrays(detection.snapshot, self.config.max_snapshot_bytes)
                  if detection.kind == "start" else {})
        item = (detection.kind, detection.event, detection.source, detection.modality, detection.t + offset,
                detection.t_open + offset, float(detection.score), float(detection.t_open), arrays)
        with self._cond:
            self._check_open()
            self._events.append(item)
            self._queued += 1

    def flush(self, timeout: float = 60.0) -> None:
        """Commit everything queued so far, so that readers see it; StoreError if a write failed."""
        with self._cond:
            target = self._queued
            self._flush_wanted = True
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._committed >= target or not self._thread.is_alive(), timeout):
                raise StoreError(f"store {self.path}: queued writes were not committed within {timeout} s "
                                 "(a slow or stalled disk?)")
            error, self._error = self._error, None
        if error is not None:
            raise StoreError(f"store {self.path}: writing failed ({error}); "
                             f"{self._counts['lost']} embeddings were lost so far (full disk? set max_bytes)") from error

    def _run(self) -> None:
        """The writer thread: commit what is queued every commit_interval_s (or on flush/close)."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._flush_wanted or self._closing, self.config.commit_interval_s)
                rows, events = list(self._rows), self._events
                self._rows, self._events = deque(), []
                target, closing, self._flush_wanted = self._queued, self._closing, False
            try:
                if rows or events:
                    self._write(rows, events)
                self._retain()
            except Exception as exc:  # noqa: BLE001  (kept for flush/close to raise; the thread goes on)
                with contextlib.suppress(sqlite3.Error):
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                log.error("store %s: writing failed: %s", self.path, exc)
                with self._cond:
                    self._error = exc
                    self._counts["lost"] += len(rows)
            with self._cond:
                self._committed = target
                self._cond.notify_all()
            if closing:
                return

    def _write(self, rows: Sequence[tuple], events: Sequence[tuple]) -> None:
        write_rows(self._db, self._next_id, rows, events)
        self._next_id += len(rows)
        self._rows_stored += len(rows)
        self._counts["commits"] += 1
        self._last_commit = time.time()

    def _retain(self) -> None:
        """Retention (by age and size), counting the moments deleted as each deletion commits."""
        config = self.config
        for moments in retain(self._db, config.path, config.max_age_s, config.max_bytes, self._rows_stored):
            self._rows_stored -= moments
            self._counts["deleted"] += moments

    # --- reading (any thread) -----------------------------------------------------------------------
    def query(self, vector: np.ndarray, k: int = 5, *, last_s: float | None = None, since: float | None = None,
              until: float | None = None, modalities: Sequence[str] | None = None) -> list[Moment]:
        """The k stored moments most similar (cosine) to `vector`, best first, among those of
        `modalities` starting within [since, until] (wall clock) and within the last `last_s` seconds.
        The filters apply inside the exact KNN scan: k moments come back whenever k match."""
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dim,) or not np.isfinite(query).all() or not query.any():
            raise InputError(f"store: a query must be {self.dim} finite floats, not all zero, got shape {query.shape}")
        if not 1 <= k <= MAX_K:
            raise InputError(f"store: k must lie in [1, {MAX_K}], got {k}")
        if last_s is not None:
            since = max(-math.inf if since is None else since, time.time() - last_s)
        return select_moments(self._read, query.tobytes(), k, since, until, modalities)

    def events(self, *, last_s: float | None = None, since: float | None = None, until: float | None = None,
               names: Sequence[str] | None = None, limit: int = 100) -> list[StoredEvent]:
        """Stored events, newest first, opened within [since, until] and the last `last_s` seconds."""
        if last_s is not None:
            since = max(-math.inf if since is None else since, time.time() - last_s)
        return select_events(self._read, since, until, names, limit)

    def snapshot(self, ref: int) -> dict[str, np.ndarray]:
        """The arrays of snapshot `ref` (a Moment's or StoredEvent's `snapshot`), named "stream.field"."""
        rows = self._read("SELECT data FROM snapshots WHERE id = ?", [int(ref)])
        if not rows:
            raise StoreError(f"store {self.path}: no snapshot {ref} (retention may have deleted it)")
        return npz_arrays(rows[0][0])

    def stats(self) -> dict[str, Any]:
        """Rows, events, bytes on disk (file + write-ahead log), bytes per embedding and write counters."""
        disk = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        events, snapshots = self._read("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM snapshots)", [])[0]
        with self._cond:
            rows = self._rows_stored
            return {"rows": rows, "events": events, "snapshots": snapshots, "bytes": disk,
                    "bytes_per_embedding": disk / rows if rows else None, "pending": len(self._rows),
                    "seconds_since_commit": time.time() - self._last_commit, **self._counts}

    def _read(self, sql: str, args: Sequence[Any]) -> list[tuple]:
        con = getattr(self._local, "con", None)
        if con is None:
            with self._cond:
                self._check_open()
                con = connect(self.path)
                con.execute("PRAGMA query_only=1")
                self._readers.append(con)
            self._local.con = con
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: reading failed ({exc}); if it persists the file is damaged: "
                             "move it away and start a new store") from exc

    # --- closing ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Commit what is queued, stop the writer thread, checkpoint the log and close every connection."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        for con in self._readers:
            con.close()
        error = self._error
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()
        if error is not None:
            raise StoreError(f"store {self.path}: the last writes failed ({error}); "
                             f"{self._counts['lost']} embeddings were lost") from error

    def _check_open(self) -> None:
        if self._closing:
            raise StoreError(f"store {self.path} is closed")

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoreReader(Store):
    """A read-only view of an existing store that another process may be writing (the node):
    query, events, snapshot and stats. It writes nothing, not even the fix-ups of opening."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        meta = read_meta(self.path)
        if meta is None:
            raise StoreError(f"no store at {self.path}; run the node with --store {self.path} first")
        self.config = StoreConfig(path=str(self.path))
        self.dim, self.model_id = int(meta["dim"]), meta["model_id"]
        self._local, self._readers, self._cond = threading.local(), [], threading.Condition()
        self._closing = False
        self._counts = {"dropped": 0, "lost": 0, "commits": 0, "deleted": 0}
        self._rows: deque[tuple] = deque()
        self._last_commit = self.path.stat().st_mtime
        self._rows_stored = self._read("SELECT count(*) FROM moments", [])[0][0]

    def add(self, *_: Any, **__: Any) -> None:
        raise StoreError(f"store {self.path} was opened read-only")

    add_event = flush = add

    def close(self) -> None:
        with self._cond:
            self._closing = True
        for con in self._readers:
            con.close()


def _wall_offset(wall_offset: float | None) -> float:
    """Seconds to add to a host monotonic time to get wall-clock time (default: measured now)."""
    return time.time() - time.monotonic() if wall_offset is None else float(wall_offset)
