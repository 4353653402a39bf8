"""Items of several sources as they arrive, for a consumer that serves them all (recorder, node)."""
from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator

from edgebind.drivers.chunks import Item
from edgebind.drivers.source import Source


def merge(sources: Iterable[Source], stop: threading.Event | None = None, idle_s: float = 0.005) -> Iterator[Item]:
    """Yield items of the open `sources` in arrival order (per source), until every source has
    finished or `stop` is set. A source's error is raised when it is reached."""
    active = list(sources)
    while active and not (stop is not None and stop.is_set()):
        idle = True
        for source in list(active):
            item = source.read(timeout=0)
            if item is not None:
                idle = False
                yield item
            elif source.finished:
                active.remove(source)
        if idle:
            time.sleep(idle_s)
