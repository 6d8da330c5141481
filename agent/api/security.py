"""What the HTTP API refuses, and who may call it: settings, bearer token, size, time and concurrency limits.

Everything here is a guard in front of the forecasting code, configured in one
`ApiSettings` object read from the environment (prefix SHELFCAST_API_). The
Host, body and concurrency guards are plain ASGI middleware: they answer before
FastAPI parses anything, so a hostile or surplus request costs the server
almost nothing. Every refusal is JSON `{"detail": ...}`, down to the HTTP
parser's own 400 (`JsonErrorsH11Protocol`).

Found by the red-team corpus (tests/redteam/) and fixed here: a client that
declared `Content-Length: 1000` and sent less held its socket forever (now 408
after `body_timeout_s`; request headers that never finish are closed after
`header_timeout_s`); any `Host` was accepted, so a web page could drive a
loopback server through DNS rebinding (now 400 unless the Host is the bound
address, a loopback name or in `allowed_hosts`); `Content-Length: -5` got
uvicorn's plain-text 400.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import h11

from fastapi import HTTPException, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.ask.run import MAX_QUESTION_CHARS
from agent.safe_text import cut


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ApiSettings(BaseSettings):
    """Limits and credentials of `shelfcast serve`; each field is read from $SHELFCAST_API_<FIELD>."""

    # An empty variable counts as unset: `SHELFCAST_API_TOKEN= shelfcast serve` must not mean "the token is ''".
    model_config = SettingsConfigDict(env_prefix="SHELFCAST_API_", env_ignore_empty=True, frozen=True)

    token: SecretStr | None = Field(None, description="Bearer token every POST endpoint requires "
                                    "($SHELFCAST_API_TOKEN). Unset: the API is open (bind it to loopback).")
    max_horizon: int = Field(52, ge=1, le=520, description="Largest horizon a request may ask for (a year of weeks).")
    max_text_chars: int = Field(300, ge=16, description="Longest product title or description, in characters.")
    max_question_chars: int = Field(MAX_QUESTION_CHARS, ge=16, le=MAX_QUESTION_CHARS,
                                    description="Longest /ask question, in characters (ask reads no more).")
    max_body_bytes: int = Field(16_384, ge=1_024, description="Largest request body; larger ones get 413.")
    max_concurrent: int = Field(8, ge=1, description="Forecasting requests in progress at once; more get 503 "
                                "at once rather than queueing behind a slow LLM.")
    body_timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait for the rest of a request body; "
                                  "a client that stops sending gets 408 and the connection is closed.")
    header_timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait for a request's headers "
                                    "after the connection opens; then the connection is closed.")
    allowed_hosts: str = Field("", description="Comma-separated extra names the Host header may carry (besides "
                               "loopback names and the bound address); '*' allows any. Guards against DNS "
                               "rebinding: a web page cannot reach the API under its own domain name.")

    @property
    def auth_required(self) -> bool:
        return self.token is not None

    def host_names(self, bound: str | None = None) -> frozenset[str]:
        """Host header names accepted: loopback names, the bound address (unless a wildcard) and allowed_hosts."""
        names = set(LOOPBACK_NAMES)
        if bound and bound not in ("0.0.0.0", "::", ""):
            names.add(bound.strip("[]").lower())
        names.update(name.strip().lower() for name in self.allowed_hosts.split(",") if name.strip())
        return frozenset(names)


# --- JSON for every answer --------------------------------------------------------

class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: ASCII-only (lone surrogates and control characters become \\u escapes),
    and a non-finite float is an error here rather than invalid JSON on the wire."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def json_safe(value: Any) -> Any:
    """A value echoed back in an error (the client's input) as something JSON can carry: non-finite floats and
    other non-JSON values as their repr, long strings cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, str):
        return cut(value, 200)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in list(value)[:50]]
    return repr(value)[:200]


def validation_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's validation errors, each naming its field, with inputs that JSON can carry and no internals."""
    return [{"type": error.get("type", "value_error"), "loc": [json_safe(part) for part in error.get("loc", ())],
             "msg": str(error.get("msg", "invalid value")), "input": json_safe(error.get("input"))}
            for error in errors]


# --- bearer token ---------------------------------------------------------------

def bearer_auth(settings: ApiSettings) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    """A FastAPI dependency: 401 unless the request carries the configured bearer token (no token set: open).

    Declared through HTTPBearer so the OpenAPI page shows the scheme and its
    Authorize button; auto_error is off so that a missing header gets the same
    401 + WWW-Authenticate as a wrong one (HTTPBearer alone answers 403).
    """
    scheme = HTTPBearer(auto_error=False, description="Set when the server has $SHELFCAST_API_TOKEN.")
    expected = settings.token.get_secret_value().encode() if settings.token else None

    def check(credentials: HTTPAuthorizationCredentials | None = Security(scheme)) -> None:
        if expected is None:
            return
        if credentials is None:
            raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        # compare_digest: the time taken does not reveal how many leading bytes matched.
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    return check


# --- limits that depend on the settings (checked after parsing) ---------------------

def enforce_limits(checks: Iterable[tuple[str, int, int, str]]) -> None:
    """Raise a 422 (FastAPI's validation format) for every (field, size, limit, unit) over its limit.

    The limits are settings, not constants, so they cannot live in the pydantic
    schemas; this reports them exactly as a schema violation would be.
    """
    errors = [{"type": "limit_exceeded", "loc": ("body", field), "input": size,
               "msg": f"{field} is {size} {unit}; this server allows at most {limit}"}
              for field, size, limit, unit in checks if size > limit]
    if errors:
        raise RequestValidationError(errors)


# --- ASGI guards -------------------------------------------------------------------

class HostAllowList:
    """400 unless the Host header names this server: loopback, the bound address, or a configured name.

    Without it, a page on evil.example whose DNS name is re-pointed at 127.0.0.1
    would be same-origin with the API and could read its answers (DNS
    rebinding); browsers always send the page's own name as Host.
    """

    def __init__(self, app: ASGIApp, names: frozenset[str], any_host: bool = False) -> None:
        self.app = app
        self.names = names
        self.any_host = any_host or "*" in names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any_host:
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = host_name(host)
        if name not in self.names:
            shown = cut(host, 100)
            response = SafeJSONResponse({"detail": f"Host {shown!r} is not allowed: this server answers to "
                                                   f"{', '.join(sorted(self.names))}; set SHELFCAST_API_ALLOWED_HOSTS "
                                                   "to add names"}, status_code=400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name part of a Host header: 'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BodySizeLimit:
    """413 for a request body over `max_bytes`, declared (Content-Length) or streamed (chunked); 408 for one that
    does not arrive within `timeout_s`.

    The body is read here, up to the limit, and replayed to the app: FastAPI
    turns any error raised while it reads a body into a 400, so the limit must be
    settled before the app sees the request. A client that declares 1,000 bytes
    and sends 10 used to hold its socket open indefinitely.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(int(declared), scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                response = SafeJSONResponse({"detail": f"request body not received within {self.timeout_s:g} s "
                                                       f"({size} bytes arrived)"}, status_code=408,
                                            headers={"Connection": "close"})
                await response(scope, receive, send)
                return
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._reject(size, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _reject(self, size: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = SafeJSONResponse({"detail": f"request body of {size} bytes or more is over the limit of "
                                           f"{self.max_bytes} bytes"}, status_code=413)
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive channel that returns `messages` first, then the client's own (disconnects)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class ConcurrencyLimit:
    """503 (with Retry-After) when `limit` requests to `paths` are already in progress.

    A counter is enough: ASGI calls run on the one event-loop thread, so it is
    never updated by two threads at once. Health checks are not counted, so a
    saturated server still answers its probes.
    """

    def __init__(self, app: ASGIApp, limit: int, paths: Iterable[str]) -> None:
        self.app = app
        self.limit = limit
        self.paths = frozenset(paths)
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            response = SafeJSONResponse({"detail": f"server busy: {self.limit} forecasting requests already in "
                                               "progress; retry shortly"}, status_code=503, headers={"Retry-After": "1"})
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def limit_summary(settings: ApiSettings) -> dict[str, Any]:
    """The limits a client may need to know (never the token)."""
    return settings.model_dump(exclude={"token"})


# --- the HTTP parser's own errors ------------------------------------------------------

class JsonErrorsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with JSON for the requests it rejects itself, and a deadline for request headers.

    uvicorn answers a request h11 cannot parse (`Content-Length: -5`, a bad
    request line) with a plain-text 400 before any ASGI code runs; this sends the
    API's JSON error instead. And h11 waits for headers forever: a client that
    opens a connection and trickles bytes would keep it, so each connection gets
    `header_timeout_s` to deliver complete request headers (serve passes the setting).
    """

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None
    _responses = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._responses += 1
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        # One deadline per request: armed when the connection opens and after each response.
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline, self._responses)

    def _header_deadline(self, responses_when_armed: int) -> None:
        # Still no complete request since the timer was armed: nothing more will come of this connection.
        # (A response since then re-armed the timer; this one is stale.)
        idle = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if responses_when_armed != self._responses or not idle or self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a request arrived: say why it is cut off
            self._send_json_error(408, f"request headers not received within {self.header_timeout_s:g} s")
        else:  # an idle connection: nothing to answer
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._send_json_error(400, f"malformed HTTP request: {msg}")

    def _send_json_error(self, status: int, detail: str) -> None:
        # Written as bytes, not through h11: its state machine has no request to answer in either case.
        body = json.dumps({"detail": detail}).encode("ascii")
        reason = {400: b"Bad Request", 408: b"Request Timeout"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason, len(body), body))
        self.transport.close()


def protocol_for(settings: ApiSettings) -> type[JsonErrorsH11Protocol]:
    """The protocol class `uvicorn.run(http=...)` takes, with this server's header deadline."""
    return type("ShelfcastH11Protocol", (JsonErrorsH11Protocol,), {"header_timeout_s": settings.header_timeout_s})
