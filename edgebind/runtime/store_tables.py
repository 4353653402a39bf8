"""The store's tables in its SQLite file: their schema, opening a file as a store (after checking it
is one), and the SQL that writes rows and reads them back as records (Moment, StoredEvent)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sqlean as sqlite3
import sqlite_vec

from edgebind.errors import StoreError
from edgebind.runtime.store_snapshots import npz_bytes

SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
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
Read = Callable[[str, Sequence[Any]], list[tuple]]  # runs a SELECT on a reader's connection


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


def read_meta(path: Path) -> dict[str, str] | None:
    """The store's meta table, read-only; None for no file or an empty one."""
    if not path.exists():
        return None
    if not path.is_file():
        raise StoreError(f"store {path} exists and is not a file; pass the path of a store file")
    with open(path, "rb") as f:
        header = f.read(len(SQLITE_MAGIC))
    if not header:
        return None  # an empty file holds nothing to lose
    if header != SQLITE_MAGIC:
        raise StoreError(f"{path} is not an edgebind store (not a SQLite database); it was left "
                         "untouched: move it away or pass another store path")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "no such table: meta" in str(exc):
            raise StoreError(f"{path} is a SQLite database but not an edgebind store (no meta table); "
                             "it was left untouched: pass another store path") from None
        raise StoreError(f"{path} is a corrupt or unreadable store ({exc}); it was left untouched: "
                         "move it away (a new store starts empty) or pass another store path") from None
    if int(meta.get("schema_version", -1)) != SCHEMA_VERSION:
        raise StoreError(f"{path} has store schema version {meta.get('schema_version')}, this edgebind "
                         f"reads version {SCHEMA_VERSION}: upgrade edgebind or pass another store path")
    return meta


def connect(path: Path) -> Any:
    """A connection to the store file with sqlite-vec loaded, usable from any thread."""
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    con.enable_load_extension(True)
    sqlite_vec.load(con)
    con.enable_load_extension(False)
    return con


def open_schema(db: Any, dim: int, model_id: str, max_bytes: int | None) -> tuple[int, int]:
    """Set the writer's connection up (WAL), create the tables in a new file and close the events a
    killed node left open; the next moment id and how many moments the file holds."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses no commit
    # A small log for a small store: checkpoints keep the WAL near a 16th of max_bytes.
    wal_pages = 1000 if max_bytes is None else max(32, min(1000, max_bytes // 4096 // 16))
    db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
    db.execute(f"PRAGMA journal_size_limit={wal_pages * 4096}")
    db.execute("BEGIN IMMEDIATE")
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        for statement in _SCHEMA.format(dim=dim).split(";"):
            if statement.strip():
                db.execute(statement)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)), ("dim", str(dim)), ("model_id", model_id),
            ("created", repr(time.time()))])
    # Events a killed node left open can never receive their end: close them at its last moment.
    db.execute("UPDATE events SET t_close = max(t_open, coalesce((SELECT t_end FROM moments ORDER BY id DESC "
               "LIMIT 1), t_open)) WHERE t_close IS NULL")
    db.execute("COMMIT")
    next_id = (db.execute("SELECT max(id) FROM moments").fetchone()[0] or 0) + 1
    return next_id, db.execute("SELECT count(*) FROM moments").fetchone()[0]


def write_rows(db: Any, first_id: int, rows: Sequence[tuple], events: Sequence[tuple]) -> None:
    """Commit embedding rows (vector bytes, modality, source, t_start, t_end), numbered from
    `first_id`, and queued detections, in one transaction."""
    ids = range(first_id, first_id + len(rows))
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO moments(id, t_start, t_end, source) VALUES (?, ?, ?, ?)",
                   [(i, r[3], r[4], r[2]) for i, r in zip(ids, rows)])
    db.executemany("INSERT INTO vectors(rowid, embedding, modality, t) VALUES (?, ?, ?, ?)",
                   [(i, r[0], r[1], r[3]) for i, r in zip(ids, rows)])
    for item in events:
        _write_event(db, *item)
    db.execute("COMMIT")


def _write_event(db: Any, kind: str, event: str, source: str, modality: str, t: float, t_open: float,
                 score: float, host_open: float, arrays: Mapping[str, np.ndarray]) -> None:
    if kind == "end":
        closed = db.execute("UPDATE events SET t_close = ?, peak = max(peak, ?) WHERE t_close IS NULL AND "
                            "event = ? AND source = ? AND modality = ? AND host_open = ?",
                            (t, score, event, source, modality, host_open))
        if closed.rowcount:
            return  # else its start came before this store was opened: keep the end alone
    snapshot = db.execute("INSERT INTO snapshots(data) VALUES (?)", (npz_bytes(arrays),)).lastrowid if arrays else None
    db.execute("INSERT INTO events(event, source, modality, t_open, t_close, score, peak, host_open, snapshot) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (event, source, modality, t_open, t if kind == "end" else None, score, score, host_open, snapshot))


def select_moments(read: Read, query: bytes, k: int, since: float | None, until: float | None,
                   modalities: Sequence[str] | None) -> list[Moment]:
    """The k moments nearest (cosine) to `query` (float32 bytes), best first, among those of
    `modalities` starting within [since, until]: the filters apply inside the exact KNN scan."""
    where, args = ["embedding MATCH ?", "k = ?"], [query, int(k)]
    if modalities is not None:
        if not modalities:
            return []
        where.append(f"modality IN ({', '.join('?' * len(modalities))})")
        args += list(modalities)
    for op, bound in ((">=", since), ("<=", until)):
        if bound is not None:
            where.append(f"t {op} ?")
            args.append(float(bound))
    rows = read(
        f"WITH knn AS (SELECT rowid, distance, modality FROM vectors WHERE {' AND '.join(where)}) "
        "SELECT m.id, m.source, knn.modality, m.t_start, m.t_end, 1 - knn.distance, "
        "(SELECT e.snapshot FROM events e WHERE e.snapshot IS NOT NULL AND e.t_open <= m.t_end "
        " AND coalesce(e.t_close, 1e300) >= m.t_start ORDER BY e.t_open DESC LIMIT 1) "
        "FROM knn JOIN moments m ON m.id = knn.rowid ORDER BY knn.distance, m.id", args)
    return [Moment(*row) for row in rows]


def select_events(read: Read, since: float | None, until: float | None, names: Sequence[str] | None,
                  limit: int) -> list[StoredEvent]:
    """Stored events opened within [since, until] (of `names`, if given), newest first, at most `limit`."""
    where, args = ["1"], []
    for clause, value in (("t_open >= ?", since), ("t_open <= ?", until)):
        if value is not None:
            where.append(clause)
            args.append(float(value))
    if names is not None:
        where.append(f"event IN ({', '.join('?' * len(names))})")
        args += list(names)
    rows = read("SELECT id, event, source, modality, t_open, t_close, score, peak, snapshot FROM events "
                f"WHERE {' AND '.join(where)} ORDER BY t_open DESC, id DESC LIMIT ?", args + [int(limit)])
    return [StoredEvent(*row) for row in rows]
