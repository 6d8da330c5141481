"""The evaluation harness: metrics, tasks, leakage, caching/resume, reports and the CLI.

Most tests run on a small synthetic dataset with a word-overlap retriever (no
weights, seconds). The `slow` ones run the harness on a real slice of the
built-in data with the real MiniLM product index.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from utilsforecast import losses

from agent.data.contract import validate_catalog
from agent.data.dataset import Dataset
from agent.forecast.context import ContextBuilder
from agent.llm.base import Generation, GenerationRequest
from agent.pipeline import load_backend
from eval.harness import EvalConfig, Harness, TaskError, existing_task, new_product_task, resolve_models, write_report
from eval.harness import baselines as bl
from eval.harness import metrics as mx
from numeric import metrics as nm
from eval.harness import runner as rn
from eval.harness.tasks import Panel, stratified_sample
from numeric.baseline import LAUNCH_MIN_OFFSET

# ---------------------------------------------------------------------- fixtures


def make_dataset(n: int = 24, periods: int = 40, seed: int = 0, freq: str = "W-MON") -> Dataset:
    """n products; the last 8 launch later (one every 3 periods from period 6), each launch starts with a sale."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=periods, freq=freq)
    frames, cats = [], []
    for i in range(n):
        start = 0 if i < n - 8 else 6 + 3 * (i - (n - 8))
        y = rng.poisson(2 + 3 * (i % 5), size=periods - start).astype(float)
        y[0] = max(y[0], 1.0)
        frames.append(pd.DataFrame({"unique_id": f"p{i:02d}", "ds": dates[start:], "y": y}))
        cats.append(["BAKERY", "DAIRY", "PRODUCE"][i % 3])
    sales = pd.concat(frames, ignore_index=True)
    catalog = validate_catalog(pd.DataFrame({"unique_id": [f"p{i:02d}" for i in range(n)],
                                             "title": [f"{c.lower()} item {i}" for i, c in enumerate(cats)],
                                             "category": cats}), "catalog")
    catalog["launch_date"] = catalog["unique_id"].map(sales[sales.y > 0].groupby("unique_id")["ds"].min())
    return Dataset(name="synthetic", sales=sales, catalog=catalog, freq=freq)


class WordRetriever:
    """Neighbours by shared title words; honours launched_before like ProductIndex, and records each call."""

    def __init__(self, catalog: pd.DataFrame):
        self.catalog = catalog
        self.calls: list[tuple[str, pd.Timestamp | None, pd.DataFrame]] = []

    def search(self, query, k=10, *, exclude_ids=(), launched_before=None, category=None):
        rows = self.catalog[~self.catalog["unique_id"].isin(list(exclude_ids))]
        if launched_before is not None:
            rows = rows[rows["launch_date"] < launched_before]
        words = set(str(query).lower().split())
        sim = rows["text"].map(lambda t: len(set(t.lower().split()) & words) / 4)
        hits = rows.assign(similarity=sim, score=sim).sort_values(["similarity", "unique_id"], ascending=[False, True]).head(k)
        self.calls.append((str(query), launched_before, hits))
        return hits


def perturbed(dataset: Dataset, from_ds: pd.Timestamp, seed: int = 1) -> Dataset:
    """The same dataset with every value at or after `from_ds` replaced by garbage."""
    sales = dataset.sales.copy()
    late = sales["ds"] >= from_ds
    sales.loc[late, "y"] = np.random.default_rng(seed).integers(1000, 5000, late.sum()).astype(float)
    return Dataset(name=dataset.name, sales=sales, catalog=dataset.catalog, freq=dataset.freq)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset()


# ---------------------------------------------------------------------- metrics


def _frame() -> pd.DataFrame:
    """Two series, one window of 2 periods; model m with an interval."""
    return pd.DataFrame({
        "unique_id": ["a", "a", "b", "b"],
        "ds": pd.to_datetime(["2024-01-08", "2024-01-15"] * 2),
        "cutoff": pd.Timestamp("2024-01-01"),
        "y": [10.0, 0.0, 4.0, 6.0],
        "m": [8.0, 2.0, 4.0, 3.0],
        "m-lo-80": [6.0, 0.0, 3.0, 1.0],
        "m-hi-80": [12.0, 3.0, 5.0, 5.0],
    })


def test_metrics_match_hand_computed_values():
    df = _frame()
    scores = mx.window_scores(df, ["m"], None, season_length=1)
    got = scores[(scores["window"] == "all")].set_index("metric")["value"]
    abs_err = np.array([2, 2, 0, 3.0])
    y = np.array([10, 0, 4, 6.0])
    assert got["wape"] == pytest.approx(abs_err.sum() / y.sum())  # 7 / 20
    assert got["mae"] == pytest.approx(abs_err.mean())
    assert got["smape"] == pytest.approx(np.mean([2 / 18, 2 / 2, 0, 3 / 9]))
    assert got["bias"] == pytest.approx((8 + 2 + 4 + 3 - 20) / 20)
    assert got["coverage"] == pytest.approx(3 / 4)  # 6 is outside [1, 5]

    def pinball(q, y, f):
        return np.where(y >= f, q * (y - f), (1 - q) * (f - y))

    lo, mid, hi = df["m-lo-80"].to_numpy(), df["m"].to_numpy(), df["m-hi-80"].to_numpy()
    chronos_wql = np.mean([2 * pinball(q, y, f).sum() / y.sum() for q, f in ((0.1, lo), (0.5, mid), (0.9, hi))])
    assert got["wql"] == pytest.approx(chronos_wql)


def test_hand_written_bias_agrees_with_utilsforecast():
    df = _frame()
    ours = nm.relative_bias(df, ["m"]).set_index("unique_id")["m"]
    mean_error = losses.bias(df, ["m"]).set_index("unique_id")["m"]
    norm = df.groupby("unique_id")["y"].apply(lambda s: s.abs().sum())
    n = df.groupby("unique_id").size()
    assert ours.to_dict() == pytest.approx((mean_error * n / norm).to_dict())
    assert ours["a"] == pytest.approx((8 + 2 - 10 - 0) / 10)


def test_pooled_metrics_equal_utilsforecast_on_one_series():
    df = _frame().assign(unique_id="a")  # one series: pooled == utilsforecast's own per-series value
    scores = mx.window_scores(df, ["m"], None, 1)
    got = scores[scores["window"] == "all"].set_index("metric")["value"]
    assert got["wape"] == pytest.approx(losses.wape(df, ["m"])["m"].iloc[0])
    assert got["smape"] == pytest.approx(losses.smape(df, ["m"])["m"].iloc[0])
    assert got["coverage"] == pytest.approx(losses.coverage(df, ["m"], level=80)["m"].iloc[0])


def test_mase_uses_in_sample_naive_scale_up_to_the_cutoff():
    train = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2023-11-13", periods=9, freq="W-MON"),
                          "y": [1.0, 3, 1, 3, 1, 3, 1, 3, 99]})  # the last value is after the cutoff
    df = pd.DataFrame({"unique_id": "a", "ds": pd.to_datetime(["2024-01-08"]), "cutoff": pd.Timestamp("2024-01-01"),
                       "y": [5.0], "m": [1.0]})
    got = nm.mase(df, ["m"], train, season_length=52)
    # naive in-sample MAE over the 8 values up to the cutoff = 2; |5 - 1| / 2 = 2
    assert got["m"].iloc[0] == pytest.approx(2.0)
    assert got["m"].iloc[0] == pytest.approx(losses.mase(df, ["m"], 1, train[train.ds <= "2024-01-01"])["m"].iloc[0])


def test_mase_is_seasonal_only_with_more_than_a_season():
    dates = pd.date_range("2020-01-01", periods=30, freq="MS")
    y = (np.arange(30) % 7) * 2.0 + np.arange(30) * 0.1
    train = pd.DataFrame({"unique_id": "a", "ds": dates, "y": y})
    df = pd.DataFrame({"unique_id": "a", "ds": [dates[-1] + pd.offsets.MonthBegin()], "cutoff": dates[-1],
                       "y": [2.0], "m": [1.0]})
    seasonal = nm.mase(df, ["m"], train, season_length=12)["m"].iloc[0]
    assert seasonal == pytest.approx(losses.mase(df, ["m"], 12, train)["m"].iloc[0])
    short = train.iloc[-10:]
    assert nm.mase(df, ["m"], short, 12)["m"].iloc[0] == pytest.approx(losses.mase(df, ["m"], 1, short)["m"].iloc[0])
    assert seasonal != pytest.approx(losses.mase(df, ["m"], 1, train)["m"].iloc[0])


def test_geometric_relative_and_win_rates():
    scores = pd.DataFrame({"model": ["m", "ref", "m", "ref"], "window": ["w1", "w1", "w2", "w2"],
                           "metric": "wape", "value": [0.5, 1.0, 2.0, 1.0]})
    rel = mx.geometric_relative(scores, "wape", "ref")
    assert rel["m"] == pytest.approx(1.0)  # sqrt(0.5 * 2)
    assert rel["ref"] == pytest.approx(1.0)
    per = pd.DataFrame({"m": [1.0, 2.0, 3.0], "best": [2.0, 2.0, 1.0]}, index=["a", "b", "c"])
    wins = mx.win_rates(per, "best")
    assert wins.loc["m"].to_dict() == pytest.approx({"win": 1 / 3, "tie": 1 / 3, "loss": 1 / 3})


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.uniform(5, 10, 200)
    base = rng.uniform(1, 3, 200)
    same = mx.paired_bootstrap(base, base, y, n_boot=300)
    assert same["delta"] == 0 and same["lo"] == 0 and same["hi"] == 0
    better = mx.paired_bootstrap(base * 0.5, base, y, n_boot=300)
    assert better["hi"] < 0 < better["p_better"]
    assert better["lo"] <= better["delta"] <= better["hi"]
    assert mx.paired_bootstrap(base * 0.5, base, y, n_boot=300, seed=3)["delta"] == better["delta"]


# ---------------------------------------------------------------------- tasks


def test_stratified_sample_is_seeded_and_covers_strata():
    volume = pd.Series(np.arange(100, dtype=float), index=[f"id{i:03d}" for i in range(100)])
    a = stratified_sample(volume, 20, seed=1)
    assert len(a) == 20 and a.value_counts().to_dict() == {s: 4 for s in range(5)}
    assert a.index.tolist() == stratified_sample(volume.sample(frac=1, random_state=3), 20, seed=1).index.tolist()
    assert a.index.tolist() != stratified_sample(volume, 20, seed=2).index.tolist()
    assert len(stratified_sample(volume, None, seed=0)) == 100


def test_existing_task_rolling_windows(dataset):
    task = existing_task(dataset, horizon=4, n_windows=3, max_series=None)
    panel = Panel(dataset)
    assert len(task.windows) == 3
    steps = np.diff([panel.position(c) for c in task.windows])
    assert (steps == 4).all()
    assert task.actuals["ds"].max() == dataset.sales["ds"].max()  # the last window ends with the data
    first_start = task.items["start"].min()
    for uid in task.items["unique_id"].unique():  # eligibility uses data before the first window only
        history = dataset.sales[(dataset.sales.unique_id == uid) & (dataset.sales.ds < first_start)]
        assert len(history) >= task.settings["min_history"]
    assert (task.actuals.groupby(["unique_id", "cutoff"]).size() == 4).all()
    # late launches without enough history are not in the existing-products task
    assert "p23" not in set(task.items["unique_id"])


def test_new_product_task(dataset):
    task = new_product_task(dataset, horizon=4, max_series=None, launch_after="2024-02-05")
    first = dataset.sales[dataset.sales.y > 0].groupby("unique_id")["ds"].min()
    end = dataset.sales.ds.max()
    assert set(task.items["unique_id"]) == set(first[first >= "2024-02-05"].index)
    for item in task.items.itertuples():
        assert item.start == first[item.unique_id]
        assert item.cutoff == item.start - pd.Timedelta(weeks=1)
        actual = task.actuals[task.actuals.unique_id == item.unique_id]
        full = item.start <= end - pd.Timedelta(weeks=3)
        assert actual["ds"].min() == item.start and len(actual) == (4 if full else item.observed)
        assert actual["ds"].max() <= end


def test_new_products_are_scored_over_partial_horizons(dataset, tmp_path):
    """A launch near the data end is scored from launch to data end; the shortfall is reported, not refused."""
    end = dataset.sales.ds.max()
    task = new_product_task(dataset, horizon=20, max_series=None, launch_after="2024-02-05")
    partial = task.items[task.items["observed"] < 20]
    assert len(partial) > 0 and len(task.items) == 8  # every launch kept, none needs a full horizon
    counts = task.actuals.groupby("unique_id").size()
    for item in task.items.itertuples():
        assert counts[item.unique_id] == item.observed == min(20, len(pd.date_range(item.start, end, freq="W-MON")))
    assert f"{len(partial)} of 8 launches are scored on fewer than 20 periods" in task.describe()
    harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False)
    result = harness.run(EvalConfig(task="new", models=["knn", "category-mean"], horizon=20, max_series=None,
                                    n_boot=100, launch_after="2024-02-05"))
    frame = result.tasks["new"].frame
    assert len(frame) == int(task.items["observed"].sum()) and frame[["knn", "category-mean"]].notna().all().all()
    assert any("fewer than 20 periods" in note for note in result.notes)


def test_min_history_lets_short_data_be_evaluated(tmp_path):
    """Four years of months at h=12 were refused with the fixed max(26, 4h+2) history; now they run, with a note."""
    monthly = make_dataset(n=12, periods=48, freq="MS")
    task = existing_task(monthly, horizon=12, n_windows=3, max_series=None)
    assert len(task.windows) == 3 and task.settings["min_history"] == 12
    assert "min history lowered from 50 to 12" in task.describe()
    explicit = existing_task(monthly, horizon=12, n_windows=3, max_series=None, min_history=20)
    assert len(explicit.windows) == 2 and explicit.settings["min_history"] == 20  # explicit history kept, a window dropped
    assert "2 of 3 windows fit" in explicit.describe()
    first = explicit.items["stop"].min()
    assert first >= 20 and explicit.actuals["ds"].max() == monthly.sales["ds"].max()
    with pytest.raises(TaskError, match="--min-history"):
        existing_task(monthly, horizon=12, n_windows=3, min_history=40)
    # Statistical baselines still give intervals when the history is too short for their conformal windows.
    models = ["naive", "seasonal-naive", "window-average", "croston-sba", "tsb"]
    result = Harness(monthly, tmp_path, progress=False).run(EvalConfig(task="existing", models=models, horizon=12,
                                                                        max_series=None, n_boot=100))
    frame = result.tasks["existing"].frame
    assert frame[[c for m in models for c in bl.columns(m)]].notna().all().all()
    assert (frame["tsb-lo-80"] <= frame["tsb"]).all() and (frame["tsb"] <= frame["tsb-hi-80"]).all()
    assert (frame["tsb-hi-80"] > frame["tsb-lo-80"]).any()


def test_tasks_refuse_unusable_data(dataset, tmp_path):
    with pytest.raises(TaskError, match="periods"):
        existing_task(dataset, horizon=8, n_windows=4, min_history=35)  # 40 periods: not even one window after 35
    with pytest.raises(TaskError, match="no product first sold"):
        new_product_task(dataset, launch_after="2030-01-01")
    # With both kinds asked for (the default), data without launches run the existing task and say why.
    harness = Harness(dataset, tmp_path, progress=False)
    tasks, notes = harness.make_tasks(EvalConfig(task="both", models=["naive"], launch_after="2030-01-01"))
    assert [t.kind for t in tasks] == ["existing"] and len(notes) == 1
    assert notes[0].startswith("new task skipped: ") and "no product first sold" in notes[0]
    with pytest.raises(TaskError, match="no product first sold"):  # asked for alone, it is an error
        harness.make_tasks(EvalConfig(task="new", models=["naive"], launch_after="2030-01-01"))


# ---------------------------------------------------------------------- baselines


def test_seasonal_naive_uses_seasons_when_there_are_two():
    dates = pd.date_range("2020-01-01", periods=30, freq="MS")
    pattern = np.tile(np.arange(1.0, 13.0), 3)[:30]
    data = Dataset("monthly", pd.DataFrame({"unique_id": "a", "ds": dates, "y": pattern}),
                   validate_catalog(pd.DataFrame({"unique_id": ["a"], "title": ["a"]}), "c"), "MS")
    panel = Panel(data)
    out = bl.stat_forecast("seasonal-naive", panel.visible(26), ["a"], 4)
    assert out["seasonal-naive"].tolist() == pytest.approx(pattern[14:18].tolist())  # one season back
    short = bl.stat_forecast("seasonal-naive", panel.visible(20), ["a"], 4)  # < 2 seasons: window average of 4
    assert short["seasonal-naive"].tolist() == pytest.approx([pattern[16:20].mean()] * 4)


def _window_forecasts(data: Dataset, retriever, kind: str, stop: int, ids: list[str], h: int = 4) -> dict[str, pd.DataFrame]:
    panel = Panel(data)
    visible = panel.visible(stop)
    catalog = data.catalog
    out = {}
    if kind == "existing":
        for name in bl.STAT_MODELS:
            out[name] = bl.stat_forecast(name, visible, ids, h)
        out["gbm"] = bl.gbm_forecast(visible, ids, h)
    out["category-mean"] = bl.category_forecast(visible, ids, h, kind, catalog)[0]
    out["knn"] = (bl.knn_forecast(visible, ids, h, catalog, retriever) if kind == "existing" else
                  bl.knn_launch_forecast(ContextBuilder(data, retriever), ids, visible.start, h))[0]
    return out


def test_visible_panel_holds_nothing_at_or_after_the_cutoff(dataset):
    panel = Panel(dataset)
    visible = panel.visible(20)
    assert visible.values.shape[1] == 20
    assert visible.periods[-1] < visible.start == panel.periods[20]
    assert visible.long(visible.rows(["p00"]))["ds"].max() < visible.start


def test_no_baseline_uses_data_at_or_after_its_window(dataset):
    """Garbage at and after the window start must not change any baseline's forecast."""
    task = existing_task(dataset, max_series=None)
    stop = int(task.items["stop"].iloc[0])
    start = task.items["start"].iloc[0]
    ids = task.items.loc[task.items.stop == stop, "unique_id"].tolist()
    clean = _window_forecasts(dataset, WordRetriever(dataset.catalog), "existing", stop, ids)
    dirty = _window_forecasts(perturbed(dataset, start), WordRetriever(dataset.catalog), "existing", stop, ids)
    for name, frame in clean.items():
        pd.testing.assert_frame_equal(frame, dirty[name], obj=name)
        assert frame["ds"].min() == start


def test_new_product_baselines_see_only_launches_finished_before_the_target(dataset):
    task = new_product_task(dataset, max_series=None, launch_after="2024-02-05")
    panel = Panel(dataset)
    retriever = WordRetriever(dataset.catalog)
    for item in task.items.itertuples():
        frame, diag = bl.knn_launch_forecast(ContextBuilder(dataset, retriever), [item.unique_id], item.start, 4)
        assert retriever.calls[-1][1] == item.start  # retrieval filtered at the target's launch
        for analog in filter(None, diag["analog_ids"].iloc[0].split(",")):
            pos = panel.first_sale[panel.ids.get_loc(analog)]
            assert pos + 4 <= item.stop and pos >= LAUNCH_MIN_OFFSET
            assert panel.periods[pos] < item.start
        dirty = perturbed(dataset, item.start)
        again = bl.knn_launch_forecast(ContextBuilder(dirty, WordRetriever(dataset.catalog)), [item.unique_id],
                                       item.start, 4)[0]
        pd.testing.assert_frame_equal(frame, again)


def test_knn_on_launches_is_the_chain_floor(dataset, tmp_path):
    """One analog launch curve: the knn row on launches and the chain's floor (mode baseline) agree to the digit.

    They had drifted apart (different launch rule and k): floor WAPE 0.904 vs knn 0.709 on 200 launches."""
    harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False)
    result = harness.run(EvalConfig(task="new", models=["knn", "floor"], max_series=None, n_boot=100,
                                    launch_after="2024-02-05"))
    frame = result.tasks["new"].frame
    assert frame["knn"].gt(0).any()  # the analogs were found: not two rows of zeros
    for suffix in ("", "-lo-80", "-hi-80"):
        np.testing.assert_allclose(frame[f"floor{suffix}"], frame[f"knn{suffix}"], atol=1e-3)


def test_chain_contexts_are_leak_free(dataset, tmp_path):
    """What the chain models see: history strictly before the window, analogs launched (and observed) before it."""
    for kind in ("existing", "new"):
        harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False)
        task = existing_task(dataset, max_series=None) if kind == "existing" else new_product_task(
            dataset, max_series=None, launch_after="2024-02-05")
        launch = dataset.catalog.set_index("unique_id")["launch_date"]
        for item in task.items.itertuples():
            context = harness.context(task, item.unique_id, item.start, "auto")
            series = dataset.sales[(dataset.sales.unique_id == item.unique_id) & (dataset.sales.ds < item.start)]["y"]
            assert context.history == series.tolist()[-len(context.history):] if context.history else kind == "new"
            assert context.cutoff == item.start
            for analog in context.analogs:
                assert launch[analog.unique_id] < item.start
            dirty = Harness(perturbed(dataset, item.start), tmp_path, index=WordRetriever(dataset.catalog), progress=False)
            assert dirty.context(task, item.unique_id, item.start, "auto") == context


# ---------------------------------------------------------------------- runner and reports

FAST_MODELS = ["naive", "seasonal-naive", "tsb", "gbm", "category-mean", "knn", "floor", "auto", "llm-few-shot",
               "llm-zero-shot", "regression"]


def test_harness_end_to_end_on_synthetic_data(dataset, tmp_path):
    harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False)
    config = EvalConfig(task="both", models=FAST_MODELS, max_series=None, n_boot=200, launch_after="2024-02-05")
    result = harness.run(config)
    existing, new = result.tasks["existing"], result.tasks["new"]
    assert set(existing.runs) == set(FAST_MODELS)
    assert "llm-zero-shot" in new.skipped and "naive" in new.skipped and "knn" in new.runs
    frame = existing.frame
    assert frame[[c for m in FAST_MODELS for c in bl.columns(m)]].notna().all().all()
    assert (frame[[f"{m}-lo-80" for m in FAST_MODELS]].to_numpy() <= frame[FAST_MODELS].to_numpy() + 1e-9).all()
    # With no backend and no regressor the LLM paths fall back to the global gbm (the floor where it declines),
    # and say so.
    diag = existing.runs["auto"].diag
    assert diag["fallback"].all() and diag["path"].isin(["gbm", "baseline"]).all() and (diag["path"] == "gbm").any()
    assert diag["reasons"].str.contains("no LLM backend").all()
    files = write_report(result, tmp_path, panel=harness.panel)
    for name in ("leaderboard.csv", "leaderboard.md", "report.html", "run.json", "scores.csv", "bars_existing.png",
                 "fans_existing.png", "bars_new.png", "fans_new.png"):
        assert files[name].exists() and files[name].stat().st_size > 0, name
    board = pd.read_csv(files["leaderboard.csv"])
    auto = board[(board.task == "existing") & (board.model == "auto")].iloc[0]
    assert auto["fallback_rate"] == 1.0
    assert 0 <= auto["coverage"] <= 1 and auto["wall_s"] >= 0
    md = files["leaderboard.md"].read_text()
    assert "loses on WAPE" in md or "beats every baseline" in md
    html_text = files["report.html"].read_text()
    assert "data:image/png;base64," in html_text and "<img" in html_text and 'src="http' not in html_text
    ref = board[(board.task == "existing") & (board.model == "seasonal-naive")].iloc[0]
    assert ref["rel_wape"] == pytest.approx(1.0)


class CountingLLM:
    """Answers every forecast prompt with plausible numbers; counts the requests that reach it."""

    name, model_id = "counting", "counting-model"

    def __init__(self) -> None:
        self.requests = 0

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests += 1
        rng = np.random.default_rng(abs(hash(request.prompt)) % 2**32)
        count = int(re.search(r"\{(\d+)\}$", request.regex or "{4}").group(1))  # the pattern's repeat is h
        texts = [", ".join(str(v) for v in rng.integers(20, 80, count)) + ", " for _ in range(request.n)]
        return Generation(texts=texts, finish_reasons=["stop"] * request.n, backend=self.name, model=self.model_id)

    def healthy(self) -> bool:
        return True


def test_auto_replays_the_few_shot_requests(dataset, tmp_path):
    """auto begins with few-shot's exact seeded request: it is answered from the response cache, identically."""
    llm = CountingLLM()
    harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), backend=llm, progress=False)
    result = harness.run(EvalConfig(task="existing", models=["llm-few-shot", "auto"], max_series=6, n_boot=100))
    runs = result.tasks["existing"].runs
    assert (runs["llm-few-shot"].diag["path"] == "llm-few-shot").all() and (runs["auto"].diag["path"] == "llm-few-shot").all()
    n = len(runs["auto"].diag)
    assert llm.requests == n and runs["auto"].meta["llm_requests_replayed"] == n
    frame = result.tasks["existing"].frame
    np.testing.assert_allclose(frame["auto"], frame["llm-few-shot"])
    board = pd.read_csv(write_report(result, tmp_path, panel=harness.panel)["leaderboard.csv"])
    timing = board.set_index("model")[["wall_s", "forecasts_per_s"]]
    assert timing.loc["auto"].isna().all() and timing.loc["llm-few-shot"].notna().all()


def test_runner_caches_and_force_recomputes(dataset, tmp_path):
    config = EvalConfig(task="existing", models=["naive", "floor"], max_series=8, n_boot=100)
    first = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False).run(config)
    assert not first.tasks["existing"].runs["naive"].meta["cached"]
    second = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False).run(config)
    assert second.tasks["existing"].runs["naive"].meta["cached"] and second.tasks["existing"].runs["floor"].meta["cached"]
    pd.testing.assert_frame_equal(first.tasks["existing"].frame, second.tasks["existing"].frame)
    forced = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False, force=True).run(config)
    assert not forced.tasks["existing"].runs["naive"].meta["cached"]
    # A different sample is a different task: the cache is not reused.
    other = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False).run(
        EvalConfig(task="existing", models=["naive"], max_series=6, n_boot=100))
    assert not other.tasks["existing"].runs["naive"].meta["cached"]


def test_interrupted_chain_model_resumes(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(rn, "CHECKPOINT_EVERY", 4)
    harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False)
    calls = {"n": 0}
    real_run = harness.chain.run

    def flaky(context, mode="auto"):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real_run(context, mode)

    monkeypatch.setattr(harness.chain, "run", flaky)
    config = EvalConfig(task="existing", models=["floor"], max_series=None, n_boot=100)
    with pytest.raises(KeyboardInterrupt):
        harness.run(config)
    assert (tmp_path / "cache" / "existing" / "floor.partial.parquet").exists()
    resumed = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False).run(config)
    run = resumed.tasks["existing"].runs["floor"]
    assert run.meta["resumed_forecasts"] == 8  # two checkpoints of 4 finished before the interruption
    assert len(run.diag) == len(resumed.tasks["existing"].task.items)
    assert not list((tmp_path / "cache" / "existing").glob("floor.partial*"))


def test_resolve_models():
    assert resolve_models(["baselines"]) == bl.BASELINES
    assert resolve_models(["naive,tsb", "tsb", "llm"]) == ["naive", "tsb", "llm-zero-shot", "llm-few-shot"]
    with pytest.raises(ValueError, match="unknown model 'prophet'"):
        resolve_models(["prophet"])


def test_bad_dataset_gives_a_clear_error(tmp_path):
    data = make_dataset()
    bad = Dataset("bad", data.sales.assign(y=-1.0), data.catalog, data.freq)
    with pytest.raises(TaskError, match="non-negative"):
        Harness(bad, tmp_path, progress=False)
    short = Dataset("short", data.sales[data.sales.ds < "2024-01-29"], data.catalog, data.freq)  # 4 periods, h=4
    with pytest.raises(TaskError, match="short.*periods"):
        Harness(short, tmp_path, progress=False).run(EvalConfig(task="existing", models=["naive"]))
    two_windows = Dataset("nine", data.sales[data.sales.ds < "2024-03-01"], data.catalog, data.freq)  # 9 periods
    result = Harness(two_windows, tmp_path, progress=False).run(EvalConfig(task="existing", models=["naive"]))
    assert len(result.tasks["existing"].task.windows) == 1 and any("1 of 3 windows fit" in n for n in result.notes)


def test_cli_errors_are_one_clear_line(tmp_path):
    from eval.cli import app

    runner = CliRunner()
    sales = tmp_path / "sales.csv"
    sales.write_text("unique_id,ds,y\na,2024-01-01,1\na,2024-01-08,-3\n")
    result = runner.invoke(app, ["--sales", str(sales), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "sales.csv" in result.output and "row 2" in result.output
    result = runner.invoke(app, ["--models", "prophet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "unknown model 'prophet'" in result.output
    result = runner.invoke(app, ["--dataset", "m5", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "unknown dataset 'm5'" in result.output


def test_cli_runs_on_user_files(tmp_path):
    from eval.cli import app

    data = make_dataset()
    data.sales.to_csv(tmp_path / "sales.csv", index=False)
    data.catalog[["unique_id", "title", "category"]].to_csv(tmp_path / "catalog.csv", index=False)
    out = tmp_path / "out"
    args = ["--sales", str(tmp_path / "sales.csv"), "--catalog", str(tmp_path / "catalog.csv"), "--task", "existing",
            "--models", "naive,window-average", "--models", "category-mean", "--max-series", "10", "--out", str(out),
            "--bootstrap", "100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["model"]) == {"naive", "window-average", "category-mean"}
    assert json.loads((out / "run.json").read_text())["config"]["max_series"] == 10
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "cached" in again.output


# ---------------------------------------------------------------------- real data (slow)


@pytest.fixture(scope="module")
def real_slice():
    """~400 products of four categories of the built-in data (retrieval pool), with the real MiniLM index."""
    from agent.data import load_builtin

    full = load_builtin()
    cats = ["BAGELS", "YOGURT", "CHEESE", "FROZEN PIZZA"]
    catalog = full.catalog[full.catalog["category"].isin(cats)]
    sold = full.sales[full.sales["unique_id"].isin(catalog["unique_id"])]
    weeks = sold[sold.y > 0].groupby("unique_id").size()
    keep = weeks[weeks >= 3].index
    rng = np.random.default_rng(0)
    keep = rng.choice(sorted(keep), size=min(400, len(keep)), replace=False)
    data = Dataset("cj-slice", sold[sold["unique_id"].isin(keep)].reset_index(drop=True),
                   catalog[catalog["unique_id"].isin(keep)].reset_index(drop=True), full.freq)
    return data


@pytest.mark.slow
def test_harness_on_a_real_slice(real_slice, tmp_path):
    from agent.retrieval.index import ProductIndex

    index = ProductIndex.build(real_slice.catalog, progress=False)
    harness = Harness(real_slice, tmp_path, index=index, progress=False)
    config = EvalConfig(task="both", models=["naive", "seasonal-naive", "auto-ets", "tsb", "gbm", "category-mean", "knn",
                                             "floor", "auto", "regression"], max_series=30, n_boot=200)
    result = harness.run(config)
    files = write_report(result, tmp_path, panel=harness.panel)
    board = pd.read_csv(files["leaderboard.csv"])
    assert set(board["task"]) == {"existing", "new"}
    existing = board[board.task == "existing"].set_index("model")
    assert existing.loc["seasonal-naive", "rel_wape"] == pytest.approx(1.0)
    assert existing["wape"].between(0.05, 5).all() and existing["coverage"].between(0, 1).all()
    # retrieval in the new-product task only ever returns products launched before the target
    new = result.tasks["new"]
    launch = real_slice.catalog.set_index("unique_id")["launch_date"]
    starts = new.task.items.set_index("unique_id")["start"]
    for row in new.runs["knn"].diag.itertuples():
        for analog in filter(None, row.analog_ids.split(",")):
            assert launch[analog] + pd.Timedelta(weeks=4) <= starts[row.unique_id]
    for row in new.runs["auto"].diag.itertuples():
        assert all(launch[a] < starts[row.unique_id] for a in filter(None, row.analog_ids.split(",")))
    assert (tmp_path / "report.html").stat().st_size > 20_000


def test_regression_rows_are_flagged_when_the_artifact_saw_the_windows(dataset, tmp_path, monkeypatch):
    import agent.config

    folder = tmp_path / "models" / "regression" / "art-1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"data": {"dataset": "synthetic", "val_start": "2024-08-05",
                                                             "test_start": "2024-09-02"}}))

    class Settings:
        models_dir = tmp_path / "models"

    monkeypatch.setattr(agent.config, "get_settings", lambda: Settings())

    class Regressor:
        artifact_id = "art-1"

    task = existing_task(dataset, max_series=None)  # windows start 2024-07-15, 2024-08-12, 2024-09-09
    notes = rn.regression_overlap(Regressor(), [task])
    n = task.n_series
    assert len(notes) == 1 and f"{n} of {3 * n} evaluated windows start before" in notes[0]
    assert f"and {n} inside it" in notes[0]
    Regressor.artifact_id = "missing"
    assert "could not check" in rn.regression_overlap(Regressor(), [task])[0]


def test_load_backend_none_and_unknown():
    assert load_backend("none")[0] is None
    with pytest.raises(ValueError, match="unknown backend"):
        load_backend("gpu")


def test_models_that_do_not_apply_to_a_task_are_reported(dataset, tmp_path):
    harness = Harness(dataset, tmp_path, index=WordRetriever(dataset.catalog), progress=False)
    with pytest.raises(ValueError, match="none of the models naive applies"):
        harness.run(EvalConfig(task="new", models=["naive"], launch_after="2024-02-05"))
    result = harness.run(EvalConfig(task="both", models=["naive"], max_series=6, n_boot=100, launch_after="2024-02-05"))
    assert list(result.tasks) == ["existing"] and "new task skipped" in result.notes[0]
