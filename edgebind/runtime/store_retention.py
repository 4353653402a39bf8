"""The store's retention: deleting the oldest moments and closed events by age and by size, as plain
functions on the writer thread's connection."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)


def retain(db: Any, path: str, max_age_s: float | None, max_bytes: int | None, rows: int) -> Iterator[int]:
    """Delete the oldest moments and closed events of the store at `path`: older than max_age_s, then
    until the file's used pages fit 70% of max_bytes (the rest is room for the write-ahead log and
    one commit). `rows`: the moments stored; yields how many moments each deletion took, as it commits them."""
    if max_age_s is not None:
        cutoff = time.time() - max_age_s
        deleted = 10_000
        while deleted >= 10_000:
            moments, events = delete_oldest(db, 10_000, cutoff)
            rows -= moments
            yield moments
            deleted = moments + events
    if max_bytes is not None:
        budget = 0.7 * max_bytes
        while (used := used_bytes(db)) > budget:
            per_row = used / max(1, rows)
            moments, events = delete_oldest(db, max(256, math.ceil((used - budget) / per_row)))
            rows -= moments
            yield moments
            if not moments + events:
                log.warning("store %s: over max_bytes with nothing left to delete (open events?)", Path(path))
                break


def delete_oldest(db: Any, limit: int, cutoff: float = math.inf) -> tuple[int, int]:
    """Delete up to `limit` oldest moments that start before `cutoff`, then the closed events (and
    their snapshots) that ended before the oldest moment kept; how many moments and events went."""
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
    return len(ids), events


def used_bytes(db: Any) -> int:
    """Bytes of the file's pages in use (free pages left out)."""
    pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                         for p in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * size
