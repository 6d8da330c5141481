"""Trend statistics over a panel: pure functions, pydantic results.

Definitions (the report's method notes repeat them):

- Windows: `recent` = the last W periods (W = 8, fewer when the data are
  shorter than 2W), `previous` = the W periods just before, `half_ago` = the
  same W periods shifted back by half the data's length (for 52 weeks of 2017:
  weeks 45-52 against weeks 19-26, the same stretch of the first half year).
- Growth = units in `recent` / units in the comparison window - 1 (None when
  the comparison window sold nothing).
- Risers and fallers: products whose units in `recent` + `previous` reach
  `min_units` (so a product going from 1 to 3 units is not a +200% riser),
  ranked by the change in units (recent - previous).
- Share shifts: each group's share of the selection's units in `previous` and
  in `recent`; the shift is in percentage points.
- New products: a product is a launch when its first sale comes at least
  LAUNCH_MIN_OFFSET periods after the data begin (earlier first sales are
  mostly products already on the shelf; the evaluation uses the same rule),
  its first `ramp` periods are all in the data, and it sold in at least half of
  them (one-off sales of a seasonal or special-order item are not a launch). Its steady level is its mean
  over the second half of its life in the data; it reached it in the first
  period whose trailing mean of up to 3 periods is at least 80% of that level.
  Each group's launch curve (mean units in periods 1..ramp after launch) is
  compared with the mean units per period of its established products
  (first sale before the offset).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agent.grounding import values_in
from agent.report.panel import ReportPanel
from numeric.baseline import LAUNCH_MIN_OFFSET, is_launch

RECENT_PERIODS = 8
MIN_MOVER_UNITS = 20.0
TOP_MOVERS = 5
STEADY_FRACTION = 0.8
STEADY_TRAILING = 3
# Chart series (weekly values, launch curves, per-period forecasts) are data for
# the charts, not figures to cite: a 52-week series of small integers would make
# almost any small number "grounded". Fields marked so stay out of `numbers()`.
CHART_DATA: dict[str, Any] = {"citable": False}
_ISO_YEAR = re.compile(r"\b(\d{4})-\d{2}-\d{2}\b")


class Trend(BaseModel):
    """Units per period of each group: what the trend and forecast charts draw."""

    dates: list[str]
    series: dict[str, list[float]] = Field(json_schema_extra=CHART_DATA)


class Window(BaseModel):
    start: str
    end: str
    periods: int


class GroupGrowth(BaseModel):
    name: str
    recent_units: float
    previous_units: float
    half_ago_units: float
    growth_vs_previous: float | None = Field(description="fraction: 0.05 is +5%")
    growth_vs_half_ago: float | None


class Growth(BaseModel):
    recent: Window
    previous: Window
    half_ago: Window
    total: GroupGrowth
    groups: list[GroupGrowth]


class Mover(BaseModel):
    unique_id: str
    title: str
    group: str
    recent_units: float
    previous_units: float
    change_units: float
    growth: float | None


class Movers(BaseModel):
    min_units: float
    eligible: int = Field(description="products with at least min_units in the two windows together")
    risers: list[Mover]
    fallers: list[Mover]


class ShareShift(BaseModel):
    name: str
    previous_share: float
    recent_share: float
    shift_points: float = Field(description="percentage points")


class GroupRamp(BaseModel):
    name: str
    launches: int
    established_per_period: float = Field(description="mean units per period of an established product")
    launch_per_period: float = Field(description="mean units per period of a launch in its first `ramp` periods")
    launch_vs_established: float | None = Field(description="launch_per_period / established_per_period")
    curve: list[float] = Field(json_schema_extra=CHART_DATA, description="mean units in periods 1..ramp after launch")


class RampUp(BaseModel):
    ramp_periods: int
    launch_offset: int
    first_sales: int = Field(description="products first selling after the offset with `ramp` periods in the data")
    launches: int = Field(description="those of them selling in at least half of their first `ramp` periods")
    reached_steady: int
    median_periods_to_steady: float | None
    groups: list[GroupRamp]


def trend(panel: ReportPanel) -> Trend:
    table = panel.group_units
    return Trend(dates=[str(d.date()) for d in panel.dates],
                 series={g: [round(float(v), 2) for v in table[g]] for g in table.columns})


def windows(periods: int) -> tuple[int, int]:
    """(W, half): window length and the shift of the half-ago window."""
    width = min(RECENT_PERIODS, periods // 2)
    return width, max(periods // 2, width)


def _window(panel: ReportPanel, stop: int, width: int) -> Window:
    return Window(start=str(panel.dates[stop - width].date()), end=str(panel.dates[stop - 1].date()), periods=width)


def _growth(now: float, before: float) -> float | None:
    return round(now / before - 1, 4) if before > 0 else None


def _group_growth(name: str, series: np.ndarray, width: int, half: int) -> GroupGrowth:
    t = len(series)
    recent, previous = series[t - width:].sum(), series[t - 2 * width: t - width].sum()
    half_ago = series[max(t - width - half, 0): t - half].sum()
    return GroupGrowth(name=name, recent_units=round(float(recent), 1), previous_units=round(float(previous), 1),
                       half_ago_units=round(float(half_ago), 1), growth_vs_previous=_growth(recent, previous),
                       growth_vs_half_ago=_growth(recent, half_ago))


def growth(panel: ReportPanel, selection: str) -> Growth:
    width, half = windows(panel.periods)
    t = panel.periods
    table = panel.group_units
    return Growth(recent=_window(panel, t, width), previous=_window(panel, t - width, width),
                  half_ago=_window(panel, t - half, width),
                  total=_group_growth(selection, table.sum(axis=1).to_numpy(), width, half),
                  groups=[_group_growth(g, table[g].to_numpy(), width, half) for g in table.columns])


def movers(panel: ReportPanel, min_units: float = MIN_MOVER_UNITS, top: int = TOP_MOVERS) -> Movers:
    width, _ = windows(panel.periods)
    t = panel.periods
    recent = panel.units[:, t - width:].sum(axis=1)
    previous = panel.units[:, t - 2 * width: t - width].sum(axis=1)
    change = recent - previous
    eligible = np.flatnonzero(recent + previous >= min_units)
    # Ties broken by id so the same data always give the same report.
    order = eligible[np.lexsort((panel.ids[eligible], -change[eligible]))]

    def mover(i: int) -> Mover:
        return Mover(unique_id=str(panel.ids[i]), title=str(panel.titles[i]), group=str(panel.groups[i]),
                     recent_units=round(float(recent[i]), 1), previous_units=round(float(previous[i]), 1),
                     change_units=round(float(change[i]), 1), growth=_growth(recent[i], previous[i]))

    risers = [mover(i) for i in order if change[i] > 0][:top]
    fallers = [mover(i) for i in order[::-1] if change[i] < 0][:top]
    return Movers(min_units=min_units, eligible=len(eligible), risers=risers, fallers=fallers)


def share_shifts(panel: ReportPanel) -> list[ShareShift]:
    width, _ = windows(panel.periods)
    t = panel.periods
    table = panel.group_units
    recent, previous = table.iloc[t - width:].sum(), table.iloc[t - 2 * width: t - width].sum()
    recent_share = recent / recent.sum() if recent.sum() > 0 else recent * 0
    previous_share = previous / previous.sum() if previous.sum() > 0 else previous * 0
    shifts = [ShareShift(name=g, previous_share=round(float(previous_share[g]), 4),
                         recent_share=round(float(recent_share[g]), 4),
                         shift_points=round(float(recent_share[g] - previous_share[g]) * 100, 2))
              for g in table.columns]
    return sorted(shifts, key=lambda s: (-s.shift_points, s.name))


def periods_to_steady(units: np.ndarray) -> int | None:
    """1-based period after launch at which the trailing mean first reaches 80% of the steady level (None: faded to 0)."""
    steady = units[len(units) // 2:].mean()
    if steady <= 0:
        return None
    cumulative = np.concatenate([[0.0], np.cumsum(units)])
    for k in range(1, len(units) + 1):
        lo = max(k - STEADY_TRAILING, 0)
        if (cumulative[k] - cumulative[lo]) / (k - lo) >= STEADY_FRACTION * steady:
            return k
    return None


def ramp_up(panel: ReportPanel, ramp: int) -> RampUp:
    first = panel.first_sale
    window = is_launch(first, panel.periods, ramp)
    periods = np.arange(panel.periods)
    in_ramp = (periods >= first[:, None]) & (periods < first[:, None] + ramp)
    selling = np.count_nonzero((panel.units > 0) & in_ramp, axis=1)
    launched = np.flatnonzero(window & (selling * 2 >= ramp))
    established = (first >= 0) & (first < LAUNCH_MIN_OFFSET)
    to_steady = [periods_to_steady(panel.units[i, first[i]:]) for i in launched]
    reached = [k for k in to_steady if k is not None]
    groups = []
    for name in panel.group_names:
        members = launched[panel.groups[launched] == name]
        if members.size == 0:
            continue
        curves = np.array([panel.units[i, first[i]: first[i] + ramp] for i in members])
        base = panel.units[established & (panel.groups == name)]
        per_period = float(base.mean()) if base.size else 0.0
        launch = float(curves.mean())
        groups.append(GroupRamp(name=name, launches=int(members.size), established_per_period=round(per_period, 2),
                                launch_per_period=round(launch, 2),
                                launch_vs_established=round(launch / per_period, 4) if per_period > 0 else None,
                                curve=[round(float(v), 3) for v in curves.mean(axis=0)]))
    return RampUp(ramp_periods=ramp, launch_offset=LAUNCH_MIN_OFFSET, first_sales=int(window.sum()),
                  launches=int(launched.size),
                  reached_steady=len(reached), median_periods_to_steady=float(np.median(reached)) if reached else None,
                  groups=groups)


def numbers(model: BaseModel) -> list[float]:
    """Every number a statistics object holds outside chart data, and those written in its names: what prose may cite."""
    return list(_walk(model))


def _walk(value: object) -> Iterator[float]:
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("citable") is False:
                continue
            yield from _walk(getattr(value, name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)
    elif isinstance(value, str):
        # Names carry numbers ("Rolls: Dinner 12 OZ"); prose that names the product repeats them.
        yield from values_in(value)
        # A date's year may be cited alone ("in 2017"); the grounding check skips whole dates only.
        yield from (float(year) for year in _ISO_YEAR.findall(value))
