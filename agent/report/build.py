"""`build_report`: statistics, charts and narrative for one request, from a loaded Shelfcast."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from rich.console import Console

from agent.data.dataset import Dataset
from agent.forecast.prompting import period_name
from agent.pipeline import Shelfcast
from agent.report import stats as S
from agent.report.charts import draw_all
from agent.report.category_forecast import forecast_groups
from agent.report.model import Report, ReportRequest, Scope, TrendStats
from agent.report.narrative import write_narrative
from agent.report.panel import build_panel
from agent.report.wording import summary

# Launch curves cover the forecast horizon (a planner launching a product asks about the same
# periods), capped so that launches in the second half of a one-year dataset still qualify.
MAX_RAMP = 13


def compute_stats(dataset: Dataset, request: ReportRequest) -> TrendStats:
    panel, selection = build_panel(dataset, request.department, request.category)
    scope = Scope(dataset=dataset.name, selection=selection.name, department=selection.department,
                  category=selection.category,
                  store=request.store, level=panel.level, other=panel.other, products=len(panel.ids), periods=panel.periods,
                  period=period_name(dataset.freq), start=str(panel.dates[0].date()), end=str(panel.dates[-1].date()))
    return TrendStats(scope=scope, trend=S.trend(panel), growth=S.growth(panel, selection.name), movers=S.movers(panel),
                      shares=S.share_shifts(panel), ramp=S.ramp_up(panel, min(request.horizon, MAX_RAMP)),
                      forecast=forecast_groups(panel, request.horizon, dataset.freq, dataset.season_length))


def build_report(app: Shelfcast, request: ReportRequest, *, progress: bool = False) -> Report:
    """The trend report for `request` on `app`'s data (one store's when asked); ReportError for a bad selection."""
    started = time.perf_counter()
    console = Console(stderr=True, quiet=not progress)
    scope = app.for_store(request.store) if request.store else app
    timings: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = round(now - since, 2)
        return now

    console.print("[dim]report: computing statistics and category forecasts...[/]")
    stats = compute_stats(scope.dataset, request)
    mark = lap("stats", started)
    console.print("[dim]report: drawing charts...[/]")
    charts = draw_all(stats)
    mark = lap("charts", mark)
    console.print("[dim]report: writing the narrative" + (f" with {app.backend.name}..." if app.backend else "...")
                  + "[/]")
    narrative = write_narrative(stats, app.backend)
    lap("narrative", mark)
    return Report(request=request, stats=stats, narrative=narrative, charts=charts, summary=summary(stats),
                  generated_at=datetime.now(timezone.utc), build_seconds=round(time.perf_counter() - started, 2),
                  timings=timings)
