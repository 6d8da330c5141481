"""The report's boundary types: what a caller asks for and what comes back.

`ReportRequest` is validated on the way in (CLI, `ask`, HTTP API alike);
`Report` carries the statistics, the charts as PNG bytes, the narrative and
how it was written; `agent.report.render` turns it into HTML or Markdown (data
types here, I/O at the top, so model, render and wording import in one direction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.report.category_forecast import CategoryForecast
from agent.report.stats import Growth, Movers, RampUp, ShareShift, Trend, numbers

MAX_NAME = 100


class ReportRequest(BaseModel):
    """Which slice of the data to report on and how far to forecast."""

    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(None, max_length=MAX_NAME, description="e.g. PASTRY (case-insensitive)")
    category: str | None = Field(None, max_length=MAX_NAME, description="e.g. BREAD (case-insensitive)")
    store: str | None = Field(None, max_length=MAX_NAME, description="built-in data only: one store's sales")
    horizon: int = Field(8, ge=1, le=52, description="periods to forecast per category")

    @field_validator("department", "category", "store")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class Scope(BaseModel):
    """What the numbers cover."""

    dataset: str
    selection: str
    department: str | None
    category: str | None
    store: str | None
    level: str = Field(description="the catalog column the groups come from (department, category, subcategory)")
    other: str | None = Field(None, description="label of the pooled smaller groups, when there are any")
    products: int
    periods: int
    period: str = Field(description="'week', 'month' or 'day'")
    start: str
    end: str


class TrendStats(BaseModel):
    """Every computed figure of a report; the narrative may cite these and nothing else."""

    scope: Scope
    trend: Trend
    growth: Growth
    movers: Movers
    shares: list[ShareShift]
    ramp: RampUp
    forecast: CategoryForecast

    def citable(self) -> list[float]:
        return numbers(self)


NarrativeSource = Literal["llm", "template"]


class Narrative(BaseModel):
    text: str
    source: NarrativeSource
    reason: str = Field(description="why this source wrote it (and why the LLM's draft was not used)")
    backend: str | None = None
    model: str | None = None
    prompt_id: str | None = None
    ungrounded: list[str] = Field(default_factory=list, description="numbers the LLM cited that no statistic holds")

    @field_validator("reason")
    @classmethod
    def _no_final_stop(cls, value: str) -> str:
        return value.rstrip(". ")  # the renderers end the sentence


class Chart(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    key: str = Field(description="file stem and anchor: trend, movers, shares, ramp, forecast")
    title: str
    alt: str
    png: bytes


class Report(BaseModel):
    request: ReportRequest
    stats: TrendStats
    narrative: Narrative
    charts: list[Chart]
    summary: str = Field(description="one short plain-text paragraph")
    generated_at: datetime
    build_seconds: float
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage: stats, charts, narrative")
