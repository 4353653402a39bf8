"""A bounded hand-over between threads: a slow consumer never stalls the producer.

Used between a source's reader thread and its consumer (edgebind.drivers) and between the node's
threads (edgebind.runtime).

Full, it drops the oldest item and counts it (`drops`); `lossless=True` (offline sources: replay,
an as-fast-as-possible sim) makes `put` wait for room instead, so nothing is lost.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """At most `capacity` items, oldest dropped first (or waited for, when lossless); `on_drop(item)`
    hears of each dropped item."""

    def __init__(self, capacity: int, lossless: bool = False, on_drop: Callable[[T], None] | None = None) -> None:
        self.capacity, self.lossless, self.on_drop = capacity, lossless, on_drop
        self.drops = 0
        self._items: deque[T] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T) -> bool:
        """Add `item`; False once the queue is closed."""
        with self._cond:
            while self.lossless and len(self._items) >= self.capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            if len(self._items) >= self.capacity:
                dropped = self._items.popleft()
                self.drops += 1
                if self.on_drop is not None:
                    self.on_drop(dropped)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get_many(self, limit: int, timeout: float | None = None) -> list[T]:
        """Up to `limit` items, waiting up to `timeout` s for the first; [] when none came or the
        queue is closed and empty."""
        with self._cond:
            self._wait_for_items(timeout)
            items = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
            self._cond.notify_all()
            return items

    def _wait_for_items(self, timeout: float | None) -> None:
        """Under the lock: wait until an item is there, the queue is closed, or `timeout` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._items and not self._closed:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            self._cond.wait(left)

    def close(self) -> None:
        """No more items will be put; waiting getters and putters wake up."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed_and_empty(self) -> bool:
        with self._cond:
            return self._closed and not self._items

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
