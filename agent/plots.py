"""Charts: matplotlib only, written to files (no display on a server)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never try to open a window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from agent.forecast.result import Forecast  # noqa: E402


def fan_chart(forecast: Forecast, history: pd.Series, out: Path, tail: int = 26) -> Path:
    """History tail, point forecast and the 0.1-0.9 interval, labelled with the path that answered."""
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    recent = history.iloc[-tail:]
    if not recent.empty:
        ax.plot(recent.index, recent.to_numpy(), color="#333333", lw=1.4, label="history")
    dates = pd.to_datetime(forecast.dates)
    ax.fill_between(dates, forecast.quantiles["0.1"], forecast.quantiles["0.9"], color="#4c72b0", alpha=0.25,
                    label="80% interval")
    ax.plot(dates, forecast.point, color="#4c72b0", lw=2, marker="o", ms=3, label=f"forecast ({forecast.path})")
    ax.set_title(f"{forecast.title} ({forecast.unique_id or 'new product'})", fontsize=10)
    ax.set_ylabel("units")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
