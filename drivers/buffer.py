"""A bounded, thread-safe hand-over between a source's reader thread and its consumer.

Live sources never wait for a slow consumer: a full buffer drops its oldest chunk, counts it, and
the consumer receives one Gap saying how many were lost before the next chunk. Offline sources
(replay, an as-fast-as-possible sim) ask for back-pressure instead and lose nothing.
"""
from __future__ import annotations

import time

from edgebind.drivers.chunks import Chunk, Gap, Item
from edgebind.queues import BoundedQueue


class ChunkBuffer(BoundedQueue[Item]):
    """At most `capacity` items; `lossless=True` makes `put` wait for room instead of dropping.
    `drops` counts dropped chunks; a dropped Gap's reason is passed on with the loss Gap."""

    def __init__(self, source: str, capacity: int, lossless: bool = False) -> None:
        super().__init__(capacity, lossless, self._lost)
        self.source = source
        self._lost_chunks = 0  # dropped since the consumer last heard of it
        self._lost_gaps: list[str] = []  # reasons of dropped Gap markers, reported with the drop
        self._error: BaseException | None = None

    def _lost(self, old: Item) -> None:
        """Account for the oldest item, dropped by `put` (under the lock)."""
        if isinstance(old, Chunk):
            self._lost_chunks += 1
        else:
            self.drops -= 1  # a Gap marker is no lost data
            self._lost_gaps.append(old.reason)
            self._lost_chunks += old.dropped

    def get(self, timeout: float | None = None) -> Item | None:
        """The next item (a Gap first if anything was dropped); None when none came within
        `timeout` or the buffer is closed and empty. Re-raises the producer's error at the end."""
        with self._cond:
            self._wait_for_items(timeout)
            if self._lost_chunks or self._lost_gaps:
                return self._loss_gap()
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return None

    def _loss_gap(self) -> Gap:
        reasons = list(self._lost_gaps)
        if self._lost_chunks:
            reasons.append(f"{self._lost_chunks} chunk(s) dropped: the consumer is slower than the source")
        gap = Gap(self.source, "; ".join(reasons), time.monotonic(), self._lost_chunks)
        self._lost_chunks, self._lost_gaps = 0, []
        return gap

    def close(self, error: BaseException | None = None) -> None:
        """No more items will come; `error` (if any) is raised to the consumer after the last item."""
        with self._cond:
            self._error = error
        super().close()

    @property
    def exhausted(self) -> bool:
        """Closed, and every item (and the closing error) handed over."""
        with self._cond:
            return self._closed and not self._items and self._error is None and not self._lost_chunks
