"""Request and response bodies of the HTTP API.

Forecasts are returned as `agent.forecast.result.Forecast`, the same model the
CLI prints with --json, so there is one description of a forecast. Limits that
the operator can change (horizon, text lengths) are checked by the app against
`ApiSettings`; the bounds here are the ones that hold on every server.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.forecast.result import Mode
from agent.report import ReportRequest


class _Request(BaseModel):
    # A misspelt field ("horizn") is an error, not a silently used default. Strict: `true` is not a horizon,
    # "4" is not a number; floats are finite (JSON's NaN, Infinity and 1e400 are refused, naming the field).
    # Lone surrogates ("\\ud800") are refused by pydantic itself (string_unicode).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, allow_inf_nan=False)


class ForecastRequest(_Request):
    unique_id: str = Field(min_length=1, description="unique_id of a product in the loaded data.",
                           examples=["1095275"])
    horizon: int = Field(4, ge=1, description="Periods to forecast (at most the server's max_horizon).")
    mode: Mode = Field("auto", description="auto tries the path the routing table chose for the product's segment, "
                                           "then LLM few-shot, zero-shot, regression, the global gbm and the statistical "
                                           "floor; the others force one path (the floor still closes it).")


class NewProductRequest(_Request):
    title: str = Field(min_length=1, description="Product title (untrusted text: it only selects similar "
                                                 "products and is shown to the LLM as data).",
                       examples=["cinnamon raisin bagels 6 ct"])
    description: str | None = Field(None, description="Free text about the product.")
    department: str | None = Field(None, examples=["PASTRY"])
    category: str | None = Field(None, examples=["ROLLS"])
    price: float | None = Field(None, ge=0, description="Planned shelf price.")
    horizon: int = Field(8, ge=1, description="Periods after launch to predict.")


class AskRequest(_Request):
    question: str = Field(min_length=1, description="A question in plain language (untrusted text).",
                          examples=["how many 4 oz bagels will we sell in the next 4 weeks?"])
    yes: bool = Field(False, description="When the product is ambiguous, take the best match (and say so) "
                                         "instead of answering with the candidates.")


class ReportBody(ReportRequest):
    """The report request (agent.report.ReportRequest) plus the form of the answer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["json", "html"] | None = Field(None, description="json: the Report with charts as base64 PNG; "
                                                   "html: one self-contained page. Unset: by the Accept header "
                                                   "(text/html preferred over application/json gives HTML).")

    def request(self) -> ReportRequest:
        return ReportRequest.model_validate(self.model_dump(exclude={"format"}))


class HealthResponse(BaseModel):
    status: str = Field(description="'ok' when the server answers; forecasts never need the LLM to be up.")
    version: str
    dataset: str = Field(description="Name of the loaded dataset.")
    products: int = Field(description="Products in the catalog.")
    series: int = Field(description="Products with at least one sale.")
    freq: str
    last_period: date = Field(description="Start of the last period in the sales.")
    backend: str | None = Field(description="LLM backend ('embedded', 'vllm-http') or None when disabled.")
    backend_note: str = Field(description="Which backend was chosen at start-up and why.")
    llm_healthy: bool | None = Field(description="The backend's own health check now (None: no LLM). When False, "
                                                 "forecasts fall back to regression or the floor and say so.")
    model_ids: list[str] = Field(description="LLM, regression artifact and text encoder in use.")
    auth_required: bool
    limits: dict[str, Any] = Field(description="The server's request limits (ApiSettings without the token).")
    uptime_s: float


class SearchRequest(_Request):
    text: str = Field(min_length=1, description="What the person typed: words of a product title, or a unique_id "
                                                "(untrusted text: it is only embedded and compared).",
                      examples=["bagels"])
    k: int = Field(8, ge=1, le=20, description="How many distinct titles to return.")


class SalesRequest(_Request):
    unique_ids: list[str] = Field(min_length=1, max_length=12, description="Products whose sales to return.",
                                  examples=[["1095275"]])


class SalesCurve(BaseModel):
    unique_id: str
    title: str
    dates: list[date] = Field(description="Period starts, from the product's first sale to the end of the data.")
    units: list[float]


class CatalogGroups(BaseModel):
    departments: dict[str, list[str]] = Field(description="Department -> its categories, as the catalog names them "
                                                          "(empty when the catalog has no department column).")
