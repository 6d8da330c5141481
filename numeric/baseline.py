"""The naive baseline every score is measured against, and the launch rule.

One rule for the chain's statistical floor, the harness's `seasonal-naive`
reference and the "naive" column on regression artifact cards: seasonal naive
when at least two full seasons of history exist (one season gives a single
noisy copy of last year; statsforecast's and the floor's rule), else the
average of the last WINDOW_AVERAGE periods (the best simple baseline on the
built-in data, WAPE ~0.65), else (no history) a typical launch level.
"""

from __future__ import annotations

import numpy as np

WINDOW_AVERAGE = 4
MIN_SEASONS = 2
# A first sale this many periods after the data start is taken as a launch; earlier first
# sales are mostly products already selling when the data begin (left-censoring).
LAUNCH_MIN_OFFSET = 4


def is_launch(first_sale: int | np.ndarray, stop: int | np.ndarray, horizon: int) -> bool | np.ndarray:
    """Whether a product whose first sale is at period position `first_sale` (0 = the data's first period) is a
    launch whose first `horizon` periods all lie before position `stop`: the one rule for which products'
    launch curves may stand in for a new product (the chain's launch analogs, the eval's category mean)."""
    first_sale = np.asarray(first_sale)
    return (first_sale >= LAUNCH_MIN_OFFSET) & (first_sale + horizon <= np.asarray(stop))


def seasonal(history_length: int | np.ndarray, season_length: int) -> bool | np.ndarray:
    """Whether the seasonal naive applies: a seasonal frequency and MIN_SEASONS full seasons of history."""
    return (season_length > 1) & (np.asarray(history_length) >= MIN_SEASONS * season_length)


def baseline_point(history: np.ndarray, horizon: int, season_length: int, launch_level: float) -> np.ndarray:
    """The baseline's point forecast for `horizon` periods after `history` (in the history's units)."""
    history = np.asarray(history, dtype=np.float64)
    if seasonal(history.size, season_length):
        return np.resize(history[-season_length:], horizon)
    if history.size:
        return np.full(horizon, history[-WINDOW_AVERAGE:].mean())
    return np.full(horizon, float(launch_level))


def baseline_name(season_length: int) -> str:
    return (f"seasonal naive ({season_length}, with {MIN_SEASONS} seasons of history) / "
            f"window average ({WINDOW_AVERAGE}) / launch level")
