"""The global gbm as a chain path (agent/forecast/gbm.py): served, cached, the harness's gbm row, routed and combined.

Small synthetic panels (24 products x 40 weeks): each fit takes well under a second on one thread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_eval import WordRetriever, make_dataset
from test_routing import Constant

import agent.forecast.gbm as gbm_module
from agent.data.panel import Panel
from agent.forecast.chain import ForecastChain
from agent.forecast.context import ContextBuilder
from agent.forecast.gbm import GbmForecaster, fit_panel, training_rows
from agent.forecast.routing import Rule, RoutingTable, segment_of
from eval.harness import baselines as bl
from eval.harness.routing import cross_fit, fit, to_table
from eval.harness.tasks import existing_task

DATES = pd.date_range("2024-01-01", periods=40, freq="W-MON")
CUTOFF = DATES[30]


@pytest.fixture(scope="module")
def data():
    return make_dataset()


@pytest.fixture
def builder(data) -> ContextBuilder:
    return ContextBuilder(data, WordRetriever(data.catalog))


def test_gbm_answers_ordered_quantiles_and_the_second_forecast_comes_from_the_cache(data, builder, tmp_path,
                                                                                     monkeypatch):
    served = GbmForecaster(data, cache_dir=tmp_path)
    chain = ForecastChain(builder, gbm=served)
    forecast = chain.forecast("p03", 4, mode="gbm", cutoff=CUTOFF)
    assert forecast.path == "gbm" and [a.path for a in forecast.attempts] == ["gbm"]
    q = np.array([forecast.quantile(0.1), forecast.quantile(0.5), forecast.quantile(0.9)])
    assert q.shape == (3, 4) and (q >= 0).all() and (np.diff(q, axis=0) >= 0).all() and (q[2] > q[0]).any()
    assert "global gbm on" in forecast.attempts[0].reason and "fitted in" in forecast.attempts[0].reason
    assert len(list(tmp_path.glob("*.joblib"))) == 1

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although the model for this data, origin and horizon is cached")

    monkeypatch.setattr(gbm_module, "fit_panel", no_fit)
    again = chain.forecast("p07", 4, mode="gbm", cutoff=CUTOFF)  # another product, same origin: same model
    assert "from the memory" in again.attempts[0].reason
    fresh = ForecastChain(builder, gbm=GbmForecaster(data, cache_dir=tmp_path))  # a new process: the disk cache
    reread = fresh.forecast("p03", 4, mode="gbm", cutoff=CUTOFF)
    assert "from the disk cache" in reread.attempts[0].reason and reread.quantiles == forecast.quantiles
    # Another origin or horizon is another model.
    with pytest.raises(AssertionError, match="refitted"):
        fresh.forecast("p03", 4, mode="gbm", cutoff=DATES[31])


def test_gbm_declines_launches_and_a_chain_without_it_says_so(data, builder, tmp_path):
    launch = ForecastChain(builder, gbm=GbmForecaster(data, cache_dir=tmp_path)).forecast_new("bakery item", 4,
                                                                                              mode="gbm")
    assert launch.path == "baseline" and "needs the product's own history" in launch.attempts[0].reason
    plain = ForecastChain(builder).forecast("p03", 4, mode="gbm", cutoff=CUTOFF)
    assert plain.path == "baseline" and "no global gbm here" in plain.attempts[0].reason
    assert list(tmp_path.iterdir()) == []  # nothing fitted for a launch


def test_one_model_serves_the_path_and_the_bar_fits_on_the_evaluated_products(data, builder, tmp_path):
    """One implementation: `--mode gbm` serves fit_panel's default sample; the harness's `gbm` bar is the same
    model fitted on the products it evaluates."""
    panel = Panel(data)
    visible = panel.visible(panel.position(CUTOFF))
    rows = visible.rows(["p03"])
    sampled = fit_panel(visible, 4).predict(visible.values[rows], visible.first[rows], visible.start)[0]
    served = ForecastChain(builder, gbm=GbmForecaster(data, cache_dir=tmp_path)).forecast("p03", 4, mode="gbm",
                                                                                          cutoff=CUTOFF)
    np.testing.assert_allclose(sampled[1], served.point, atol=1e-3)
    np.testing.assert_allclose(sampled[0], served.lower, atol=1e-3)
    np.testing.assert_allclose(sampled[-1], served.upper, atol=1e-3)
    evaluated = ["p03", "p07", "p11"]
    bar = bl.gbm_forecast(visible, evaluated, 4)
    own = fit_panel(visible, 4, rows=visible.rows(evaluated))
    assert own.series == 3
    expected = own.predict(visible.values[rows], visible.first[rows], visible.start)[0]
    np.testing.assert_allclose(bar[bar["unique_id"] == "p03"]["gbm"], expected[1], atol=1e-3)


def test_fit_uses_a_sample_and_only_data_before_the_origin(data):
    panel = Panel(data)
    visible = panel.visible(30)
    small = fit_panel(visible, 4, n_series=5)
    assert small.series == 5 and small.rows > 0
    dirty = panel.values.copy()
    dirty[:, 30:] = 1e6  # garbage at and after the origin
    panel.values = dirty
    again = fit_panel(panel.visible(30), 4, n_series=5)
    np.testing.assert_allclose(small.predict(visible.values[:3], visible.first[:3], visible.start),
                               again.predict(visible.values[:3], visible.first[:3], visible.start))


def test_the_served_sample_is_drawn_from_the_products_the_existing_task_evaluates(data):
    """Issue 12: the served model learns on the population it is scored on (>= 26 periods, a sale in 13 of them)."""
    sales = data.sales.copy()
    sparse = (sales["unique_id"] == "p00") & (sales["ds"] < DATES[30]) & (sales["ds"].dt.isocalendar().week % 3 != 0)
    sales.loc[sparse, "y"] = 0.0  # p00: a sale in at most 10 of its 30 periods, no longer established
    dataset = type(data)(name=data.name, sales=sales, catalog=data.catalog, freq=data.freq)
    panel = Panel(dataset)
    task = existing_task(dataset, panel, horizon=2, n_windows=5, max_series=None)  # first window starts at 30
    assert task.items["stop"].min() == 30 and task.settings["min_history"] == 26
    visible = panel.visible(30)
    sampled = set(visible.ids[training_rows(visible, None)])
    assert sampled == set(task.items["unique_id"])
    assert "p00" not in sampled and "p16" not in sampled  # too sparse; launched at 6 (24 periods)
    assert len(training_rows(visible, 5)) == 5
    # Data shorter than ESTABLISHED_HISTORY: the products with the longest history stand in.
    short = set(panel.visible(20).ids[training_rows(panel.visible(20), None)])
    assert short == {f"p{i:02d}" for i in range(1, 16)}


def backtest(ids: list[str], segment, errors: dict[str, float]) -> pd.DataFrame:
    """Per series 4 periods; each model errs by its given amount, with a +-1 interval around its point."""
    rows = []
    for uid in ids:
        for k in range(4):
            y = 10.0 + k
            row = {"unique_id": uid, "ds": DATES[31 + k], "cutoff": DATES[30], "y": y, "segment": segment}
            for model, error in errors.items():
                row |= {model: y + error, f"{model}-lo-80": y + error - 1, f"{model}-hi-80": y + error + 1}
            rows.append(row)
    return pd.DataFrame(rows)


def test_routing_picks_gbm_when_the_backtest_says_gbm_is_best(data, builder, tmp_path):
    segment = segment_of(builder.for_product("p03", 4, CUTOFF, with_analogs=False).history, "W-MON")
    ids = [f"s{i}" for i in range(8)]
    items = pd.DataFrame({"unique_id": ids, "cutoff": DATES[30], "segment": [segment] * 8})
    frame = backtest(ids, segment, {"floor": 3.0, "regression": 2.0, "gbm-path": 0.1})
    evidence = cross_fit(frame.drop(columns="segment"), items, "existing", ["floor", "regression", "gbm-path"])
    table = to_table([evidence], "synthetic", "x", "test")
    assert table.route(segment).weights == {"gbm": 1.0}
    assert table.calibration_for(segment, "gbm") is not None  # conformal calibration covers the gbm path
    chain = ForecastChain(builder, None, Constant(), routing=table, gbm=GbmForecaster(data, cache_dir=tmp_path))
    forecast = chain.forecast("p03", 4, cutoff=CUTOFF)
    assert forecast.path == "gbm" and forecast.attempts[0].path == "gbm"  # chosen first, not fallen to
    assert forecast.route.startswith(f"rule {segment.key}: gbm")
    assert forecast.calibration.startswith("80% interval moved by q=")
    # Where regression backtested best, regression answers first: the table, not the code, decides.
    other = backtest(ids, segment, {"floor": 3.0, "regression": 0.1, "gbm-path": 2.0})
    table = to_table([cross_fit(other.drop(columns="segment"), items, "existing", ["floor", "regression", "gbm-path"])],
                     "synthetic", "x", "test")
    chain = ForecastChain(builder, None, Constant(), routing=table, gbm=GbmForecaster(data, cache_dir=tmp_path))
    assert chain.forecast("p03", 4, cutoff=CUTOFF).path == "regression"


def test_the_combination_gives_gbm_its_weight(data, builder, tmp_path):
    segment = segment_of(builder.for_product("p03", 4, CUTOFF, with_analogs=False).history, "W-MON")
    ids = [f"s{i}" for i in range(8)]
    # Opposite biases: the average beats both, so the combination is chosen, with gbm's inverse-WAPE weight.
    fitted = fit(backtest(ids, segment, {"floor": 2.0, "gbm-path": -1.0}), ["floor", "gbm-path"])
    choice = fitted.choice(segment)
    assert set(choice.weights) == {"floor", "gbm-path"} and choice.weights["gbm-path"] > choice.weights["floor"]
    weights = {"gbm": choice.weights["gbm-path"], "baseline": choice.weights["floor"]}
    combo = RoutingTable(dataset="synthetic", fingerprint="x", source="test", metric="wape",
                         rules=[Rule(segment=segment, weights=weights, metric="wape", score=0.1, n_series=8)])
    served = GbmForecaster(data, cache_dir=tmp_path)
    alone = ForecastChain(builder, gbm=served).forecast("p03", 4, mode="gbm", cutoff=CUTOFF)
    floor = ForecastChain(builder).forecast("p03", 4, mode="baseline", cutoff=CUTOFF)
    forecast = ForecastChain(builder, routing=combo, gbm=served).forecast("p03", 4, cutoff=CUTOFF)
    assert forecast.path == "combination"
    expected = (weights["gbm"] * np.array(alone.point) + weights["baseline"] * np.array(floor.point)) / sum(weights.values())
    np.testing.assert_allclose(forecast.point, expected, atol=2e-3)
    assert f"quantile average of gbm {weights['gbm'] / sum(weights.values()):.2f}" in forecast.attempts[0].reason


def test_too_little_data_declines_with_a_reason_and_the_chain_falls_through(tmp_path):
    """Eight weeks before the origin (as little as the red-team corpus's files give): too few targets to fit (sklearn
    could not even bin the features); the path declines with GbmUnavailable and the chain answers from the floor."""
    tiny = make_dataset(n=10, periods=30)
    panel = Panel(tiny)
    with pytest.raises(gbm_module.GbmUnavailable, match="too few|could not be fitted"):
        fit_panel(panel.visible(8), 3)
    builder = ContextBuilder(tiny, WordRetriever(tiny.catalog))
    uid = tiny.catalog["unique_id"].iloc[0]
    forecast = ForecastChain(builder, gbm=GbmForecaster(tiny, cache_dir=tmp_path)).forecast(
        uid, 3, mode="gbm", cutoff=panel.periods[7])
    assert forecast.path == "baseline" and "gbm cannot answer" in forecast.attempts[0].reason
