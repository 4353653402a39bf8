"""Who may use the node's API and how a client asks it: address parsing, the token rule, the ASGI
token and body-size guard, and `api_request` (kept apart so a client needs no server libraries)."""
import contextlib
import hmac
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping

from edgebind.errors import ConfigError

DEFAULT_PORT = 8765
MIN_TOKEN_CHARS = 16


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

class Guard:
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
