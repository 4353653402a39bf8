"""The node's local network API: HTTP + WebSocket, JSON, with an OpenAPI document (FastAPI + uvicorn).

`ApiServer(node, host, port, token)` serves a running Node from a thread inside the node's process:
health, stats, events, queries over the store, snapshots, and a WebSocket stream of what the node's
output loop hands to `publish(item)`. It is built so that no client can disturb the node: request
bodies are capped, inputs validated (a 4xx with a JSON `{"error": ...}`), queries run one at a time,
and each WebSocket client has a bounded queue that drops its oldest messages (and says how many)
instead of growing or blocking the publisher. Beyond loopback it refuses to start without a token.

The routes are in `api_routes`; the token check and the client (`api_request`) in `api_access`.
"""
import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from edgebind.config import parse_duration
from edgebind.errors import ConfigError, InputError, require
from edgebind.runtime.api_access import DEFAULT_PORT, check_access
from edgebind.runtime.api_routes import UPLOADS, NoStore, build_app, jsonable
from edgebind.runtime.detector import Detection
from edgebind.queues import BoundedQueue
from edgebind.runtime.sinks import detection_record, embedding_record, moment_record, stored_event_record
from edgebind.runtime.web import Previews, render_media, snapshot_media

log = logging.getLogger(__name__)


class Client:
    """One WebSocket client: a bounded queue of its JSON records (oldest dropped first, counted) and
    an event that wakes its sender, scheduled at most once at a time so a stalled loop queues nothing."""

    def __init__(self, capacity: int, embeddings: str, loop: asyncio.AbstractEventLoop, previews: bool = False) -> None:
        self.embeddings, self.loop, self.previews = embeddings, loop, previews
        self.queue: BoundedQueue[dict] = BoundedQueue(capacity)
        self.reported = 0  # drops already told to the client
        self.wake = asyncio.Event()
        self._lock = threading.Lock()
        self._scheduled = False

    def offer(self, record: dict) -> None:
        """Queue `record` (any thread; never waits) and wake the sender."""
        self.queue.put(record)
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the server's loop has stopped
            self.loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        with self._lock:
            self._scheduled = False
        self.wake.set()


class ApiServer:
    """`ApiServer(node, "127.0.0.1", 8765).start()`, then `publish(item)` for each node output; `stop()`.

    Serves on a background thread (uvicorn, its own event loop). `token`: required of every request
    (`Authorization: Bearer TOKEN`, or `?token=` on the WebSocket) except /health; mandatory when
    `host` is not a loopback address. Port 0 picks a free port (`server.port` says which).
    """

    def __init__(self, node: Any, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: "str | None" = None,
                 *, client_queue: int = 256, max_clients: int = 16, max_body: int = 64 * 1024,
                 max_upload: int = 8 << 20, recent_events: int = 1000) -> None:
        check_access(host, token)
        if min(client_queue, max_clients, max_body, max_upload, recent_events) < 1:
            raise ConfigError("ApiServer client_queue, max_clients, max_body, max_upload and recent_events must be >= 1")
        self.node, self.host, self.port, self.token = node, host, int(port), token
        self.client_queue, self.max_clients, self.max_body = client_queue, max_clients, max_body
        self.max_upload = max_upload
        self._recent: deque[dict] = deque(maxlen=recent_events)  # detections, for /events without a store
        self._clients: set[Client] = set()
        self._lock = threading.Lock()
        self._counts = {"published": 0, "clients_served": 0, "client_drops": 0}
        self._wall_offset = time.time() - time.monotonic()
        self._started = time.monotonic()
        self._server: Any = None
        self._thread: "threading.Thread | None" = None
        self._previews = Previews(node, self._publish_preview, self._wants_previews, wall_offset=self._wall_offset)
        self._cpu = (time.monotonic(), time.process_time(), 0.0)  # when, process CPU seconds, % of one core

    # --- life cycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "ApiServer":
        """Bind (a clear ConfigError if the address is taken) and serve until `stop()`."""
        uvicorn = require("uvicorn", "serve", "the network API (--serve)")
        app = build_app(self)
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.create_server((self.host, self.port), family=family)
        except OSError as exc:
            raise ConfigError(f"cannot serve the API on {self.host}:{self.port}: {exc.strerror}; choose another "
                              "--serve address or port") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                loop="asyncio", http="h11", ws="websockets-sansio", ws_max_size=self.max_body,
                                ws_per_message_deflate=False, proxy_headers=False, server_header=False,
                                limit_concurrency=self.max_clients + 32, timeout_keep_alive=5,
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="edgebind-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"the API did not start on {self.host}:{self.port} (see the log above)")
            time.sleep(0.01)
        self._previews.start()
        log.info("api: serving on http://%s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        """Close every connection and join the server's threads. Idempotent."""
        self._previews.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "::1" if self.host == "::" else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    # --- the node's side ------------------------------------------------------------------------
    def publish(self, item: Any) -> None:
        """Hand one node output (Embedding or Detection) to the WebSocket clients, and remember
        detections for /events; from any thread, never waits (a slow client loses its oldest)."""
        with self._lock:
            clients = tuple(self._clients)
            self._counts["published"] += 1
        if isinstance(item, Detection):
            record = detection_record(item, self._wall_offset)
            self._recent.append(record)
            for client in clients:
                client.offer(record)
            return
        records: dict[str, dict] = {}
        for client in clients:
            if client.embeddings != "none":
                if client.embeddings not in records:
                    records[client.embeddings] = embedding_record(item, self._wall_offset,
                                                                  vector=client.embeddings == "vectors")
                client.offer(records[client.embeddings])

    def _wants_previews(self) -> bool:
        with self._lock:
            return any(c.previews for c in self._clients)

    def _publish_preview(self, record: dict) -> None:
        """Hand a tile message (edgebind.runtime.web) to the clients that asked for previews."""
        with self._lock:
            clients = [c for c in self._clients if c.previews]
        for client in clients:
            client.offer(record)

    def stats(self) -> dict[str, Any]:
        """Clients connected, items published, messages dropped for slow clients, their queues, previews sent."""
        with self._lock:
            clients = tuple(self._clients)
            counts = dict(self._counts)
        counts["client_drops"] += sum(c.queue.drops for c in clients)
        return {"clients": len(clients), "client_queues": [len(c.queue) for c in clients], **counts,
                "previews": self._previews.sent}

    def process_stats(self) -> dict[str, Any]:
        """The node's process: CPU (% of one core, over the last second or more) and resident memory."""
        now, cpu = time.monotonic(), time.process_time()
        with self._lock:
            then, cpu_then, percent = self._cpu
            if now - then >= 1.0:
                percent = 100 * (cpu - cpu_then) / (now - then)
                self._cpu = (now, cpu, percent)
        return {"cpu_percent": round(percent, 1), "rss_bytes": _rss_bytes()}

    # --- what the endpoints call (on worker threads) -------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"status": "finished" if self.node.finished else "running",
                "uptime_s": round(time.monotonic() - self._started, 1)}

    def node_stats(self) -> dict[str, Any]:
        stats = {**self.node.stats(), "api": self.stats(), "process": self.process_stats(),
                 "backend": self.node.backend.describe(), "model": self.node.backend.model_id}
        if self.node.store is not None:
            retention = self.node.config.store
            stats["store"] = {**self.node.store.stats(), "max_age_s": retention.max_age_s,
                              "max_bytes": retention.max_bytes}
        return jsonable(stats)

    def event_config(self) -> dict[str, Any]:
        """The events the node detects: name, prompts, modalities, configured and effective thresholds."""
        thresholds = self.node.event_thresholds()
        return {"threshold": self.node.config.detector.threshold,
                "events": [{"name": e.name, "prompts": list(e.prompts or (e.name,)), "examples": list(e.examples),
                            "modalities": list(e.modalities), "threshold": e.threshold,
                            "thresholds": thresholds.get(e.name, {})} for e in self.node.config.events]}

    def set_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Detect `events` from now on (`node.set_events`); an event keeps the example files it had
        under its name (the API names no files on the node)."""
        examples = {e.name: e.examples for e in self.node.config.events}
        names = [e["name"] for e in events]
        if len(set(names)) != len(names):
            raise InputError(f"event names must be unique, got {names}")
        self.node.set_events([{**e, "examples": examples.get(e["name"], ())} for e in events])
        return self.event_config()

    def events(self, last: "str | None", limit: int) -> dict[str, Any]:
        last_s = None if last is None else parse_duration(last, "last")
        if self.node.store is not None:
            return {"from": "store", "events": [stored_event_record(e)
                                                for e in self.node.store.events(last_s=last_s, limit=limit)]}
        since = -math.inf if last_s is None else time.time() - last_s
        recent = [r for r in reversed(self._recent) if r["wall_time"] >= since]
        return {"from": "memory", "events": recent[:limit]}

    def query(self, terms: list[str], k: int, last: "str | float | None", modalities: "list[str] | None") -> dict:
        from edgebind.runtime.queries import term_modality

        if self.node.store is None:
            raise NoStore()
        files = [t for t in terms if term_modality(t) != "text"]
        if files:
            raise InputError(f"terms {files} name files on the node's machine; over the API a term is a text "
                             "(query example files with `edgebind query --store` on the node's machine)")
        last_s = None if last is None else parse_duration(last, "last")
        moments = self.node.query(*terms, k=k, last_s=last_s, modalities=modalities)
        return {"moments": [moment_record(i + 1, m) for i, m in enumerate(moments)]}

    def query_file(self, data: bytes, modality: str, filename: str, k: int, last: "str | None",
                   modalities: "list[str] | None") -> dict:
        """`query` by an uploaded file of `modality` (its type from `filename`'s suffix), embedded from a
        private temporary copy that is deleted at once."""
        import tempfile
        from pathlib import PurePath

        if self.node.store is None:
            raise NoStore()
        suffix = PurePath(filename).suffix.lower()
        if suffix not in UPLOADS[modality]:
            raise InputError(f"a {modality} file must be one of {', '.join(UPLOADS[modality])}, got {filename!r}")
        if not data:
            raise InputError(f"the uploaded file {filename!r} is empty")
        last_s = None if last is None else parse_duration(last, "last")
        with tempfile.TemporaryDirectory(prefix="edgebind-upload-") as folder:
            path = os.path.join(folder, f"upload{suffix}")
            with open(path, "wb") as file:
                file.write(data)
            try:
                moments = self.node.query(f"{modality}:{path}", k=k, last_s=last_s, modalities=modalities)
            except InputError as exc:  # the loader's message, naming the upload instead of the copy
                raise InputError(str(exc).replace(path, repr(filename))) from None
        return {"moments": [moment_record(i + 1, m) for i, m in enumerate(moments)]}

    def snapshot(self, ref: int) -> dict[str, np.ndarray]:
        if self.node.store is None:
            raise NoStore()
        return self.node.store.snapshot(ref)

    def snapshot_media(self, ref: int, name: "str | None") -> Any:
        """What a browser can show of snapshot `ref` (a list), or array `name` of it rendered (see web)."""
        arrays = self.snapshot(ref)
        return {"id": ref, "media": snapshot_media(arrays)} if name is None else render_media(arrays, name)

    # --- WebSocket clients (on the server's event loop) -------------------------------------------
    def add_client(self, embeddings: str, previews: bool = False) -> "Client | None":
        """A new WebSocket client's queue, or None when max_clients are connected already."""
        with self._lock:
            if len(self._clients) >= self.max_clients:
                return None
            client = Client(self.client_queue, embeddings, asyncio.get_running_loop(), previews)
            self._clients.add(client)
            self._counts["clients_served"] += 1
            return client

    def remove_client(self, client: Client) -> None:
        """Forget a disconnected client, counting the records it dropped."""
        with self._lock:
            self._clients.discard(client)
            self._counts["client_drops"] += client.queue.drops


def _rss_bytes() -> "int | None":
    """This process's resident memory (Linux /proc), else its peak (getrusage), else None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with contextlib.suppress(ImportError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return None
