"""What the HTTP API refuses, and who may call it: settings, bearer token, size and concurrency limits.

Everything here is a guard in front of the forecasting code, configured in one
`ApiSettings` object read from the environment (prefix SHELFCAST_API_). The
body-size and concurrency guards are plain ASGI middleware: they answer before
FastAPI parses anything, so an oversized or surplus request costs the server
almost nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import HTTPException, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.ask.run import MAX_QUESTION_CHARS


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

    @property
    def auth_required(self) -> bool:
        return self.token is not None


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

class BodySizeLimit:
    """413 for a request body over `max_bytes`, declared (Content-Length) or streamed (chunked).

    The body is read here, up to the limit, and replayed to the app: FastAPI
    turns any error raised while it reads a body into a 400, so the limit must be
    settled before the app sees the request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        while True:
            message = await receive()
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
        response = JSONResponse({"detail": f"request body of {size} bytes or more is over the limit of "
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
            response = JSONResponse({"detail": f"server busy: {self.limit} forecasting requests already in "
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
