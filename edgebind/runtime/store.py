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
import dataclasses
import io
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import sqlean as sqlite3
import sqlite_vec

from edgebind.config import from_dict
from edgebind.errors import ConfigError, InputError, StoreError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_K = 4096  # sqlite-vec's limit on k
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE moments(id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, source TEXT NOT NULL);
CREATE VIRTUAL TABLE vectors USING vec0(embedding float[{dim}] distance_metric=cosine, modality text, t float);
CREATE TABLE snapshots(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE events(id INTEGER PRIMARY KEY, event TEXT NOT NULL, source TEXT NOT NULL, modality TEXT NOT NULL,
                    t_open REAL NOT NULL, t_close REAL, score REAL NOT NULL, peak REAL NOT NULL,
                    host_open REAL NOT NULL, snapshot INTEGER REFERENCES snapshots(id));
CREATE INDEX events_t_open ON events(t_open);
"""


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


@dataclass(frozen=True)
class Moment:
    """One stored embedding as a query answer; times are wall-clock seconds since the epoch."""

    id: int
    source: str
    modality: str
    t_start: float
    t_end: float
    score: float  # cosine similarity to the query
    snapshot: int | None  # `Store.snapshot(id)` of an event open at this moment, if it has one


@dataclass(frozen=True)
class StoredEvent:
    """One detected event (its start and end merged); times are wall-clock seconds."""

    id: int
    event: str
    source: str
    modality: str
    t_open: float
    t_close: float | None  # None while open
    score: float  # the score of the window that opened it
    peak: float  # the highest score while open
    snapshot: int | None  # `Store.snapshot(id)`, if the event carried one


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
        self._db = self._connect()
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
            self._open_schema()
        except BaseException:
            self._db.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"store:{self.path.name}", daemon=True)
        self._thread.start()

    # --- opening --------------------------------------------------------------------------------
    def _check_existing(self) -> None:
        """A file that is not our store raises StoreError before anything could write to it."""
        meta = self._read_meta()
        if meta is not None and (int(meta["dim"]) != self.dim or meta["model_id"] != self.model_id):
            raise StoreError(f"{self.path} holds embeddings of model {meta['model_id']!r} (dim {meta['dim']}), "
                             f"not of this node's model {self.model_id!r} (dim {self.dim}): their vectors "
                             "are not comparable; pass another store path or run that model")

    def _read_meta(self) -> dict[str, str] | None:
        """The store's meta table, read-only; None for no file or an empty one."""
        if not self.path.exists():
            return None
        if not self.path.is_file():
            raise StoreError(f"store {self.path} exists and is not a file; pass the path of a store file")
        with open(self.path, "rb") as f:
            header = f.read(len(SQLITE_MAGIC))
        if not header:
            return None  # an empty file holds nothing to lose
        if header != SQLITE_MAGIC:
            raise StoreError(f"{self.path} is not an edgebind store (not a SQLite database); it was left "
                             "untouched: move it away or pass another store path")
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            try:
                meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            if "no such table: meta" in str(exc):
                raise StoreError(f"{self.path} is a SQLite database but not an edgebind store (no meta table); "
                                 "it was left untouched: pass another store path") from None
            raise StoreError(f"{self.path} is a corrupt or unreadable store ({exc}); it was left untouched: "
                             "move it away (a new store starts empty) or pass another store path") from None
        if int(meta.get("schema_version", -1)) != SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema version {meta.get('schema_version')}, this edgebind "
                             f"reads version {SCHEMA_VERSION}: upgrade edgebind or pass another store path")
        return meta

    def _connect(self) -> Any:
        con = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        con.enable_load_extension(True)
        sqlite_vec.load(con)
        con.enable_load_extension(False)
        return con

    def _open_schema(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses no commit
        # A small log for a small store: checkpoints keep the WAL near a 16th of max_bytes.
        wal_pages = 1000 if self.config.max_bytes is None else max(32, min(1000, self.config.max_bytes // 4096 // 16))
        db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
        db.execute(f"PRAGMA journal_size_limit={wal_pages * 4096}")
        db.execute("BEGIN IMMEDIATE")
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            for statement in _SCHEMA.format(dim=self.dim).split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema_version", str(SCHEMA_VERSION)), ("dim", str(self.dim)), ("model_id", self.model_id),
                ("created", repr(time.time()))])
        # Events a killed node left open can never receive their end: close them at its last moment.
        db.execute("UPDATE events SET t_close = max(t_open, coalesce((SELECT t_end FROM moments ORDER BY id DESC "
                   "LIMIT 1), t_open)) WHERE t_close IS NULL")
        db.execute("COMMIT")
        self._next_id = (db.execute("SELECT max(id) FROM moments").fetchone()[0] or 0) + 1
        self._rows_stored = db.execute("SELECT count(*) FROM moments").fetchone()[0]

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
        db, ids = self._db, range(self._next_id, self._next_id + len(rows))
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO moments(id, t_start, t_end, source) VALUES (?, ?, ?, ?)",
                       [(i, r[3], r[4], r[2]) for i, r in zip(ids, rows)])
        db.executemany("INSERT INTO vectors(rowid, embedding, modality, t) VALUES (?, ?, ?, ?)",
                       [(i, r[0], r[1], r[3]) for i, r in zip(ids, rows)])
        for item in events:
            self._write_event(*item)
        db.execute("COMMIT")
        self._next_id += len(rows)
        self._rows_stored += len(rows)
        self._counts["commits"] += 1
        self._last_commit = time.time()

    def _write_event(self, kind: str, event: str, source: str, modality: str, t: float, t_open: float,
                     score: float, host_open: float, arrays: Mapping[str, np.ndarray]) -> None:
        db = self._db
        if kind == "end":
            closed = db.execute("UPDATE events SET t_close = ?, peak = max(peak, ?) WHERE t_close IS NULL AND "
                                "event = ? AND source = ? AND modality = ? AND host_open = ?",
                                (t, score, event, source, modality, host_open))
            if closed.rowcount:
                return  # else its start came before this store was opened: keep the end alone
        snapshot = db.execute("INSERT INTO snapshots(data) VALUES (?)", (_npz(arrays),)).lastrowid if arrays else None
        db.execute("INSERT INTO events(event, source, modality, t_open, t_close, score, peak, host_open, snapshot) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (event, source, modality, t_open, t if kind == "end" else None, score, score, host_open, snapshot))

    # --- retention ----------------------------------------------------------------------------------
    def _retain(self) -> None:
        """Delete the oldest moments and closed events: older than max_age_s, then until the file's
        used pages fit 70% of max_bytes (the rest is room for the write-ahead log and one commit)."""
        c = self.config
        if c.max_age_s is not None:
            cutoff = time.time() - c.max_age_s
            while self._delete_oldest(10_000, cutoff) >= 10_000:
                pass
        if c.max_bytes is not None:
            budget = 0.7 * c.max_bytes
            while (used := self._used_bytes()) > budget:
                per_row = used / max(1, self._rows_stored)
                if not self._delete_oldest(max(256, math.ceil((used - budget) / per_row))):
                    log.warning("store %s: over max_bytes with nothing left to delete (open events?)", self.path)
                    break

    def _delete_oldest(self, limit: int, cutoff: float = math.inf) -> int:
        """Delete up to `limit` oldest moments that start before `cutoff`, then the closed events (and
        their snapshots) that ended before the oldest moment kept; how many rows went."""
        db = self._db
        oldest = db.execute("SELECT id, t_start FROM moments ORDER BY id LIMIT ?", (limit + 1,)).fetchall()
        ids = []
        for i, t_start in oldest[:limit]:
            if t_start >= cutoff:
                break
            ids.append(i)
        kept = oldest[len(ids)][1] if len(oldest) > len(ids) else math.inf
        before = min(cutoff, kept)
        db.execute("BEGIN IMMEDIATE")
        if ids:
            db.execute("DELETE FROM moments WHERE id <= ?", (ids[-1],))
            db.executemany("DELETE FROM vectors WHERE rowid = ?", [(i,) for i in ids])
        db.execute("DELETE FROM snapshots WHERE id IN (SELECT snapshot FROM events WHERE t_close < ?)", (before,))
        events = db.execute("DELETE FROM events WHERE t_close < ?", (before,)).rowcount
        db.execute("COMMIT")
        self._rows_stored -= len(ids)
        self._counts["deleted"] += len(ids)
        return len(ids) + events

    def _used_bytes(self) -> int:
        pages, free, size = (self._db.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size


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
        where, args = ["embedding MATCH ?", "k = ?"], [query.tobytes(), int(k)]
        if modalities is not None:
            if not modalities:
                return []
            where.append(f"modality IN ({', '.join('?' * len(modalities))})")
            args += list(modalities)
        for op, bound in ((">=", since), ("<=", until)):
            if bound is not None:
                where.append(f"t {op} ?")
                args.append(float(bound))
        rows = self._read(
            f"WITH knn AS (SELECT rowid, distance, modality FROM vectors WHERE {' AND '.join(where)}) "
            "SELECT m.id, m.source, knn.modality, m.t_start, m.t_end, 1 - knn.distance, "
            "(SELECT e.snapshot FROM events e WHERE e.snapshot IS NOT NULL AND e.t_open <= m.t_end "
            " AND coalesce(e.t_close, 1e300) >= m.t_start ORDER BY e.t_open DESC LIMIT 1) "
            "FROM knn JOIN moments m ON m.id = knn.rowid ORDER BY knn.distance, m.id", args)
        return [Moment(*row) for row in rows]

    def events(self, *, last_s: float | None = None, since: float | None = None, until: float | None = None,
               names: Sequence[str] | None = None, limit: int = 100) -> list[StoredEvent]:
        """Stored events, newest first, opened within [since, until] and the last `last_s` seconds."""
        if last_s is not None:
            since = max(-math.inf if since is None else since, time.time() - last_s)
        where, args = ["1"], []
        for clause, value in (("t_open >= ?", since), ("t_open <= ?", until)):
            if value is not None:
                where.append(clause)
                args.append(float(value))
        if names is not None:
            where.append(f"event IN ({', '.join('?' * len(names))})")
            args += list(names)
        rows = self._read("SELECT id, event, source, modality, t_open, t_close, score, peak, snapshot FROM events "
                          f"WHERE {' AND '.join(where)} ORDER BY t_open DESC, id DESC LIMIT ?", args + [int(limit)])
        return [StoredEvent(*row) for row in rows]

    def snapshot(self, ref: int) -> dict[str, np.ndarray]:
        """The arrays of snapshot `ref` (a Moment's or StoredEvent's `snapshot`), named "stream.field"."""
        rows = self._read("SELECT data FROM snapshots WHERE id = ?", [int(ref)])
        if not rows:
            raise StoreError(f"store {self.path}: no snapshot {ref} (retention may have deleted it)")
        with np.load(io.BytesIO(rows[0][0]), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

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
                con = self._connect()
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
        meta = self._read_meta()
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


def snapshot_arrays(snapshot: Mapping[str, Any], max_bytes: int) -> dict[str, np.ndarray]:
    """The numeric arrays of a Detection's snapshot (stream -> window, frame, array or tuple, walked
    through dataclass fields and tuple items) named "stream.field.0", copied; the largest are left
    out until the rest fit `max_bytes`."""
    arrays: dict[str, np.ndarray] = {}

    def walk(name: str, value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(f"{name}.{f.name}", getattr(value, f.name))
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                walk(f"{name}.{i}", item)
        elif isinstance(value, (np.ndarray, np.number, int, float)):
            array = np.array(value)  # a copy: the caller may reuse its buffers
            if array.dtype.kind in "biuf":
                arrays[name] = array

    for stream, value in snapshot.items():
        walk(stream, value)
    total = sum(a.nbytes for a in arrays.values())
    for name in sorted(arrays, key=lambda n: arrays[n].nbytes, reverse=True):
        if total <= max_bytes:
            break
        total -= arrays.pop(name).nbytes
    return arrays


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _wall_offset(wall_offset: float | None) -> float:
    """Seconds to add to a host monotonic time to get wall-clock time (default: measured now)."""
    return time.time() - time.monotonic() if wall_offset is None else float(wall_offset)
