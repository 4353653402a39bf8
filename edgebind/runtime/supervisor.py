"""The node's sources under supervision: one that fails mid-run is reported and restarted while
the others keep running.

A source handles a lost device itself (a Gap, then reconnecting); what reaches the supervisor is
an error the source could not get over (a driver failure, or `reconnect: false`). The supervisor
then emits a Gap saying why, counts the failure, and every `restart_interval_s` builds a fresh
source from the same config and tries to open it, until it works or the node stops.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterator

from edgebind.drivers import Gap, Item, Source, SourceConfig, build_source
from edgebind.errors import EdgeBindError

log = logging.getLogger(__name__)


class SupervisedSources:
    """Sources built from `configs`; `items(stop)` yields what they capture, restarting failed ones."""

    def __init__(self, configs: list[SourceConfig], restart_interval_s: float = 5.0) -> None:
        self.configs, self.restart_interval_s = configs, restart_interval_s
        self.sources: list[Source] = [build_source(c) for c in configs]
        self.failures: dict[str, list[str]] = {}  # source name -> errors, oldest first
        self._retry_at: dict[int, float] = {}  # index of a failed source -> when to try again

    def open(self) -> None:
        """Open every source; if one cannot open, close the others and raise its error."""
        try:
            for source in self.sources:
                source.open()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for source in self.sources:
            source.close()

    @property
    def lossless(self) -> bool:
        return all(s.lossless() for s in self.sources)

    def items(self, stop: threading.Event, idle_s: float = 0.005) -> Iterator[Item]:
        """Items as they arrive until every source has finished or `stop` is set."""
        finished: set[int] = set()
        while not stop.is_set() and len(finished) < len(self.sources):
            idle = True
            for i, source in enumerate(self.sources):
                if i in finished:
                    continue
                if i in self._retry_at:
                    self._try_restart(i)
                    continue
                try:
                    item = source.read(timeout=0)
                except Exception as exc:  # noqa: BLE001  (any driver failure: report it, restart the source)
                    yield self._failed(i, exc)
                    continue
                if item is not None:
                    idle = False
                    yield item
                elif source.finished:
                    finished.add(i)
            if idle:
                stop.wait(idle_s)

    def _failed(self, index: int, exc: Exception) -> Gap:
        source = self.sources[index]
        log.error("source %s failed: %s; restarting it every %.0f s", source.name, exc, self.restart_interval_s)
        self.failures.setdefault(source.name, []).append(str(exc))
        source.close()
        self._retry_at[index] = time.monotonic() + self.restart_interval_s
        return Gap(source.name, f"source failed: {exc}; restarting it", time.monotonic())

    def _try_restart(self, index: int) -> None:
        if time.monotonic() < self._retry_at[index]:
            return
        fresh = build_source(self.configs[index])
        try:
            fresh.open()
        except EdgeBindError as exc:
            log.debug("source %s: restart failed: %s", fresh.name, exc)
            self._retry_at[index] = time.monotonic() + self.restart_interval_s
            return
        log.info("source %s: restarted", fresh.name)
        self.sources[index] = fresh
        del self._retry_at[index]
