"""The network API's FastAPI application: routes, request models, JSON errors and the WebSocket stream,
built over an ApiServer (api.py keeps the server's state and threads; this, what HTTP sees of them)."""
import asyncio
import io
import json
import logging
import math
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from edgebind.errors import EdgeBindError, StoreError, require
from edgebind.runtime.api_access import Guard
from edgebind.runtime.web import ASSETS, asset

if TYPE_CHECKING:
    from edgebind.runtime.api import ApiServer, Client

log = logging.getLogger(__name__)

MAX_JSON_VALUES = 1_000_000  # numbers in one snapshot served as JSON; larger ones: ?format=npz
EMBEDDINGS = ("none", "meta", "vectors")  # what a WebSocket client asks of the embeddings
# The files a query may upload, by modality (what the model's loaders read).
UPLOADS = {"audio": (".wav", ".flac", ".ogg"), "vision": (".png", ".jpg", ".jpeg"), "depth": (".png", ".npy"),
           "thermal": (".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg"), "imu": (".csv", ".npy")}


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


class NoStore(Exception):
    """A request that needs the node's store, on a node without one (409)."""


async def _send_records(websocket: Any, client: "Client") -> None:
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


def build_app(server: "ApiServer") -> Any:
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

    @app.exception_handler(NoStore)
    async def no_store(request: Any, exc: NoStore) -> JSONResponse:
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
    async def stream(websocket: fastapi.WebSocket,
                     embeddings: Literal[EMBEDDINGS] = "none",  # type: ignore[valid-type]
                     previews: bool = False) -> None:
        client = server.add_client(embeddings, previews)
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
            server.remove_client(client)

    return Guard(app, server.token, server.max_body, {"/query/file": server.max_upload})
