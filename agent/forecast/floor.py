"""The statistical floor: a forecast that never fails.

The baseline rule of `numeric.baseline`: seasonal naive when two full seasons
of history exist, else the average of the last window (statsforecast's models,
so the numbers match the baselines in eval/ and on artifact cards). Quantiles come from the spread of recent values around that level,
which is honest for the intermittent, low-volume series most products have.
For a product with no history, the similarity-weighted mean launch curve of
its analogs (`analog_launch_curve`, also the eval's `knn` row on launches); with
no analogs either, zeros, and the reason says so.
"""

from __future__ import annotations

import numpy as np
from statsforecast.models import SeasonalNaive, WindowAverage

from agent.forecast.context import ForecastContext
from numeric.baseline import WINDOW_AVERAGE, seasonal
from numeric.quantiles import LEVEL, QUANTILES

SPREAD_WINDOW = 13


def floor_forecast(context: ForecastContext, season_length: int) -> tuple[np.ndarray, str]:
    """(quantiles of shape (3, horizon) in units, description of the method used)."""
    h = context.horizon
    history = np.asarray(context.history, dtype=float)
    if history.size == 0:
        return analog_launch_curve(context)
    if seasonal(history.size, season_length):
        fitted = SeasonalNaive(season_length=season_length).forecast(y=history, h=h, level=[LEVEL])
        lo, mean, hi = fitted[f"lo-{LEVEL}"], fitted["mean"], fitted[f"hi-{LEVEL}"]
        return np.clip(np.vstack([lo, mean, hi]), 0, None), f"seasonal naive (season {season_length})"
    window = min(WINDOW_AVERAGE, history.size)
    mean = WindowAverage(window_size=window).forecast(y=history, h=h)["mean"]
    lo, hi = spread_interval(history, mean)
    return np.vstack([lo, mean, hi]), f"window average ({window})"


def spread_interval(history: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 0.1/0.9 band around `point` from the spread of the last SPREAD_WINDOW values about their mean
    (no residual windows needed, so it works on the shortest histories); never below 0 or across the point."""
    recent = np.asarray(history, dtype=float)[-SPREAD_WINDOW:]
    deviation = np.quantile(recent - recent.mean(), [QUANTILES[0], QUANTILES[-1]])
    return np.minimum(np.clip(point + deviation[0], 0, None), point), np.maximum(point + deviation[1], point)


def analog_launch_curve(context: ForecastContext) -> tuple[np.ndarray, str]:
    """A launch's forecast: the similarity-weighted mean launch curve of its analogs (zeros without any).

    The one analog launch curve: the chain's floor for a new product and the eval's `knn` row on launches
    (eval/harness/baselines.py) both call this on the same `ContextBuilder` context.
    """
    if not context.analogs:
        zeros = np.zeros((len(QUANTILES), context.horizon))
        return zeros, "no history and no analogs: zero forecast"
    curves = np.array([a.next for a in context.analogs], dtype=float)
    return curve_quantiles(curves, np.clip([a.similarity for a in context.analogs], 1e-6, None)), \
        f"analog launch curve (k={len(curves)})"


def curve_quantiles(curves: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(3, h): the (weighted) mean of the curves (n, h) and their 0.1/0.9 quantiles, never across the mean."""
    mean = np.average(curves, axis=0, weights=weights)
    lo, hi = np.quantile(curves, [QUANTILES[0], QUANTILES[-1]], axis=0)
    return np.vstack([np.minimum(lo, mean), mean, np.maximum(hi, mean)])
