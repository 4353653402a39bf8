"""Publish a running node's outputs to its ApiServer from a thread, as `edgebind run --serve` does."""
from __future__ import annotations

import threading
from contextlib import contextmanager


@contextmanager
def publishing(node, api):
    """While the block runs, a thread reads the node's outputs and publishes each to `api`."""
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            item = node.read(0.1)
            if item is not None:
                api.publish(item)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
