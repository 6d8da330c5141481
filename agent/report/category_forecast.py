"""The next periods of each group's total units, with 80% prediction intervals.

Group totals are smooth enough for a classic model, and fitting one per group
takes milliseconds, so no LLM is involved: statsforecast's AutoETS (the
baseline the evaluation harness also uses) picks an exponential-smoothing
model by AICc per group. It is seasonal only when two full seasons of data
exist (the built-in data hold one year, so they get a non-seasonal model).
A series AutoETS cannot fit gets statsforecast's Naive, and the group says so.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from statsforecast.models import AutoETS, Naive

from agent.report.panel import ReportPanel
from agent.report.stats import CHART_DATA, windows

LEVEL = 80


class GroupForecast(BaseModel):
    name: str
    model: str
    recent_per_period: float = Field(description="mean units per period over the recent window")
    forecast_per_period: float = Field(description="mean of the point forecasts")
    low_per_period: float = Field(description=f"mean of the lower {LEVEL}% bounds")
    high_per_period: float = Field(description=f"mean of the upper {LEVEL}% bounds")
    forecast_total: float
    change_vs_recent: float | None = Field(description="forecast_per_period / recent_per_period - 1")
    point: list[float] = Field(json_schema_extra=CHART_DATA)
    low: list[float] = Field(json_schema_extra=CHART_DATA)
    high: list[float] = Field(json_schema_extra=CHART_DATA)


class CategoryForecast(BaseModel):
    model: str
    level: int
    horizon: int
    season_length: int
    dates: list[str]
    groups: list[GroupForecast]


def fit_series(series: np.ndarray, horizon: int, season_length: int) -> tuple[dict[str, np.ndarray], str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return AutoETS(season_length=season_length).forecast(y=series, h=horizon, level=[LEVEL]), "AutoETS"
    except Exception:  # noqa: BLE001 - statsforecast raises bare ValueErrors/linalg errors on degenerate series
        return Naive().forecast(y=series, h=horizon, level=[LEVEL]), "Naive (AutoETS could not fit)"


def forecast_groups(panel: ReportPanel, horizon: int, freq: str, season_length: int) -> CategoryForecast:
    season = season_length if panel.periods >= 2 * season_length else 1
    width, _ = windows(panel.periods)
    dates = pd.date_range(panel.dates[-1], periods=horizon + 1, freq=freq)[1:]
    groups = []
    for name in panel.group_names:
        series = panel.group_units[name].to_numpy(dtype=float)
        fitted, model = fit_series(series, horizon, season)
        point = np.clip(fitted["mean"], 0, None)
        low, high = np.clip(fitted[f"lo-{LEVEL}"], 0, None), np.clip(fitted[f"hi-{LEVEL}"], 0, None)
        recent = float(series[-width:].mean())
        groups.append(GroupForecast(
            name=name, model=model, recent_per_period=round(recent, 1), forecast_per_period=round(float(point.mean()), 1),
            low_per_period=round(float(low.mean()), 1), high_per_period=round(float(high.mean()), 1),
            forecast_total=round(float(point.sum()), 1),
            change_vs_recent=round(float(point.mean()) / recent - 1, 4) if recent > 0 else None,
            point=[round(float(v), 2) for v in point], low=[round(float(v), 2) for v in low],
            high=[round(float(v), 2) for v in high]))
    label = f"AutoETS (statsforecast {version('statsforecast')}, season length {season}), {LEVEL}% prediction intervals"
    return CategoryForecast(model=label, level=LEVEL, horizon=horizon, season_length=season,
                            dates=[str(d.date()) for d in dates], groups=groups)
