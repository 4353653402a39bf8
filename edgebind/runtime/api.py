"""The node's local network API: HTTP + WebSocket, JSON, with an OpenAPI document (FastAPI + uvicorn).

`ApiServer(node, host, port, token)` serves a running Node from a thread inside the node's process:
health, stats, events, queries over the store, snapshots, and a WebSocket stream of what the node's
output loop hands to `publish(item)`. It is built so that no client can disturb the node: request
bodies are capped, inputs validated (a 4xx with a JSON `{"error": ...}`), queries run one at a time,
and each WebSocket client has a bounded queue that drops its oldest messages (and says how many)
instead of growing or blocking the publisher. Beyond loopback it refuses to start without a token.
"""
import asyncio
import contextlib
import hmac
import ipaddress
import io
import json
import logging
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, Mapping

import numpy as np

from edgebind.config import parse_duration
from edgebind.errors import ConfigError, EdgeBindError, InputError, StoreError, require
from edgebind.runtime.detector import Detection
from edgebind.queues import BoundedQueue
from edgebind.runtime.sinks import detection_record, embedding_record, moment_record, stored_event_record
from edgebind.runtime.web import ASSETS, Previews, asset, render_media, snapshot_media

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
MIN_TOKEN_CHARS = 16
MAX_JSON_VALUES = 1_000_000  # numbers in one snapshot served as JSON; larger ones: ?format=npz
EMBEDDINGS = ("none", "meta", "vectors")  # what a WebSocket client asks of the embeddings
# The files a query may upload, by modality (what the model's loaders read).
UPLOADS = {"audio": (".wav", ".flac", ".ogg"), "vision": (".png", ".jpg", ".jpeg"), "depth": (".png", ".npy"),
           "thermal": (".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg"), "imu": (".csv", ".npy")}


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) from "HOST:PORT", "[::1]:PORT", ":PORT" or "PORT" (host 127.0.0.1)."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--serve {text!r}: give HOST:PORT with a port in 0..65535, e.g. 127.0.0.1:{DEFAULT_PORT}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches: 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def check_access(host: str, token: "str | None") -> None:
    """A ConfigError unless `token` is long enough, or absent and `host` only reachable from this machine."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"the API token must have at least {MIN_TOKEN_CHARS} characters; make one with "
                          "python -c 'import secrets; print(secrets.token_urlsafe())'")
    if token is None and not is_loopback(host):
        raise ConfigError(f"serving the API on {host} (beyond this machine) requires a token: pass --token "
                          "(or set EDGEBIND_API_TOKEN), or serve on 127.0.0.1")


def jsonable(value: Any) -> Any:
    """`value` made of JSON types: dataclasses and mappings to objects, enums to their values, numpy
    scalars to numbers, NaN and infinities to null."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class _Client:
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
        self._clients: set[_Client] = set()
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
        from edgebind.runtime.node import term_modality

        if self.node.store is None:
            raise _NoStore()
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
            raise _NoStore()
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
            raise _NoStore()
        return self.node.store.snapshot(ref)

    def snapshot_media(self, ref: int, name: "str | None") -> Any:
        """What a browser can show of snapshot `ref` (a list), or array `name` of it rendered (see web)."""
        arrays = self.snapshot(ref)
        return {"id": ref, "media": snapshot_media(arrays)} if name is None else render_media(arrays, name)

    # --- WebSocket clients (on the server's event loop) -------------------------------------------
    def _add_client(self, embeddings: str, previews: bool = False) -> "_Client | None":
        with self._lock:
            if len(self._clients) >= self.max_clients:
                return None
            client = _Client(self.client_queue, embeddings, asyncio.get_running_loop(), previews)
            self._clients.add(client)
            self._counts["clients_served"] += 1
            return client

    def _remove_client(self, client: _Client) -> None:
        with self._lock:
            self._clients.discard(client)
            self._counts["client_drops"] += client.queue.drops


class _NoStore(Exception):
    """A request that needs the node's store, on a node without one (409)."""


async def _send_records(websocket: Any, client: _Client) -> None:
    """Send the client's queued records as they come; before them, how many were dropped since the last notice."""
    while True:
        await client.wake.wait()
        client.wake.clear()
        while batch := client.queue.get_many(64, timeout=0):
            drops = client.queue.drops
            if drops > client.reported:
                await websocket.send_text(json.dumps({"type": "dropped", "count": drops - client.reported,
                                                      "total": drops}))
                client.reported = drops
            for record in batch:
                await websocket.send_text(json.dumps(record))


async def _until_disconnect(websocket: Any) -> None:
    """Read (and ignore) what the client sends, until it leaves."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def build_app(server: ApiServer) -> Any:
    """The FastAPI application of `server` (routes, limits, token check, JSON errors)."""
    fastapi = require("fastapi", "serve", "the network API (--serve)")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException
    from starlette.websockets import WebSocketDisconnect

    from typing import Annotated, Literal, Optional, Union

    import anyio

    from edgebind.runtime.store import MAX_K

    Term = Annotated[str, Field(min_length=1, max_length=1000)]

    class QueryRequest(BaseModel):
        """Moments most like the sum of `terms` (texts), best first."""

        model_config = ConfigDict(extra="forbid")
        terms: list[Term] = Field(min_length=1, max_length=16, examples=[["a dog barking"]])
        k: int = Field(5, ge=1, le=min(1000, MAX_K))
        last: Optional[Union[str, float]] = Field(None, description='only moments that began within this, e.g. "5m"')
        modalities: Optional[list[Annotated[str, Field(max_length=32)]]] = Field(None, max_length=16)

    Modality = Annotated[str, Field(min_length=1, max_length=32)]

    class EventRequest(BaseModel):
        """One event to detect: its name, text prompts (default: the name), threshold, modalities."""

        model_config = ConfigDict(extra="forbid")
        name: Annotated[str, Field(min_length=1, max_length=200)]
        prompts: list[Term] = Field(default_factory=list, max_length=32)
        threshold: Optional[float] = Field(None, gt=0, lt=1)
        modalities: list[Modality] = Field(default_factory=list, max_length=8)

    class EventsRequest(BaseModel):
        """The whole set of events to detect from now on (an empty list: none)."""

        model_config = ConfigDict(extra="forbid")
        events: list[EventRequest] = Field(max_length=64)

    app = fastapi.FastAPI(
        title="edgebind node", version="1", docs_url=None, redoc_url=None, max_body_size=server.max_body,
        description="The live perception node. WebSocket `/ws?embeddings=none|meta|vectors&previews=false|true` "
                    "streams events (and embeddings, and with previews the web view's tile messages) as JSON; "
                    "`{\"type\": \"dropped\"}` messages count what a slow client lost. The web view is at `/`.")
    one_at_a_time = anyio.CapacityLimiter(1)  # queries and store reads never pile up on the node's CPU

    async def call(fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=one_at_a_time)

    def error(status: int, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no endpoint {request.method} {request.url.path}; the endpoints are listed at /openapi.json"
        elif exc.status_code == 413:
            limit = server.max_upload if request.url.path == "/query/file" else server.max_body
            message = f"request body over {limit} bytes"
        response = error(exc.status_code, message)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors()[:20]]  # the inputs are not echoed back
        summary = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
        return error(422, f"invalid request: {summary}", detail=problems)

    @app.exception_handler(_NoStore)
    async def no_store(request: Any, exc: _NoStore) -> JSONResponse:
        return error(409, "this node keeps no memory to query: run it with --store FILE.db")

    @app.exception_handler(EdgeBindError)
    async def edgebind_error(request: Any, exc: EdgeBindError) -> JSONResponse:
        missing = isinstance(exc, StoreError) and "no snapshot" in str(exc)
        status = 404 if missing else 503 if isinstance(exc, StoreError) else 400
        return error(status, str(exc))

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return Response(asset("index.html"), media_type=ASSETS["index.html"],
                        headers={"Cache-Control": "no-cache"})

    @app.get("/web/{name}", include_in_schema=False)
    async def page_file(name: str) -> Response:
        if name not in ASSETS:
            return error(404, f"no file {name!r} in the web view")
        return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.get("/health", summary="Liveness (needs no token)")
    async def health() -> dict:
        return server.health()

    @app.get("/stats", summary="Per-stream windows, drops, latency; queue depth; sources; store; API clients")
    async def stats() -> dict:
        return await call(server.node_stats)

    @app.get("/events", summary="Recent events, newest first (from the store, else those seen since the API started)")
    async def events(last: Annotated[Optional[str], fastapi.Query(max_length=32, examples=["5m"])] = None,
                     limit: Annotated[int, fastapi.Query(ge=1, le=1000)] = 100) -> dict:
        return await call(server.events, last, limit)

    @app.post("/query", summary="Stored moments most like the texts (needs a store: else 409)")
    async def query(request: QueryRequest) -> dict:
        return await call(server.query, request.terms, request.k, request.last, request.modalities)

    @app.post("/query/file", summary="Stored moments most like an uploaded file (the request body: audio, image, "
                                      "depth, thermal or IMU, named by ?filename=; at most max_upload bytes)",
              max_body_size=server.max_upload,
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                                  "format": "binary"}}}}})
    async def query_file(request: fastapi.Request, modality: Literal[tuple(UPLOADS)],  # type: ignore[valid-type]
                         filename: Annotated[str, fastapi.Query(min_length=1, max_length=200)],
                         k: Annotated[int, fastapi.Query(ge=1, le=min(1000, MAX_K))] = 5,
                         last: Annotated[Optional[str], fastapi.Query(max_length=32)] = None,
                         modalities: Annotated[Optional[list[str]], fastapi.Query(max_length=16)] = None) -> dict:
        data = await request.body()
        return await call(server.query_file, data, modality, filename, k, last, modalities)

    @app.get("/config/events", summary="The events the node detects, with their thresholds per modality")
    async def get_events() -> dict:
        return await call(server.event_config)

    @app.put("/config/events", summary="Replace the events the node detects (applied without a restart)")
    async def put_events(request: EventsRequest) -> dict:
        return await call(server.set_events, [e.model_dump() for e in request.events])

    @app.get("/snapshot/{ref}/media", summary="What a browser can show of an event's snapshot; ?name= renders "
                                              "one array: WAV (audio), PNG (frames, X-Low/X-High: its range), "
                                              "JSON traces (IMU)",
             responses={200: {"content": {"application/json": {}, "audio/wav": {}, "image/png": {}}}})
    async def media(ref: Annotated[int, fastapi.Path(ge=1, le=2**62)],
                    name: Annotated[Optional[str], fastapi.Query(max_length=300)] = None) -> Any:
        answer = await call(server.snapshot_media, ref, name)
        if name is None or isinstance(answer[0], dict):
            return answer if name is None else answer[0]
        content, media_type, headers = answer
        return Response(content, media_type=media_type, headers=headers)

    @app.get("/snapshot/{ref}", summary="An event's snapshot arrays: JSON, or ?format=npz for numpy's .npz bytes",
             responses={200: {"content": {"application/json": {}, "application/octet-stream": {}}}})
    async def snapshot(ref: Annotated[int, fastapi.Path(ge=1, le=2**62)],
                       format: Literal["json", "npz"] = "json") -> Any:
        arrays = await call(server.snapshot, ref)
        if format == "npz":
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            return Response(buffer.getvalue(), media_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="snapshot-{ref}.npz"'})
        values = sum(a.size for a in arrays.values())
        if values > MAX_JSON_VALUES:
            return error(400, f"snapshot {ref} holds {values} numbers, more than JSON serves ({MAX_JSON_VALUES}): "
                              "ask for ?format=npz")
        return {"id": ref, "arrays": {name: {"dtype": str(a.dtype), "shape": list(a.shape), "data": jsonable(a)}
                                      for name, a in arrays.items()}}

    @app.websocket("/ws")
    async def stream(websocket: fastapi.WebSocket, embeddings: Literal["none", "meta", "vectors"] = "none",
                     previews: bool = False) -> None:
        client = server._add_client(embeddings, previews)
        if client is None:
            await websocket.close(code=1013, reason=f"too many clients (at most {server.max_clients})")
            return
        try:
            await websocket.accept()
            tasks = {asyncio.ensure_future(_send_records(websocket, client)),
                     asyncio.ensure_future(_until_disconnect(websocket))}
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception) and not isinstance(outcome, (WebSocketDisconnect, OSError)):
                    log.debug("api: a WebSocket client left: %r", outcome)
        finally:
            server._remove_client(client)

    return _Guard(app, server.token, server.max_body, {"/query/file": server.max_upload})


class _Guard:
    """ASGI, before anything else: every request but /health and the web view's static files (which hold
    no data: the page asks for the token) must carry the token (`Authorization:
    Bearer`, or `?token=` on a WebSocket), else 401 (a WebSocket: closed with 1008 before it opens);
    a declared body over `max_body` bytes (or the path's own limit in `limits`) is refused with 413
    unread (FastAPI caps streamed ones)."""

    def __init__(self, app: Any, token: "str | None", max_body: int, limits: "Mapping[str, int] | None" = None) -> None:
        self.app, self.token, self.max_body, self.limits = app, token, max_body, dict(limits or {})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope["path"]
        public = scope["type"] == "http" and (path in ("/health", "/") or path.startswith("/web/"))
        if self.token is not None and not public:
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("token", [None])[0] if scope["type"] == "websocket" else None
            if not _authorised(self.token, headers, given):
                if scope["type"] == "websocket":
                    await receive()  # websocket.connect
                    return await send({"type": "websocket.close", "code": 1008,
                                       "reason": "missing or wrong token: add ?token=TOKEN"})
                return await _json(send, 401, "missing or wrong token: send the header 'Authorization: Bearer TOKEN'",
                                   [(b"www-authenticate", b"Bearer")])
        length, limit = headers.get("content-length", "0"), self.limits.get(path, self.max_body)
        if scope["type"] == "http" and not (length.isdigit() and int(length) <= limit):
            return await _json(send, 413, f"request body over {limit} bytes")
        return await self.app(scope, receive, send)


async def _json(send: Any, status: int, message: str, headers: "list | None" = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _rss_bytes() -> "int | None":
    """This process's resident memory (Linux /proc), else its peak (getrusage), else None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with contextlib.suppress(ImportError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return None


def _authorised(token: "str | None", headers: Mapping[str, str], query_token: "str | None") -> bool:
    if token is None:
        return True
    scheme, _, given = headers.get("authorization", "").partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else (query_token or "")
    return hmac.compare_digest(given.encode(), token.encode())


def api_request(url: str, path: str, body: "Mapping[str, Any] | None" = None, token: "str | None" = None,
                timeout: float = 30.0) -> Any:
    """GET (or, with `body`, POST JSON to) `url` + `path` of a node's API; its JSON answer, or an
    error whose message is the node's."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url.rstrip("/") + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        message = f"HTTP {exc.code} {exc.reason}"
        with contextlib.suppress(ValueError, OSError, AttributeError):
            message = f"{exc.code}: {json.loads(exc.read())['error']}"
        raise ConfigError(f"{url}{path}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach the node's API at {url} ({reason}): is `edgebind run --serve` "
                          "running there?") from None
