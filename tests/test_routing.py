"""Evidence-based routing, combination and conformal calibration (agent/forecast/routing.py, eval/harness/routing.py).

Synthetic data and scripted paths (seconds), plus one check that the shipped
default table matches the real built-in data's fingerprint.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_eval import WordRetriever as EvalRetriever
from test_eval import make_dataset as eval_dataset
from test_forecast_chain import DATES, ScriptedBackend, WordRetriever, make_dataset

from agent.config import get_settings
from agent.forecast.chain import ForecastChain
from agent.forecast.context import ContextBuilder
from agent.forecast.routing import (
    RoutingError,
    RoutingTable,
    Rule,
    Segment,
    calibrate_interval,
    combine_quantiles,
    conformal_q,
    conformity_scores,
    dataset_fingerprint,
    load_routing,
    routing_dir,
    segment_of,
    shipped_tables,
)
from eval.harness import EvalConfig, Harness, write_report
from agent.llm.select import Tuned, TunedUnavailable
from agent.pipeline import TunedOnDemand
from eval.harness.routing import cross_fit, fit, to_table


class Constant:
    """A regression model that always answers the same quantiles."""

    artifact_id = "reg-test"
    note = ""  # the chain records a regressor's note (which artifact, trained here or transferred) with each answer

    def __init__(self, lo=1.0, mid=2.0, hi=3.0):
        self.values = np.array([[lo], [mid], [hi]])

    def predict(self, texts, histories, horizon):
        return np.tile(self.values, (len(texts), 1, horizon))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private SHELFCAST_HOME, so routing tables and indexes never touch the shared test home."""
    monkeypatch.setenv("SHELFCAST_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


@pytest.fixture
def builder() -> ContextBuilder:
    data = make_dataset()
    return ContextBuilder(data, WordRetriever(data.catalog))


def table(rules: list[Rule], calibration=()) -> RoutingTable:
    return RoutingTable(dataset="synthetic", fingerprint="x", source="test", metric="wape", rules=rules,
                        calibration=list(calibration))


def rule(segment: Segment, weights: dict[str, float]) -> Rule:
    return Rule(segment=segment, weights=weights, metric="wape", score=0.5, n_series=10)


# ---------------------------------------------------------------------- segments


def test_segments_follow_syntetos_boylan_and_volume():
    assert segment_of([], "W-MON") == Segment(kind="new", volume="n/a", intermittency="n/a", freq="W-MON")
    smooth = segment_of([20, 22, 19, 21] * 4, "W-MON")
    assert (smooth.volume, smooth.intermittency) == ("high", "smooth")
    assert segment_of([0, 3, 0, 3, 0, 3, 0, 3], "MS").intermittency == "intermittent"  # ADI 2, constant sizes
    assert segment_of([0, 1, 0, 9, 0, 1, 0, 12], "MS").intermittency == "lumpy"
    assert segment_of([5, 1, 9, 1, 12, 1], "D").intermittency == "erratic"
    assert segment_of([0, 0, 0], "W-MON").intermittency == "zero"
    assert segment_of([0.5] * 13, "W-MON").volume == "low" and segment_of([4] * 13, "W-MON").volume == "mid"
    coarser = smooth.generalisations()
    assert coarser[0] == smooth and coarser[-1] == Segment(kind="existing", volume="*", intermittency="*", freq="*")


# ---------------------------------------------------------------------- combination and calibration


def test_combination_averages_quantiles_and_renormalises():
    a, b = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), np.array([[3.0, 5.0], [6.0, 6.0], [9.0, 9.0]])
    both = combine_quantiles({"regression": a, "baseline": b}, {"regression": 3.0, "baseline": 1.0})
    np.testing.assert_allclose(both, 0.75 * a + 0.25 * b)
    np.testing.assert_allclose(combine_quantiles({"baseline": b}, {"regression": 3.0, "baseline": 1.0}), b)
    with pytest.raises(ValueError, match="no component"):
        combine_quantiles({"llm-few-shot": a}, {"regression": 1.0})
    with pytest.raises(ValueError, match="weights must be positive"):
        rule(segment_of([1] * 5, "W-MON"), {"knn": 1.0})  # a baseline auto cannot run


def test_conformal_step_brings_held_out_coverage_to_80_percent():
    """Intervals that are far too narrow (about 35% coverage) cover ~80% on held-out data after calibration."""
    rng = np.random.default_rng(0)
    point = rng.uniform(1, 50, 4000)
    y = rng.poisson(point).astype(float)
    lo, hi = point - 0.2 * np.sqrt(point), point + 0.2 * np.sqrt(point)
    before = ((lo[2000:] <= y[2000:]) & (y[2000:] <= hi[2000:])).mean()
    q = conformal_q(conformity_scores(lo[:2000], hi[:2000], y[:2000]))
    new_lo, new_hi = calibrate_interval(lo[2000:], point[2000:], hi[2000:], q)
    after = ((new_lo <= y[2000:]) & (y[2000:] <= new_hi)).mean()
    assert before < 0.5 and 0.75 <= after <= 0.85 and q > 0
    # Over-wide intervals are narrowed (q < 0), never past the point and never below zero.
    wide_lo, wide_hi = np.zeros_like(point), point * 4
    q_wide = conformal_q(conformity_scores(wide_lo[:2000], wide_hi[:2000], y[:2000]))
    narrow_lo, narrow_hi = calibrate_interval(wide_lo, point, wide_hi, q_wide)
    assert q_wide < 0 and (narrow_hi <= wide_hi).all() and (narrow_lo >= 0).all()
    assert (narrow_lo <= point).all() and (point <= narrow_hi).all()
    assert conformal_q(np.arange(1.0, 11.0)) == 9.0  # ceil(11 * 0.8) = 9th of 10


# ---------------------------------------------------------------------- the chain reads the table


def backtest(segments: dict[str, Segment], regression_error: dict[str, float]) -> pd.DataFrame:
    """A backtest frame: per segment 8 series x 4 periods; floor errs by 3 units, regression by the given amount."""
    rows = []
    for name, segment in segments.items():
        for i in range(8):
            for k in range(4):
                y = 10.0 + k
                rows.append({"unique_id": f"{name}{i}", "ds": DATES[20 + k], "cutoff": DATES[19], "y": y,
                             "segment": segment, "floor": y + 3, "floor-lo-80": y + 2, "floor-hi-80": y + 4,
                             "regression": y + regression_error[name], "regression-lo-80": y - 1 + regression_error[name],
                             "regression-hi-80": y + 1 + regression_error[name]})
    return pd.DataFrame(rows)


def test_routing_changes_the_path_when_the_backtest_says_so(builder: ContextBuilder):
    """Where regression backtested better auto asks it first; where the floor did, the floor answers first."""
    segment = segment_of(builder.for_product("bagel", 4, DATES[20], with_analogs=False).history, "W-MON")
    chain = ForecastChain(builder, None, Constant())
    fixed = chain.forecast("bagel", 4, cutoff=DATES[20])
    assert fixed.path == "regression" and fixed.route.startswith("fixed order: no routing table")
    items = pd.DataFrame({"unique_id": [f"s{i}" for i in range(8)], "cutoff": DATES[19], "segment": [segment] * 8})
    for error, path in ((0.2, "regression"), (9.0, "baseline")):
        frame = backtest({"s": segment}, {"s": error})
        evidence = cross_fit(frame.drop(columns="segment"), items, "existing", ["floor", "regression"])
        assert evidence.fitted.segments.keys() == fit(frame, ["floor", "regression"]).segments.keys()
        routed = ForecastChain(builder, None, Constant(), routing=to_table([evidence], "synthetic", "x", "test"))
        forecast = routed.forecast("bagel", 4, cutoff=DATES[20])
        assert forecast.path == path and forecast.attempts[0].path == path, forecast.route  # chosen, not fallen to
        assert forecast.route.startswith(f"rule {segment.key}: {path}") and "table " in forecast.route
        assert forecast.calibration.startswith("80% interval moved by q=")


def test_a_routed_path_that_fails_falls_through_as_before(builder: ContextBuilder):
    segment = segment_of(builder.for_product("bagel", 4, DATES[20]).history, "W-MON")
    routed = ForecastChain(builder, None, None, routing=table([rule(segment, {"regression": 1.0})]))
    forecast = routed.forecast("bagel", 4, cutoff=DATES[20])
    assert [a.path for a in forecast.attempts] == ["regression", "llm-few-shot", "llm-zero-shot", "gbm", "baseline"]
    assert forecast.path == "baseline" and "no trained regression model" in forecast.attempts[0].reason
    assert forecast.calibration.startswith("not calibrated")
    # A rule naming a path that cannot answer this kind of product is ignored, and the record says so.
    new_rule = rule(Segment(kind="new", volume="*", intermittency="*", freq="*"), {"llm-few-shot": 1.0})
    launch = ForecastChain(builder, None, None, routing=table([new_rule])).forecast_new("Cinnamon bagels", 4)
    assert launch.path == "baseline" and "cannot answer a new product" in launch.route


def test_combination_rule_answers_with_the_weighted_quantiles(builder: ContextBuilder):
    segment = segment_of(builder.for_product("bagel", 4, DATES[20]).history, "W-MON")
    combo = table([rule(segment.generalisations()[-1], {"regression": 3.0, "baseline": 1.0})])
    floor = ForecastChain(builder).forecast("bagel", 4, mode="baseline", cutoff=DATES[20])
    forecast = ForecastChain(builder, None, Constant(10, 20, 30), routing=combo).forecast("bagel", 4, cutoff=DATES[20])
    assert forecast.path == "combination" and forecast.model_ids == ["reg-test"]
    np.testing.assert_allclose(forecast.point, 0.75 * 20 + 0.25 * np.array(floor.point), atol=1e-3)
    assert "quantile average of regression 0.75, baseline 0.25" in forecast.attempts[0].reason
    # The record names the model whatever the order of the components (the floor has none to name).
    floor_first = table([rule(segment.generalisations()[-1], {"baseline": 1.0, "regression": 3.0})])
    named = ForecastChain(builder, None, Constant(10, 20, 30), routing=floor_first).forecast("bagel", 4, cutoff=DATES[20])
    assert named.path == "combination" and named.model_ids == ["reg-test"]
    without = ForecastChain(builder, None, None, routing=combo).forecast("bagel", 4, cutoff=DATES[20])
    assert without.path == "combination" and without.point == floor.point
    assert "without regression: no trained regression model" in without.attempts[0].reason
    assert without.calibration.startswith("not calibrated") and "for baseline" in without.calibration  # the floor's q


# ---------------------------------------------------------------------- the tuned LLM as a candidate


class FixedTuned:
    """A tuned LLM that is already loaded (agent.pipeline.TunedOnDemand's interface); counts the loads."""

    def __init__(self, backend, as_of=DATES[0]):
        self.tuned, self.loads = Tuned(backend, "adapter-test", as_of.date()), 0

    def load(self) -> Tuned:
        self.loads += 1
        return self.tuned


def scripted(model_id: str, value: int) -> ScriptedBackend:
    backend = ScriptedBackend(lambda r: [f"{value}, {value}, {value}, {value}"] * r.n)
    backend.model_id = model_id
    return backend


def launch_backtest(lora_error: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Launch rows in the harness's names: the floor errs by 3 units, the tuned LLM's launch row by `lora_error`."""
    rows = []
    for i in range(10):
        for k in range(4):
            y = 5.0 + k
            rows.append({"unique_id": f"n{i}", "ds": DATES[20 + k], "cutoff": DATES[19], "y": y,
                         "floor": y + 3, "floor-lo-80": y + 1, "floor-hi-80": y + 5,
                         "llm-lora-few-shot": y + lora_error, "llm-lora-few-shot-lo-80": y - 2 + lora_error,
                         "llm-lora-few-shot-hi-80": y + 2 + lora_error})
    frame = pd.DataFrame(rows)
    items = pd.DataFrame({"unique_id": [f"n{i}" for i in range(10)], "cutoff": DATES[19],
                          "segment": [segment_of([], "W-MON")] * 10})
    return frame, items


def test_launches_route_to_the_tuned_llm_when_its_backtest_wins(builder: ContextBuilder):
    """The table names the tuned path where the tuned rows backtested best; auto then answers with the tuned weights,
    and only then loads them."""
    launch = builder.for_new_product("Cinnamon bagels", 4, DATES[20])
    for error, path in ((0.5, "llm-lora-new-product"), (9.0, "baseline")):
        frame, items = launch_backtest(error)
        evidence = cross_fit(frame, items, "new", ["floor", "llm-lora-few-shot"])
        routing = to_table([evidence], "synthetic", "x", "test")
        assert routing.route(segment_of([], "W-MON")).weights == {path: 1.0}
        base, tuned = scripted("base-model", 90), FixedTuned(scripted("base-model+lora:adapter-test", 40))
        forecast = ForecastChain(builder, base, routing=routing, tuned=tuned).run(launch)
        assert forecast.path == path and forecast.attempts[0].path == path, forecast.route
        assert tuned.loads == (path == "llm-lora-new-product")  # the tuned model is touched only when routed to
        if path == "llm-lora-new-product":
            assert forecast.model_ids == ["base-model+lora:adapter-test"] and not base.requests
            assert forecast.attempts[0].reason == f"tuned weights: adapter adapter-test, trained on data before {DATES[0].date()}"
            assert forecast.calibration.startswith("80% interval moved by q=") and "llm-lora-new-product" in forecast.calibration
    # Outside a route (a mode, or the fixed order) the tuned paths never run.
    fixed = ForecastChain(builder, base, tuned=tuned).run(launch)
    assert fixed.path == "llm-new-product" and fixed.model_ids == ["base-model"]


def test_a_tuned_route_without_an_adapter_gives_way_with_the_reason(builder: ContextBuilder, home):
    """A fresh clone has no adapter: the tuned path gives way to the fixed order, and the record says why."""
    routing = table([rule(segment_of([], "W-MON"), {"llm-lora-new-product": 1.0})])
    launch = builder.for_new_product("Cinnamon bagels", 4, DATES[20])
    base = scripted("base-model", 90)
    on_demand = TunedOnDemand("embedded")  # the pipeline's loader: one backend choice, on first use
    forecast = ForecastChain(builder, base, routing=routing, tuned=on_demand).run(launch)
    assert [a.path for a in forecast.attempts] == ["llm-lora-new-product", "llm-new-product"]
    assert forecast.path == "llm-new-product" and forecast.model_ids == ["base-model"]
    reason = forecast.attempts[0].reason
    assert reason.startswith("tuned LLM unavailable (no LoRA adapter under") and "shelfcast finetune llm" in reason
    assert forecast.route.startswith("rule new/") and "llm-lora-new-product" in forecast.route
    with pytest.raises(TunedUnavailable, match="no LoRA adapter"):  # the reason is kept, not re-tried per forecast
        on_demand.load()
    # With the rule's evidence (its scores in the segment) the next path is the best-scored one, not the fixed order's.
    scored = table([rule(segment_of([], "W-MON"), {"llm-lora-new-product": 1.0}).model_copy(
        update={"scores": {"llm-lora-new-product": 0.5, "baseline": 0.7, "llm-new-product": 0.8}})])
    by_evidence = ForecastChain(builder, base, routing=scored, tuned=on_demand).run(launch)
    assert [a.path for a in by_evidence.attempts] == ["llm-lora-new-product", "baseline"]
    assert by_evidence.path == "baseline" and len(base.requests) == 1  # the base LLM was not asked again
    assert "then by backtest wape in the segment: baseline" in by_evidence.route
    # Without any tuned LLM (e.g. batch workers) and without the base one, the floor answers, saying both.
    alone = ForecastChain(builder, None, routing=routing).run(launch)
    assert alone.path == "baseline" and "no tuned LLM here" in alone.attempts[0].reason
    # An adapter trained on periods after the forecast's first one may have seen them: it gives way too.
    late = FixedTuned(scripted("base-model+lora:adapter-test", 40), as_of=DATES[25])
    leaky = ForecastChain(builder, base, routing=routing, tuned=late).run(launch)
    assert leaky.path == "llm-new-product" and "may have seen the weeks it would forecast" in leaky.attempts[0].reason


def test_the_tuned_adapter_must_say_what_it_saw(home):
    """Only an adapter with a recorded as-of date answers: its backtests can then be shown leak-free. In-process the
    backend knows its folder; a server's answers name the adapter, whose folder is looked up on this machine."""
    from finetune.llm.artifact import AdapterConfig
    from finetune.llm.train import LoraTrainConfig

    class Backend:
        name = "test"

        def __init__(self, model_id: str, adapter_dir=None):
            self.model_id = model_id
            if adapter_dir is not None:  # the embedded backend: its adapter folder
                self.adapter_dir = adapter_dir

    def adapter(name: str, data: dict):
        folder = home / "models" / "llm-lora" / name
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        config = AdapterConfig(adapter_id=name, created=pd.Timestamp("2024-01-01", tz="UTC"), base_model="base",
                               training=LoraTrainConfig(), best_step=0, train_seconds=0.0, threads=1,
                               trainable_parameters=0, data=data, losses={})
        (folder / "config.json").write_text(config.model_dump_json())
        return folder

    embedded = Backend("base+lora:a1", adapter("a1", {"as_of": "2024-03-04"}))
    dated = TunedOnDemand(loaded=(embedded, "embedded: test")).load()
    assert (dated.backend, dated.adapter_id, str(dated.as_of)) == (embedded, "a1", "2024-03-04")
    served = TunedOnDemand(loaded=(Backend("lora:a1"), "vllm-http: test")).load()  # a server serving adapter a1
    assert (served.adapter_id, str(served.as_of)) == ("a1", "2024-03-04")
    elsewhere = TunedOnDemand(loaded=(Backend("lora:a9"), "vllm-http: test"))  # no such folder here
    with pytest.raises(TunedUnavailable, match="a9 records no as-of date here"):
        elsewhere.load()
    undated = TunedOnDemand(loaded=(Backend("base+lora:a2", adapter("a2", {"dataset": "synthetic"})), "embedded"))
    with pytest.raises(TunedUnavailable, match="a2 records no as-of date"):
        undated.load()
    with pytest.raises(TunedUnavailable, match="LLM disabled"):
        TunedOnDemand("none").load()


def test_a_combination_with_the_tuned_llm(builder: ContextBuilder):
    segment = segment_of(builder.for_product("bagel", 4, DATES[20]).history, "W-MON")
    combo = table([rule(segment.generalisations()[-1], {"llm-lora-zero-shot": 1.0, "regression": 1.0})])
    tuned = FixedTuned(scripted("base+lora:adapter-test", 100))
    forecast = ForecastChain(builder, None, Constant(0, 0, 0), routing=combo, tuned=tuned).forecast(
        "bagel", 4, cutoff=DATES[20])
    zero_shot = ForecastChain(builder, tuned.tuned.backend).forecast("bagel", 4, mode="zero-shot", cutoff=DATES[20])
    assert forecast.path == "combination" and forecast.model_ids == ["base+lora:adapter-test", "reg-test"]
    np.testing.assert_allclose(forecast.point, 0.5 * np.array(zero_shot.point), atol=1e-3)
    assert forecast.attempts[0].reason == "quantile average of llm-lora-zero-shot 0.50, regression 0.50"
    # Without the tuned weights the combination is regression's alone, and says why.
    without = ForecastChain(builder, None, Constant(0, 0, 0), routing=combo).forecast("bagel", 4, cutoff=DATES[20])
    assert without.path == "combination" and without.point == [0.0] * 4
    assert "without llm-lora-zero-shot: no tuned LLM here" in without.attempts[0].reason


# ---------------------------------------------------------------------- the harness writes it


def test_harness_reports_combination_routed_and_calibrated_coverage(tmp_path, home):
    data = eval_dataset()
    harness = Harness(data, tmp_path / "out", index=EvalRetriever(data.catalog), progress=False, regressor=Constant(0, 5, 30))
    result = harness.run(EvalConfig(task="both", models=["seasonal-naive", "knn", "floor", "regression", "combination",
                                                          "routed"], max_series=None, n_boot=100,
                                    launch_after="2024-02-05"))
    existing = result.tasks["existing"]
    frame = existing.frame
    low = np.minimum(frame["floor"], frame["regression"]) - 1e-9
    high = np.maximum(frame["floor"], frame["regression"]) + 1e-9
    assert frame["combination"].between(low, high).all() and not np.allclose(frame["combination"], frame["floor"])
    routed = existing.runs["routed"].diag
    assert set(routed["path"]) <= {"floor", "regression", "floor+regression"} and len(routed) == len(existing.task.items)
    files = write_report(result, tmp_path / "out", panel=harness.panel)
    board = pd.read_csv(files["leaderboard.csv"])
    chain_rows = board[board.model.isin(["floor", "regression", "combination", "routed"])]
    assert chain_rows["coverage_cal"].between(0, 1).all() and board[board.model == "knn"]["coverage_cal"].isna().all()
    assert "after conformal calibration" in files["leaderboard.md"].read_text()
    saved = RoutingTable.read(files["routing.json"])
    assert saved.fingerprint == dataset_fingerprint(data.sales, data.freq)
    assert {r.segment.kind for r in saved.rules} == {"existing", "new"}
    assert all(set(r.weights) <= {"baseline", "regression"} for r in saved.rules)
    # `auto` on these data loads it (matched by fingerprint) once it is installed where `shelfcast eval` puts it.
    assert load_routing(data.sales, data.freq)[0] is None
    assert routing_dir() == home / "routing"
    saved.save(routing_dir() / f"{saved.fingerprint}.json")
    loaded, note = load_routing(data.sales, data.freq)
    assert loaded == saved and saved.table_id in note
    other = data.sales.assign(y=data.sales["y"] + 1)
    assert load_routing(other, data.freq)[0] is None


def test_eval_cli_installs_the_table_and_forecast_follows_it(tmp_path, home):
    """`shelfcast eval` on user files writes the table where `auto` finds it; `shelfcast forecast` then says the rule."""
    from typer.testing import CliRunner

    from agent.cli import app  # the whole CLI: `eval` joins it through the shelfcast.commands entry point

    data = eval_dataset()
    data.sales.to_csv(tmp_path / "sales.csv", index=False)
    data.catalog[["unique_id", "title", "category"]].to_csv(tmp_path / "catalog.csv", index=False)
    files = ["--sales", str(tmp_path / "sales.csv"), "--catalog", str(tmp_path / "catalog.csv")]
    result = CliRunner().invoke(app, ["eval", *files, "--task", "both", "--models", "floor,regression,combination,routed",
                                           "--backend", "none", "--launch-after", "2024-02-05", "--bootstrap", "100",
                                           "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    installed = list((home / "routing").glob("*.json"))
    assert len(installed) == 1 and "now routes by it" in result.output
    answer = CliRunner().invoke(app, ["forecast", "p00", "-h", "4", *files, "--backend", "none"])
    assert answer.exit_code == 0, answer.output
    table_id = RoutingTable.read(installed[0]).table_id
    assert f"table {table_id}" in answer.output and "route: rule existing/" in answer.output
    assert "interval: 80% interval moved by q=" in answer.output


def test_unusable_tables_are_refused_with_the_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "rules": "nope"}')
    with pytest.raises(RoutingError, match="bad.json"):
        RoutingTable.read(bad)


@pytest.mark.slow
def test_the_shipped_default_matches_the_built_in_data():
    from agent.data import load_builtin

    data = load_builtin()
    assert [p.name for p in shipped_tables()] == ["completejourney.json"]
    loaded, note = load_routing(data.sales, data.freq)
    assert loaded is not None and "completejourney-scale" in loaded.source, note  # fitted on the 200-series run
    new_rule = loaded.route(segment_of([], data.freq))
    assert new_rule is not None and new_rule.n_series == 200
