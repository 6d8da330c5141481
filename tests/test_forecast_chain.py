"""The chain's logic on a small synthetic dataset with scripted backends (fast).

Real-model runs of the same chain are in test_chain_real.py; here each backend
answers exactly what a test needs, so every fallback reason can be provoked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agent.data.contract import validate_catalog
from agent.data.dataset import Dataset
from agent.forecast.chain import ChainSettings, ForecastChain
from agent.forecast.context import ContextBuilder
from agent.forecast.prompting import render
from agent.forecast.serialize import SerializerSettings, continuation_regex, deserialize, fit_scale, serialize
from agent.llm.base import BackendError, Generation, GenerationRequest

DATES = pd.date_range("2024-01-01", periods=30, freq="W-MON")


def make_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    rows = []
    for uid, level, start in [("bagel", 20, 0), ("muffin", 15, 0), ("donut", 30, 0), ("milk", 50, 0), ("scone", 10, 24), ("croissant", 12, 5), ("dead", 0, 0)]:
        for ds in DATES[start:]:
            rows.append({"unique_id": uid, "ds": ds, "y": float(rng.poisson(level)) if level else 0.0})
    sales = pd.DataFrame(rows)
    catalog = validate_catalog(pd.DataFrame({
        "unique_id": ["bagel", "muffin", "donut", "milk", "scone", "croissant", "dead"],
        "title": ["Plain bagels", "Blueberry muffins", "Glazed donuts", "Whole milk", "Cream scones", "Butter croissants", "Discontinued"],
        "category": ["BAKERY", "BAKERY", "BAKERY", "DAIRY", "BAKERY", "BAKERY", "BAKERY"],
    }), "catalog")
    catalog["launch_date"] = catalog["unique_id"].map(sales.groupby("unique_id")["ds"].min())
    return Dataset(name="synthetic", sales=sales, catalog=catalog, freq="W-MON")


class WordRetriever:
    """Neighbours by shared category, then by id order: deterministic and enough for chain logic."""

    def __init__(self, catalog: pd.DataFrame):
        self.catalog = catalog

    def search(self, query, k=10, *, exclude_ids=(), launched_before=None, category=None):
        rows = self.catalog[~self.catalog["unique_id"].isin(exclude_ids)]
        if launched_before is not None:
            rows = rows[rows["launch_date"] < launched_before]
        similarity = rows["text"].map(lambda text: len(set(text.lower().split()) & set(query.lower().split())) / 5)
        return rows.assign(similarity=similarity).sort_values("similarity", ascending=False).head(k)


class ScriptedBackend:
    name = "scripted"
    model_id = "scripted-model"

    def __init__(self, texts=None, error: Exception | None = None):
        self.texts, self.error, self.requests = texts, error, []

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        if self.error:
            raise self.error
        texts = self.texts(request) if callable(self.texts) else self.texts
        return Generation(texts=texts, finish_reasons=["stop"] * len(texts), backend=self.name, model=self.model_id,
                          prompt_tokens=10, completion_tokens=5 * len(texts))

    def healthy(self) -> bool:
        return self.error is None


@pytest.fixture
def builder() -> ContextBuilder:
    data = make_dataset()
    return ContextBuilder(data, WordRetriever(data.catalog))


def test_serializer_round_trip() -> None:
    values = np.array([0, 3, 7, 12, 40, 2.0])
    scale = fit_scale(values)
    back = deserialize(serialize(values, scale), scale)
    assert np.allclose(back, values, atol=scale / 100 / 2 + 1e-9)
    assert serialize([0, scale], scale) == "0, 100"
    with pytest.raises(ValueError):
        deserialize("12, abc", scale)
    import re
    assert re.fullmatch(continuation_regex(3), "1, 22, 333, ") and not re.fullmatch(continuation_regex(3), "1, 22, ")


def test_context_is_leak_free(builder: ContextBuilder) -> None:
    cutoff = DATES[20]
    context = builder.for_product("bagel", 4, cutoff)
    assert len(context.history) == 20 and context.analogs
    for analog in context.analogs:
        series = builder.dataset.history(analog.unique_id)
        # the example's answer is the analog's last 4 weeks *before* the cutoff
        assert analog.next == series[series.index < cutoff].iloc[-4:].tolist()
    assert "scone" not in [a.unique_id for a in context.analogs]  # launched after the cutoff
    assert "bagel" not in [a.unique_id for a in context.analogs]


def test_prompts_render_from_files(builder: ContextBuilder) -> None:
    context = builder.for_product("bagel", 4, DATES[20])
    few = render(context, "few_shot")
    assert few.prompt_id == "few_shot.v1" and few.text.endswith("Next 4 weeks: ")
    assert few.text.count("Product:") == len(context.analogs) + 1
    zero = render(context, "zero_shot")
    assert "Product:" in zero.text and zero.text.count("Product:") == 1
    launch = builder.for_new_product("Cinnamon bagels", 4, DATES[20])
    # only croissant was launched inside the data (the others were selling from the start)
    assert [a.unique_id for a in launch.analogs] == ["croissant"]
    new = render(launch, "new_product")
    assert new.text.count("First 4 weeks:") == 2


def test_launch_analogs_keep_slow_launches() -> None:
    """Keeping only launches that sold in most first weeks kept the successes and overforecast new products."""
    data = make_dataset()
    slow = pd.DataFrame({"unique_id": "rye", "ds": DATES[6:], "y": [3.0 if i % 4 == 0 else 0.0 for i in range(24)]})
    catalog = pd.concat([data.catalog, validate_catalog(pd.DataFrame(
        {"unique_id": ["rye"], "title": ["Rye bagels"], "category": ["BAKERY"]}), "catalog").assign(
        launch_date=DATES[6])], ignore_index=True)
    data = Dataset(name="synthetic", sales=pd.concat([data.sales, slow], ignore_index=True), catalog=catalog,
                   freq="W-MON")
    launch = ContextBuilder(data, WordRetriever(data.catalog)).for_new_product("Cinnamon bagels", 4, DATES[20])
    by_id = {a.unique_id: a for a in launch.analogs}
    assert set(by_id) == {"croissant", "rye"} and by_id["rye"].next == [3.0, 0.0, 0.0, 0.0]


def test_launch_analogs_follow_the_launch_rule() -> None:
    """A first sale in the data's first LAUNCH_MIN_OFFSET periods is not a launch (it was selling already), and a
    launch curve starts at the first sale, not at zero rows before it: the floor scored WAPE 0.88-0.95 on dev
    launches when it took products first selling in period 1-3 and curves from the first row (0.72-0.80 now)."""
    data = make_dataset()
    early = pd.DataFrame({"unique_id": "rye", "ds": DATES[2:], "y": 40.0})  # first sale in period 2
    late = pd.DataFrame({"unique_id": "brioche", "ds": DATES[6:], "y": [0.0, 0.0] + [7.0] * 22})  # sells from 8
    extra = validate_catalog(pd.DataFrame({"unique_id": ["rye", "brioche"], "title": ["Rye bagels", "Brioche bagels"],
                                           "category": ["BAKERY", "BAKERY"]}), "catalog")
    extra["launch_date"] = [DATES[2], DATES[6]]
    data = Dataset(name="synthetic", sales=pd.concat([data.sales, early, late], ignore_index=True),
                   catalog=pd.concat([data.catalog, extra], ignore_index=True), freq="W-MON")
    launch = ContextBuilder(data, WordRetriever(data.catalog)).for_new_product("Cinnamon bagels", 4, DATES[20])
    by_id = {a.unique_id: a for a in launch.analogs}
    assert set(by_id) == {"croissant", "brioche"}
    assert by_id["brioche"].next == [7.0] * 4
    forecast = ForecastChain(ContextBuilder(data, WordRetriever(data.catalog))).forecast_new(
        "Cinnamon bagels", 4, mode="baseline", cutoff=DATES[20])
    weights = np.array([by_id[u].similarity for u in forecast.analogs])
    expected = np.average([by_id[u].next for u in forecast.analogs], axis=0, weights=weights)
    assert forecast.point == pytest.approx(expected.round(3).tolist())
    # too close to the cutoff to show a whole launch window: not an analog
    assert "brioche" not in [a.unique_id for a in ContextBuilder(data, WordRetriever(data.catalog)).for_new_product(
        "Cinnamon bagels", 4, DATES[11]).analogs]


def test_llm_answer_with_quantiles(builder: ContextBuilder) -> None:
    backend = ScriptedBackend(lambda r: [f"{90 + i % 5}, {100}, {95}, {105 + i % 3}" for i in range(r.n)])
    forecast = ForecastChain(builder, backend).forecast("bagel", 4, cutoff=DATES[20])
    assert forecast.path == "llm-few-shot" and forecast.backend == "scripted" and forecast.prompt_id == "few_shot.v1"
    assert len(forecast.point) == 4 and forecast.dates[0] == DATES[20].date()
    lo, mid, hi = (np.array(forecast.quantiles[q]) for q in ("0.1", "0.5", "0.9"))
    assert (lo <= mid).all() and (mid <= hi).all() and mid[1] > 0
    assert forecast.attempts[0].samples_valid == 20 and backend.requests[0].regex == continuation_regex(4)


def test_serializer_setting_reaches_prompt_constraint_and_parser(builder: ContextBuilder) -> None:
    """Fewer tokens per value (eval/bench_tokens.py): the prompt, the regex and the parser agree on the format."""
    compact = SerializerSettings(separator=",", scale_to=10, max_digits=2)
    backend = ScriptedBackend(lambda r: ["9,10,9,11,"] * r.n)
    forecast = ForecastChain(builder, backend, settings=ChainSettings(serializer=compact)).forecast(
        "bagel", 4, cutoff=DATES[20], mode="zero-shot")
    request = backend.requests[0]
    assert forecast.path == "llm-zero-shot" and forecast.attempts[0].samples_valid == 20
    assert "scaled so that 10 is a busy week" in request.prompt and ", " not in request.prompt.split("history: ")[1]
    assert request.regex == continuation_regex(4, compact) and request.max_tokens == 4 * 3 + 4
    scale = render(builder.for_product("bagel", 4, DATES[20]), "zero_shot", compact).scale
    assert np.allclose(forecast.point, np.array([9, 10, 9, 11]) * scale / 10)
    default = render(builder.for_product("bagel", 4, DATES[20]), "zero_shot")
    assert "scaled so that 100 is a busy week" in default.text


def test_unparseable_samples_fall_through_with_reason(builder: ContextBuilder) -> None:
    forecast = ForecastChain(builder, ScriptedBackend(["lots and lots"] * 20), settings=ChainSettings()).forecast("bagel", 4, cutoff=DATES[20])
    assert forecast.path == "baseline"
    reasons = {a.path: a.reason for a in forecast.attempts}
    assert "too few valid samples (0/20" in reasons["llm-few-shot"] and "unparseable" in reasons["llm-few-shot"]
    assert "no trained regression model" in reasons["regression"]
    assert forecast.attempts[-1].answered and "window average" in forecast.attempts[-1].reason


def test_implausible_samples_are_rejected(builder: ContextBuilder) -> None:
    forecast = ForecastChain(builder, ScriptedBackend(["999, 999, 999, 999"] * 20)).forecast("bagel", 4, cutoff=DATES[20], mode="zero-shot")
    assert forecast.path == "baseline"
    assert forecast.attempts[0].rejected == {"above plausible bound": 20}


def test_backend_down_skips_other_llm_paths(builder: ContextBuilder) -> None:
    backend = ScriptedBackend(error=BackendError("connection refused"))
    forecast = ForecastChain(builder, backend).forecast("bagel", 4, cutoff=DATES[20])
    assert forecast.path == "baseline" and len(backend.requests) == 1
    assert forecast.attempts[1].reason.startswith("skipped: LLM backend unavailable (connection refused)")


def test_regression_path_is_used_when_present(builder: ContextBuilder) -> None:
    class Constant:
        artifact_id = "reg-test"
        note = "artifact reg-test, trained on this dataset"

        def predict(self, texts, histories, horizon):
            return np.tile(np.array([[1.0], [2.0], [3.0]]), (len(texts), 1, horizon))

    chain = ForecastChain(builder, None, Constant())
    forecast = chain.forecast("bagel", 12, cutoff=DATES[20])
    assert forecast.path == "regression" and forecast.model_ids == ["reg-test"] and forecast.point == [2.0] * 12
    assert forecast.attempts[-1].reason == Constant.note  # which artifact answered, and whether it was trained here
    launch = chain.forecast_new("rye bagels 6 ct", 4, mode="regression")
    assert launch.path == "baseline" and "does not answer launches" in launch.attempts[0].reason


def test_new_product_and_all_zero_history(builder: ContextBuilder) -> None:
    chain = ForecastChain(builder, None)
    new = chain.forecast_new("Cinnamon bagels", 4, category="BAKERY")
    assert new.unique_id is None and new.path == "baseline" and sum(new.point) > 0
    assert "analog launch curve" in new.attempts[-1].reason
    dead = ForecastChain(builder, ScriptedBackend(["1, 1, 1, 1"] * 20)).forecast("dead", 4, mode="zero-shot")
    assert dead.path == "baseline" and "all zeros" in dead.attempts[0].reason and dead.point == [0.0] * 4


def test_batch_keeps_order_and_loses_nothing(builder: ContextBuilder) -> None:
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] % 2:
            raise BackendError("engine died")
        return ["20, 20, 20, 20"] * request.n

    class Flaky(ScriptedBackend):
        def generate(self, request):
            texts = flaky(request)
            return Generation(texts=texts, finish_reasons=["stop"] * len(texts), backend="flaky", model="m")

    ids = ["bagel", "muffin", "donut", "milk"]
    forecasts = ForecastChain(builder, Flaky()).forecast_many(ids, 4, cutoff=DATES[20], show_progress=False)
    assert [f.unique_id for f in forecasts] == ids
    assert all(len(f.point) == 4 for f in forecasts)
