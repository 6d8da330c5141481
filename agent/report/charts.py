"""The report's charts, drawn with matplotlib (Agg) from the statistics alone, as PNG bytes.

Each function returns None when its section has nothing to draw (no product
passed the volume filter, no launches), and the section says so in words.
"""

from __future__ import annotations

import io
import textwrap

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from agent.plots import draw_fan, new_figure
from agent.report.model import Chart, TrendStats

WIDTH = 9.0
DPI = 100
HISTORY_TAIL = 26
MIN_RAMP_LAUNCHES = 3  # a mean launch curve over fewer products is mostly one product's noise
RISE, FALL = "#2e7d32", "#c62828"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(label: str, width: int = 34) -> str:
    return textwrap.shorten(label, width=width, placeholder="...")


def trend_chart(stats: TrendStats) -> Chart:
    dates = pd.to_datetime(stats.trend.dates)
    fig, ax = new_figure(figsize=(WIDTH, 4.6))
    for name, values in stats.trend.series.items():
        ax.plot(dates, values, lw=1.5, label=_short(name, 28))
    recent = stats.growth.recent
    ax.axvspan(pd.Timestamp(recent.start), pd.Timestamp(recent.end), color="#999999", alpha=0.15,
               label=f"last {recent.periods} {stats.scope.period}s")
    ax.set_ylabel(f"units per {stats.scope.period}")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    # Below the axes, so the plot keeps the page's full width.
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    ax.set_title(f"{stats.scope.selection}: units per {stats.scope.period} by {stats.scope.level}", fontsize=10)
    return Chart(key="trend", title=f"Units per {stats.scope.period} by {stats.scope.level}",
                 alt=f"Line chart of units per {stats.scope.period} for each {stats.scope.level}", png=_png(fig))


def movers_chart(stats: TrendStats) -> Chart | None:
    movers = stats.movers.risers + stats.movers.fallers[::-1]
    if not movers:
        return None
    fig, ax = new_figure(figsize=(WIDTH, 0.45 * len(movers) + 1.2))
    labels = [_short(f"{m.title} ({m.unique_id})", 44) for m in movers]
    changes = [m.change_units for m in movers]
    positions = np.arange(len(movers))[::-1]
    ax.barh(positions, changes, color=[RISE if c > 0 else FALL for c in changes])
    ax.set_yticks(positions, labels, fontsize=8)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_xlabel(f"change in units, last {stats.growth.recent.periods} {stats.scope.period}s vs the "
                  f"{stats.growth.previous.periods} before")
    ax.grid(axis="x", alpha=0.3)
    return Chart(key="movers", title="Top risers and fallers", alt="Bar chart of the products whose units rose "
                 "or fell most", png=_png(fig))


def shares_chart(stats: TrendStats) -> Chart | None:
    if len(stats.shares) < 2:
        return None  # one group always holds 100%
    fig, ax = new_figure(figsize=(WIDTH, 0.42 * len(stats.shares) + 1.2))
    positions = np.arange(len(stats.shares))[::-1]
    shifts = [s.shift_points for s in stats.shares]
    ax.barh(positions, shifts, color=[RISE if v >= 0 else FALL for v in shifts])
    ax.set_yticks(positions, [_short(s.name) for s in stats.shares], fontsize=8)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set_xlabel("change in share of units, percentage points")
    ax.grid(axis="x", alpha=0.3)
    return Chart(key="shares", title=f"Share shifts between {stats.scope.level} groups",
                 alt=f"Bar chart of each {stats.scope.level}'s change in share", png=_png(fig))


def ramp_chart(stats: TrendStats) -> Chart | None:
    groups = [g for g in stats.ramp.groups if g.launches >= MIN_RAMP_LAUNCHES and g.established_per_period > 0]
    if not groups:
        return None
    fig, ax = new_figure(figsize=(WIDTH, 4.4))
    steps = np.arange(1, stats.ramp.ramp_periods + 1)
    for group in groups:
        relative = 100 * np.asarray(group.curve) / group.established_per_period
        ax.plot(steps, relative, marker="o", ms=3, lw=1.5, label=f"{_short(group.name, 26)} (n={group.launches})")
    ax.axhline(100, color="#333333", lw=1, ls="--", label="established product")
    ax.set_xlabel(f"{stats.scope.period} since first sale")
    ax.set_ylabel("% of an established product's units")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    return Chart(key="ramp", title="New products' ramp-up", alt="Launch curves relative to established products",
                 png=_png(fig))


def forecast_chart(stats: TrendStats) -> Chart:
    groups = stats.forecast.groups
    cols = 2
    rows = int(np.ceil(len(groups) / cols))
    fig, axes = new_figure(rows, cols, figsize=(WIDTH, 2.3 * rows), squeeze=False, sharex=True)
    history_dates = pd.to_datetime(stats.trend.dates[-HISTORY_TAIL:])
    dates = pd.to_datetime(stats.forecast.dates)
    for ax, group in zip(axes.flat, groups):
        history = pd.Series(stats.trend.series[group.name][-HISTORY_TAIL:], index=history_dates)
        draw_fan(ax, history, dates, group.point, group.low, group.high, "forecast")
        ax.set_title(_short(group.name, 40), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    # One shared, concise date axis: tick layout on date axes is most of this figure's drawing time.
    locator = mdates.AutoDateLocator(maxticks=6)
    axes.flat[0].xaxis.set_major_locator(locator)
    axes.flat[0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return Chart(key="forecast", title=f"Next {stats.forecast.horizon} {stats.scope.period}s by {stats.scope.level}",
                 alt=f"Forecast fans with {stats.forecast.level}% intervals per {stats.scope.level}", png=_png(fig))


def draw_all(stats: TrendStats) -> list[Chart]:
    charts = [trend_chart(stats), movers_chart(stats), shares_chart(stats), ramp_chart(stats), forecast_chart(stats)]
    return [chart for chart in charts if chart is not None]
