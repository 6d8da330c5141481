"""numeric: one baseline rule and one set of metrics for the floor, the harness and finetune's artifact cards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agent.forecast.context import ForecastContext, ProductInfo
from agent.forecast.floor import floor_forecast
from agent.forecast.result import Forecast
from finetune.regression.metrics import accuracy
from numeric.baseline import WINDOW_AVERAGE, baseline_point, seasonal
from numeric.metrics import point_accuracy
from numeric.quantiles import LEVEL, QUANTILES

SEASON = 12


def _context(history: np.ndarray, horizon: int = 6) -> ForecastContext:
    return ForecastContext(product=ProductInfo(title="t", text="t"), freq="MS", cutoff=pd.Timestamp("2030-01-01"),
                           horizon=horizon, history=history.tolist())


@pytest.mark.parametrize("seasons", [1.5, 2, 3])
def test_floor_and_artifact_baseline_are_one_rule(seasons: float) -> None:
    history = np.arange(int(seasons * SEASON), dtype=float) % SEASON + 1.0
    floor, method = floor_forecast(_context(history), SEASON)
    point = baseline_point(history, 6, SEASON, launch_level=1.0)
    np.testing.assert_allclose(floor[QUANTILES.index(0.5)], point)
    if seasons >= 2:
        assert seasonal(history.size, SEASON) and method.startswith("seasonal naive")
        np.testing.assert_allclose(point, history[-SEASON:][:6])
    else:  # one and a half seasons: one noisy copy of last year is not trusted, the window average is
        assert not seasonal(history.size, SEASON) and method.startswith("window average")
        np.testing.assert_allclose(point, history[-WINDOW_AVERAGE:].mean())


def test_baseline_without_history_is_the_launch_level() -> None:
    np.testing.assert_allclose(baseline_point(np.array([]), 3, SEASON, launch_level=2.5), [2.5, 2.5, 2.5])


def test_artifact_accuracy_is_the_harness_metrics_by_hand() -> None:
    histories = [np.array([1.0, 3, 1, 3]), np.array([]), np.array([5.0, 5, 5])]  # scale 2; a launch; scale 0
    targets = np.array([[2.0, 4], [1, 1], [5, 7]])
    points = np.array([[1.0, 1], [2, 2], [5, 5]])
    got = accuracy(points, targets, histories, season_length=SEASON)
    # MASE only where the in-sample naive scale is defined and positive: window 0, mean(|1|, |3|) / 2 = 1
    assert got.windows == 3 and got.mase == pytest.approx(1.0)
    # WAPE pooled over all windows: (1 + 3 + 1 + 1 + 0 + 2) / (2 + 4 + 1 + 1 + 5 + 7)
    assert got.wape == pytest.approx(8 / 20)
    frame = pd.DataFrame({"unique_id": ["a", "a"], "ds": [4, 5], "cutoff": 3, "y": [2.0, 4], "m": [1.0, 1]})
    train = pd.DataFrame({"unique_id": "a", "ds": [0, 1, 2, 3], "y": [1.0, 3, 1, 3]})
    assert point_accuracy(frame, "m", train, SEASON) == pytest.approx((1.0, 4 / 6))


def test_forecast_quantiles_read_by_level() -> None:
    forecast = Forecast(unique_id="a", title="t", freq="W-MON", horizon=2, dates=["2030-01-07", "2030-01-14"],
                        point=[2.0, 3.0], quantiles={"0.1": [1.0, 1.5], "0.5": [2.0, 3.0], "0.9": [4.0, 6.0]},
                        path="baseline", attempts=[])
    assert forecast.lower == [1.0, 1.5] and forecast.upper == [4.0, 6.0] and forecast.quantile(0.5) == forecast.point
    assert LEVEL == 80 and set(forecast.model_dump()["quantiles"]) == {"0.1", "0.5", "0.9"}  # the JSON is unchanged
    with pytest.raises(KeyError, match="no quantile 0.25 in this forecast; it has 0.1, 0.5, 0.9"):
        forecast.quantile(0.25)
