"""The FastAPI app: one loaded Shelfcast (dataset, index, LLM backend, regressor) serves every request.

Endpoints are plain `def` functions, so FastAPI runs each in its threadpool and
the event loop keeps accepting requests while a forecast computes. What the
threads share is safe to share: the dataset and index are only read, and the
embedded LLM's decode engine (agent/llm/engine.py) batches concurrent requests
into shared decode steps, as a vLLM server does; a request not answered within
the chain's timeout gets a BackendError, which the chain records as its reason
to fall back to regression or the statistical floor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.api.catalog import PATHS as CATALOG_PATHS
from agent.api.catalog import catalog_router
from agent.api.page import add_page
from agent.api.schemas import AskRequest, ForecastRequest, HealthResponse, NewProductRequest, ReportBody
from agent.api.security import (ApiSettings, BodySizeLimit, ConcurrencyLimit, HostAllowList, SafeJSONResponse,
                                bearer_auth, enforce_limits, limit_summary, validation_errors)
from agent.ask import Answer, ask
from agent.ask.resolve import resolve_request
from agent.forecast.result import Forecast
from agent.pipeline import Shelfcast
from agent.report import Report, build_report
from agent.report.render import render_html

log = logging.getLogger(__name__)

# Requests that run the forecasting code: counted by the concurrency limit and behind the token.
WORK_PATHS = ("/forecast", "/new-product", "/ask", "/report", *CATALOG_PATHS)
_ERRORS = {401: {"description": "Missing or wrong bearer token (only when $SHELFCAST_API_TOKEN is set)."},
           413: {"description": "Request body over the server's limit."},
           422: {"description": "Invalid input, or a field over the server's limits."},
           503: {"description": "Too many forecasting requests in progress."}}


def create_app(shelfcast: Shelfcast, settings: ApiSettings | None = None, bound_host: str | None = None) -> FastAPI:
    """The API over an already loaded Shelfcast; nothing is loaded per request.

    `bound_host` (the address `serve` binds) joins the names the Host header may carry.
    """
    settings = settings or ApiSettings()
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The text encoder loads lazily; load it before the first request instead of inside one.
        shelfcast.index.embed_query("warm-up")
        yield

    # FastAPIOffline: /docs loads Swagger UI from the installed fastapi-offline package, not from a CDN, and
    # validatorUrl None keeps it from asking Swagger's online validator for a badge. /redoc is off: ReDoc's
    # bundle still loads its logo from a CDN, and /docs shows the same OpenAPI schema.
    app = FastAPIOffline(redoc_url=None, swagger_ui_parameters={"validatorUrl": None},
                         title="Shelfcast", version=version("shelfcast"), lifespan=lifespan, responses=_ERRORS,
                         default_response_class=SafeJSONResponse,
                         description="Offline retail sales forecasts: existing products, new products, questions in "
                                     "plain language and trend reports. Every forecast says which path answered "
                                     "(LLM few-shot, zero-shot, regression, the global gbm or the statistical floor) and why earlier "
                                     f"paths gave way. Limits: horizon <= {settings.max_horizon}, titles <= "
                                     f"{settings.max_text_chars} characters, questions <= "
                                     f"{settings.max_question_chars}, "
                                     f"bodies <= {settings.max_body_bytes} bytes.")
    app.state.shelfcast = shelfcast
    app.state.settings = settings
    # Added last = runs first: an oversized body is refused before it takes a concurrency slot.
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent, paths=WORK_PATHS)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(HostAllowList, names=settings.host_names(bound_host))
    _add_error_handlers(app)
    auth = [Depends(bearer_auth(settings))]
    app.include_router(catalog_router(shelfcast, settings, auth))
    add_page(app)

    # What was loaded does not change while the server runs: described once (nunique over millions of rows).
    dataset, backend = shelfcast.dataset, shelfcast.backend
    model_ids = [*([backend.model_id] if backend else []),
                 *([shelfcast.regressor.artifact_id] if shelfcast.regressor is not None else []),
                 shelfcast.index.encoder.encoder_id]
    loaded = {"version": app.version, "dataset": dataset.name, "products": len(dataset.catalog),
              "series": int(dataset.sales["unique_id"].nunique()), "freq": dataset.freq,
              "last_period": dataset.sales["ds"].max().date(), "backend": backend.name if backend else None,
              "backend_note": shelfcast.backend_note, "model_ids": model_ids,
              "auth_required": settings.auth_required, "limits": limit_summary(settings)}

    @app.get("/health", response_model=HealthResponse, tags=["service"])
    def health() -> HealthResponse:
        """Is the server up, what is loaded, and is the LLM answering? (No token needed: it is for probes.)"""
        return HealthResponse(status="ok", llm_healthy=backend.healthy() if backend else None,
                              uptime_s=round(time.monotonic() - started, 3), **loaded)

    @app.post("/forecast", response_model=Forecast, dependencies=auth, tags=["forecast"],
              responses={404: {"description": "No product with this unique_id in the loaded data."}})
    def forecast(body: ForecastRequest) -> Forecast:
        """Forecast one product of the loaded data: point, 10/50/90% quantiles, the path that answered and why."""
        enforce_limits([("horizon", body.horizon, settings.max_horizon, "periods")])
        try:
            shelfcast.dataset.product(body.unique_id)
        except KeyError as exc:
            raise HTTPException(404, exc.args[0]) from None
        return shelfcast.forecast(body.unique_id, body.horizon, body.mode)

    @app.post("/new-product", response_model=Forecast, dependencies=auth, tags=["forecast"])
    def new_product(body: NewProductRequest) -> Forecast:
        """Predict the first periods of a product with no sales, from similar products' launches."""
        enforce_limits([("horizon", body.horizon, settings.max_horizon, "periods"),
                        *((name, len(value), settings.max_text_chars, "characters")
                          for name in ("title", "description", "department", "category")
                          if (value := getattr(body, name)) is not None)])
        return shelfcast.forecast_new(body.title, body.horizon, department=body.department, category=body.category,
                                      description=body.description, price=body.price)

    @app.post("/ask", response_model=Answer, dependencies=auth, tags=["ask"],
              responses={404: {"description": "The question names a store the data do not have."}})
    def ask_question(body: AskRequest) -> Answer:
        """Answer a plain-language question: a sentence whose numbers all come from the computed forecast,
        a table, the forecasts, and how the question was understood (or candidates to choose from)."""
        enforce_limits([("question", len(body.question), settings.max_question_chars, "characters")])
        try:
            return ask(shelfcast, body.question, yes=body.yes)
        except KeyError as exc:
            raise HTTPException(404, exc.args[0]) from None

    @app.post("/report", response_model=Report, dependencies=auth, tags=["report"],
              responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                               "description": "The Report as JSON, or one self-contained HTML page."},
                         404: {"description": "No such store in the data."}})
    def report(body: ReportBody, request: Request) -> Report | Response:
        """A trend report: growth, risers and fallers, share shifts, launches, category forecasts, charts and a
        narrative that cites only computed numbers. HTML or JSON by `format`, else by the Accept header."""
        enforce_limits([("horizon", body.horizon, settings.max_horizon, "periods")])
        try:
            built = build_report(shelfcast, resolve_request(shelfcast, body.request())[0])
        except KeyError as exc:
            raise HTTPException(404, exc.args[0]) from None
        if body.format == "html" or (body.format is None and prefers_html(request.headers.get("accept", ""))):
            return HTMLResponse(render_html(built))
        return built

    return app


def prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks text/html above application/json (ties, '*/*' and none: JSON)."""
    return _quality(accept, "text/html") > _quality(accept, "application/json")


def _quality(accept: str, media_type: str) -> float:
    """The q an Accept header gives `media_type`: from its most specific matching range (RFC 9110 12.5.1)."""
    ranges = {media_type: 2, media_type.split("/")[0] + "/*": 1, "*/*": 0}
    best, quality = -1, 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        rank = ranges.get(media.lower(), -1)
        if rank > best:
            q = next((p[2:] for p in params if p.startswith("q=")), "1")
            best, quality = rank, float(q) if q.replace(".", "", 1).isdigit() else 0.0
    return quality


def _add_error_handlers(app: FastAPI) -> None:
    """Expected failures as JSON {"detail": ...} with a status that says whose fault it was."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> SafeJSONResponse:
        # FastAPI's own handler echoes inputs verbatim: a NaN or 1e400 made it fail with a message naming no field.
        return SafeJSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> SafeJSONResponse:
        return SafeJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ValueError)
    async def bad_input(_: Request, exc: Exception) -> SafeJSONResponse:
        # The data and forecasting layers raise ValueError (DataError is one) for input they
        # cannot use, with a message naming the problem: that is the client's to fix.
        return SafeJSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> SafeJSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return SafeJSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"},
                                status_code=500)
