"""Charts: matplotlib only, written to files (no display on a server).

Figures are made with `matplotlib.figure.Figure`, never through pyplot: pyplot
keeps a process-global figure registry that is not thread-safe, and the API
draws charts from concurrent request threads. A bare Figure belongs to its
caller alone, and `new_figure` is the one place every chart gets its figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from agent.forecast.result import Forecast


def new_figure(rows: int = 1, cols: int = 1, **kwargs: object) -> tuple[Figure, Axes | np.ndarray]:
    """A figure with its axes (an array of them for a grid), independent of pyplot's global state."""
    figure_kwargs = {k: kwargs.pop(k) for k in ("figsize", "dpi") if k in kwargs}
    fig = Figure(**figure_kwargs)
    return fig, fig.subplots(rows, cols, **kwargs)


def fan_chart(forecast: Forecast, history: pd.Series, out: Path, what: str | None = None, tail: int = 26) -> Path:
    """History tail, point forecast and the 0.1-0.9 interval, labelled with the path that answered; the title
    says what is plotted (`what`: the product's id by default, 'new product' without one, or the caller's words,
    e.g. 'sum of 120 products' for a category's aggregate)."""
    fig, ax = new_figure(figsize=(8, 3.6), dpi=110)
    draw_fan(ax, history.iloc[-tail:], pd.to_datetime(forecast.dates), forecast.point, forecast.lower,
             forecast.upper, f"forecast ({forecast.path})")
    ax.set_title(f"{forecast.title} ({what or forecast.unique_id or 'new product'})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def draw_fan(ax: Axes, history: pd.Series, dates: pd.DatetimeIndex, point: Sequence[float],
             low: Sequence[float], high: Sequence[float], label: str) -> None:
    """History, then the point forecast inside its 80% interval, on one axes (fan charts and report panels)."""
    if not history.empty:
        ax.plot(history.index, history.to_numpy(), color="#333333", lw=1.4, label="history")
    ax.fill_between(dates, low, high, color="#4c72b0", alpha=0.25, label="80% interval")
    ax.plot(dates, point, color="#4c72b0", lw=2, marker="o", ms=3, label=label)
    ax.set_ylabel("units")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
