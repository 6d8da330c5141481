"""Baseline forecasters, one named column each (the Nixtla convention).

Every forecaster takes a `VisiblePanel` (the data strictly before the window's
first forecast period) and returns a long frame

    unique_id, ds, <name>, <name>-lo-80, <name>-hi-80

(point forecast and an 80% interval, i.e. the 0.1 and 0.9 quantiles). The
point forecast stands in for the median when the quantile loss is computed.
Forecasts are clipped at zero: sales are never negative, and a statistical
model's negative lower bound is a known artefact, not information.

Models (the evaluation protocol in ARCHITECTURE.md):

- statsforecast, one model per call, n_jobs=1: `naive`, `seasonal-naive`
  (SeasonalNaive where a series has >= 2 seasons, else the 4-period window
  average: the chain's statistical floor uses the same rule), `window-average`
  (4 periods), `auto-ets` (seasonal only with >= 2 seasons), `croston-sba`,
  `tsb` (alpha_d = alpha_p = 0.2, Nixtla's intermittent-demand defaults).
  Models without native intervals get statsforecast's ConformalIntervals
  (up to 4 windows of `horizon`, as many as the group's shortest history
  allows); series too short for 2 windows (possible with a low
  `--min-history`) get the chain floor's spread band instead
  (`agent.forecast.floor.spread_interval`).
- `gbm`: the global gbm (agent/forecast/gbm.py, one implementation with the
  chain's gbm path): sklearn HistGradientBoostingRegressor per quantile (0.1,
  0.5, 0.9; pinball loss) on scaled lags, rolling means, selling share, age,
  forecast step and week of year; direct multi-step. Fitted per window on the
  evaluated products' data before the window: the bar `auto` must beat. The
  chain's row `gbm-path` is the same model fitted as `auto` serves it (on a
  sample of 2,000 products of the whole panel, drawn from the population this
  task evaluates: agent.forecast.gbm.training_rows).
- `category-mean` and `knn` (k = 11, similarity-weighted, analogs from the
  product index, as the VISUELLE kNN baselines). For a new product: the mean
  launch curve (first `horizon` periods after first sale) of same-category
  products / of its 11 nearest products, counting only launches by
  `numeric.baseline.is_launch`: launch window ended before the target's launch,
  first sale at least LAUNCH_MIN_OFFSET periods into the data (earlier first
  sales are mostly products that were already selling when the data begin:
  their "launch curve" is their regular volume, which doubles the forecast of a
  real launch). The knn launch curve is the chain's own
  (`agent.forecast.floor.analog_launch_curve` on the ContextBuilder's launch
  context): the floor's launch answer and this row are one implementation (they
  had drifted apart: floor WAPE 0.904 vs knn 0.709 on the committed 200 launches).
  For an existing product there is no future to copy, so the analogs' most
  recent `horizon` periods relative to their own preceding level (a "profile",
  capped at PROFILE_CAP) are transferred onto the target's level (mean of its
  last 13 periods).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from agent.forecast.context import ContextBuilder, ContextSettings
from agent.forecast.floor import analog_launch_curve, curve_quantiles
from agent.forecast.gbm import GBM_SERIES, fit_panel
from eval.harness.tasks import TaskKind, VisiblePanel
from numeric.baseline import WINDOW_AVERAGE, is_launch, seasonal
from numeric.quantiles import LEVEL

LEVEL_WINDOW = 13
MIN_ANALOG_HISTORY = 4
K_NEIGHBOURS = ContextSettings.k_launch_analogs  # the chain's launch analogs; existing products use as many
CANDIDATE_POOL = ContextSettings.launch_candidate_pool
PROFILE_CAP = 10.0
CONFORMAL_WINDOWS = 4
TSB_ALPHA = 0.2

Kind = Literal["baseline", "chain", "derived"]  # derived: computed from the chain paths' rows


@dataclass(frozen=True)
class EvalModel:
    name: str
    kind: Kind
    tasks: tuple[TaskKind, ...]
    needs_index: bool
    description: str
    mode: str | None = None  # the chain mode for chain models
    weights: str = "base"  # the LLM weights chain models ask: base, or lora (the tuned forecaster)


MODELS: dict[str, EvalModel] = {spec.name: spec for spec in [
    EvalModel("naive", "baseline", ("existing",), False, "last value (statsforecast Naive)"),
    EvalModel("seasonal-naive", "baseline", ("existing",), False,
              "SeasonalNaive with >= 2 seasons of history, else 4-period window average (the reference)"),
    EvalModel("window-average", "baseline", ("existing",), False, "mean of the last 4 periods"),
    EvalModel("auto-ets", "baseline", ("existing",), False, "statsforecast AutoETS"),
    EvalModel("croston-sba", "baseline", ("existing",), False, "statsforecast CrostonSBA"),
    EvalModel("tsb", "baseline", ("existing",), False, f"statsforecast TSB (alpha_d = alpha_p = {TSB_ALPHA})"),
    EvalModel("gbm", "baseline", ("existing",), False,
              "global HistGradientBoosting on lags + calendar, quantile loss, fitted on the evaluated products"),
    EvalModel("category-mean", "baseline", ("existing", "new"), False, "category mean curve"),
    EvalModel("knn", "baseline", ("existing", "new"), True, f"embedding kNN curve (k = {K_NEIGHBOURS}, similarity-weighted)"),
    EvalModel("floor", "chain", ("existing", "new"), True, "the chain's statistical floor alone (mode baseline)", "baseline"),
    EvalModel("llm-zero-shot", "chain", ("existing",), True, "chain, mode zero-shot (LLM on the history alone)", "zero-shot"),
    EvalModel("llm-few-shot", "chain", ("existing", "new"), True,
              "chain, mode few-shot (LLM with retrieved analogs; new products: the new-product prompt)", "few-shot"),
    EvalModel("llm-lora-zero-shot", "chain", ("existing",), True,
              "chain, mode zero-shot, LoRA-tuned LLM (shelfcast finetune llm)", "zero-shot", "lora"),
    EvalModel("llm-lora-few-shot", "chain", ("existing", "new"), True,
              "chain, mode few-shot, LoRA-tuned LLM (new products: the new-product prompt)", "few-shot", "lora"),
    EvalModel("regression", "chain", ("existing", "new"), True, "chain, mode regression (fine-tuned model)", "regression"),
    EvalModel("gbm-path", "chain", ("existing",), False,
              f"chain, mode gbm (the global gbm fitted on {GBM_SERIES} established products, as served)", "gbm"),
    EvalModel("auto", "chain", ("existing", "new"), True, "chain, mode auto (few-shot -> zero-shot -> regression -> gbm -> floor)",
              "auto"),
    EvalModel("combination", "derived", ("existing", "new"), False,
              "quantile average of the chain paths in the run, inverse-WAPE weights per segment (held out by series folds)"),
    EvalModel("routed", "derived", ("existing", "new"), False,
              "the path or combination with the best backtest WAPE in the segment (auto with a routing table; held out)"),
]}
BASELINES = [name for name, spec in MODELS.items() if spec.kind == "baseline"]
# The tuned-LLM rows need a trained adapter, so they are their own group rather than part of chain/all.
CHAIN_MODELS = [name for name, spec in MODELS.items() if spec.kind in ("chain", "derived") and spec.weights == "base"]
LORA_MODELS = [name for name, spec in MODELS.items() if spec.weights == "lora"]
STAT_MODELS = ["naive", "seasonal-naive", "window-average", "auto-ets", "croston-sba", "tsb"]
REFERENCE = {"existing": "seasonal-naive", "new": "category-mean"}  # relative scores are against these


def resolve_models(names: Iterable[str]) -> list[str]:
    """Expand 'baselines', 'chain', 'llm', 'lora' and 'all'; unknown names raise ValueError listing the known ones."""
    out: list[str] = []
    groups = {"baselines": BASELINES, "chain": CHAIN_MODELS, "all": BASELINES + CHAIN_MODELS,
              "llm": ["llm-zero-shot", "llm-few-shot"], "lora": LORA_MODELS}
    for raw in names:
        for name in (part.strip() for part in str(raw).split(",")):
            if not name:
                continue
            expanded = groups.get(name, [name])
            for item in expanded:
                if item not in MODELS:
                    raise ValueError(f"unknown model {item!r}; known: {', '.join(MODELS)} "
                                     "(or the groups baselines, chain, llm, lora, all)")
                if item not in out:
                    out.append(item)
    if not out:
        raise ValueError("no models selected")
    return out


def columns(name: str) -> list[str]:
    return [name, f"{name}-lo-{LEVEL}", f"{name}-hi-{LEVEL}"]


def _frame(name: str, ids: np.ndarray, dates: pd.DatetimeIndex, q: np.ndarray) -> pd.DataFrame:
    """q: (n_ids, 3 = lo/point/hi, h) -> long frame, clipped at zero and never crossing."""
    q = np.maximum.accumulate(np.clip(np.nan_to_num(q, nan=0.0), 0, None)[:, [0, 1, 2], :], axis=1)
    n, _, h = q.shape
    return pd.DataFrame({"unique_id": np.repeat(ids, h), "ds": np.tile(dates, n), name: q[:, 1, :].ravel(),
                         f"{name}-lo-{LEVEL}": q[:, 0, :].ravel(), f"{name}-hi-{LEVEL}": q[:, 2, :].ravel()})


def future_dates(visible: VisiblePanel, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(visible.start, periods=horizon, freq=visible.freq)


# ----------------------------------------------------------------- statsforecast


def stat_forecast(name: str, visible: VisiblePanel, unique_ids: list[str], horizon: int) -> pd.DataFrame:
    """One statsforecast model (by harness name) on the visible data of the given products."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, CrostonSBA, Naive, SeasonalNaive, TSB, WindowAverage
    from statsforecast.utils import ConformalIntervals

    rows = visible.rows(unique_ids)
    m = visible.season_length
    lengths = visible.stop - visible.first[rows]
    is_seasonal = seasonal(lengths, m)
    # ConformalIntervals needs n_windows * horizon + 1 values per series; shorter series get the spread band.
    fits = np.clip((lengths - 1) // horizon, 0, CONFORMAL_WINDOWS)
    if name in ("naive", "auto-ets"):  # native intervals
        fits = np.full_like(fits, CONFORMAL_WINDOWS)
    short = rows[fits < 2]
    rows, is_seasonal = rows[fits >= 2], is_seasonal[fits >= 2]
    conformal = ConformalIntervals(h=horizon, n_windows=int(fits[fits >= 2].min()) if (fits >= 2).any() else 2)
    groups: list[tuple[np.ndarray, object]] = []
    if name == "naive":
        groups = [(rows, Naive(alias=name))]
    elif name == "window-average":
        groups = [(rows, WindowAverage(WINDOW_AVERAGE, alias=name, prediction_intervals=conformal))]
    elif name == "seasonal-naive":
        groups = [(rows[is_seasonal], SeasonalNaive(m, alias=name)),
                  (rows[~is_seasonal], WindowAverage(WINDOW_AVERAGE, alias=name, prediction_intervals=conformal))]
    elif name == "auto-ets":
        groups = [(rows[is_seasonal], AutoETS(season_length=m, alias=name)), (rows[~is_seasonal], AutoETS(alias=name))]
    elif name == "croston-sba":
        groups = [(rows, CrostonSBA(alias=name, prediction_intervals=conformal))]
    elif name == "tsb":
        groups = [(rows, TSB(alpha_d=TSB_ALPHA, alpha_p=TSB_ALPHA, alias=name, prediction_intervals=conformal))]
    else:
        raise ValueError(f"{name!r} is not a statsforecast model of the harness")
    parts = []
    for group_rows, model in groups:
        if len(group_rows) == 0:
            continue
        train = visible.long(group_rows)
        fitted = StatsForecast(models=[model], freq=visible.freq, n_jobs=1).forecast(df=train, h=horizon, level=[LEVEL])
        parts.append(fitted)
    if len(short):
        parts.append(_short_series(name, visible, short, horizon))
    out = pd.concat(parts, ignore_index=True)
    for col in columns(name):
        out[col] = out[col].clip(lower=0)
    out[f"{name}-lo-{LEVEL}"] = np.minimum(out[f"{name}-lo-{LEVEL}"], out[name])
    out[f"{name}-hi-{LEVEL}"] = np.maximum(out[f"{name}-hi-{LEVEL}"], out[name])
    return out[["unique_id", "ds", *columns(name)]]


def _short_series(name: str, visible: VisiblePanel, rows: np.ndarray, horizon: int) -> pd.DataFrame:
    """The same model's point forecast (no intervals) with the floor's spread band, for too-short series."""
    from statsforecast import StatsForecast
    from statsforecast.models import CrostonSBA, TSB, WindowAverage

    from agent.forecast.floor import spread_interval

    model = {"croston-sba": CrostonSBA(alias=name), "tsb": TSB(alpha_d=TSB_ALPHA, alpha_p=TSB_ALPHA, alias=name)}.get(
        name, WindowAverage(WINDOW_AVERAGE, alias=name))
    fitted = StatsForecast(models=[model], freq=visible.freq, n_jobs=1).forecast(df=visible.long(rows), h=horizon)
    for row in rows:
        at = (fitted["unique_id"] == visible.ids[row]).to_numpy()
        lo, hi = spread_interval(visible.history(row), fitted.loc[at, name].to_numpy())
        fitted.loc[at, f"{name}-lo-{LEVEL}"], fitted.loc[at, f"{name}-hi-{LEVEL}"] = lo, hi
    return fitted


# ----------------------------------------------------------------- global GBM


def gbm_forecast(visible: VisiblePanel, unique_ids: list[str], horizon: int, seed: int = 0,
                 name: str = "gbm") -> pd.DataFrame:
    """The global gbm (agent.forecast.gbm) fitted on the given products' data before the window, one model per
    window: the baseline bar (the chain's `gbm-path` row fits on the served sample instead)."""
    rows = visible.rows(unique_ids)
    model = fit_panel(visible, horizon, seed, rows=rows)
    q = model.predict(visible.values[rows], visible.first[rows], visible.start)
    return _frame(name, visible.ids[rows].to_numpy(), future_dates(visible, horizon), q)


# ----------------------------------------------------------------- cross-sectional


class Retriever(Protocol):
    def search(self, query, k: int = 10, *, exclude_ids=(), launched_before=None, category=None) -> pd.DataFrame: ...


class CachedRetriever:
    """Wraps a ProductIndex: query texts are embedded once (products share texts), results are unchanged."""

    def __init__(self, index):
        self.index = index
        self._vectors: dict[str, np.ndarray] = {}

    def search(self, query, k: int = 10, *, exclude_ids=(), launched_before=None, category=None) -> pd.DataFrame:
        if isinstance(query, str) and hasattr(self.index, "embed_query"):
            if query not in self._vectors:
                self._vectors[query] = self.index.embed_query(query)
            query = self._vectors[query]
        return self.index.search(query, k=k, exclude_ids=exclude_ids, launched_before=launched_before, category=category)


@dataclass
class CrossSection:
    """Per window: what a cross-sectional baseline may use about every product (before `stop`)."""

    visible: VisiblePanel
    horizon: int
    kind: TaskKind

    def __post_init__(self) -> None:
        v, h, s = self.visible.values, self.horizon, self.visible.stop
        if self.kind == "new":
            launch = self.visible.first_sale
            # The whole launch window lies before the target's launch, and the first sale is a launch: products
            # selling from the start of the data show their regular sales there, not a launch (left-censoring).
            self.eligible = is_launch(launch, s, h)
            idx = np.clip(launch[:, None] + np.arange(h)[None, :], 0, max(s - 1, 0))
            self.curves = np.where(self.eligible[:, None], np.take_along_axis(np.nan_to_num(v), idx, axis=1), np.nan)
        else:
            observed = s - h - self.visible.first  # periods before the analog's own "next h"
            lo = np.maximum(self.visible.first, s - h - LEVEL_WINDOW)
            prior = np.full(len(v), np.nan)
            ok = observed >= MIN_ANALOG_HISTORY
            cum = np.concatenate([np.zeros((len(v), 1)), np.cumsum(np.nan_to_num(v), axis=1)], axis=1)
            rows = np.flatnonzero(ok)
            prior[rows] = (cum[rows, s - h] - cum[rows, lo[rows]]) / (s - h - lo[rows])
            self.eligible = ok & (prior > 0)
            self.curves = np.full((len(v), h), np.nan)
            e = np.flatnonzero(self.eligible)
            self.curves[e] = np.minimum(v[e, s - h:s] / prior[e, None], PROFILE_CAP)

    def level(self, row: int) -> float:
        history = self.visible.history(row)
        return float(history[-LEVEL_WINDOW:].mean()) if history.size else 0.0

    def combine(self, row: int, analogs: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """(3, h): weighted mean and the 0.1/0.9 quantiles of the analogs' curves, on the target's scale."""
        q = curve_quantiles(self.curves[analogs], weights)
        return q * self.level(row) if self.kind == "existing" else q


def _category_codes(catalog: pd.DataFrame, ids: pd.Index) -> np.ndarray:
    if "category" not in catalog.columns:
        return np.zeros(len(ids), dtype=int)
    category = catalog.set_index(catalog["unique_id"].astype(str))["category"].reindex(ids)
    return pd.factorize(category.astype("string").str.casefold().fillna("(none)"))[0]


def category_forecast(visible: VisiblePanel, unique_ids: list[str], horizon: int, kind: TaskKind,
                      catalog: pd.DataFrame, name: str = "category-mean") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Equal-weight mean curve of the target's catalog category (all products when it has no category)."""
    xs = CrossSection(visible, horizon, kind)
    codes = _category_codes(catalog, visible.ids)
    rows = visible.rows(unique_ids)
    out, diag = np.zeros((len(rows), 3, horizon)), []
    cache: dict[int, np.ndarray] = {}
    for i, row in enumerate(rows):
        code = codes[row]
        if code not in cache:
            cache[code] = np.flatnonzero(xs.eligible & (codes == code))
        members = cache[code][cache[code] != row]
        scope = "category"
        if members.size == 0:
            members, scope = np.flatnonzero(xs.eligible & (np.arange(len(codes)) != row)), "all products"
        if members.size == 0:
            out[i] = _fallback(xs, row, horizon)
            scope = "none"
        else:
            out[i] = xs.combine(row, members, None)
        diag.append({"unique_id": visible.ids[row], "scope": scope, "analogs": int(members.size)})
    return _frame(name, visible.ids[rows].to_numpy(), future_dates(visible, horizon), out), pd.DataFrame(diag)


def knn_forecast(visible: VisiblePanel, unique_ids: list[str], horizon: int, catalog: pd.DataFrame,
                 retriever: Retriever, k: int = K_NEIGHBOURS, name: str = "knn") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Existing products: the similarity-weighted mean profile of the k nearest products by text (launched before
    the window), on the target's level. Launches: `knn_launch_forecast`."""
    xs = CrossSection(visible, horizon, "existing")
    texts = catalog.set_index(catalog["unique_id"].astype(str))["text"]
    rows = visible.rows(unique_ids)
    start = visible.start
    out, diag = np.zeros((len(rows), 3, horizon)), []
    for i, (uid, row) in enumerate(zip(unique_ids, rows, strict=True)):
        hits = retriever.search(str(texts.loc[str(uid)]), k=CANDIDATE_POOL, exclude_ids=(str(uid),),
                                launched_before=start)
        found = visible.ids.get_indexer(hits["unique_id"].astype(str)) if len(hits) else np.empty(0, dtype=int)
        ok = (found >= 0) & (found != row)
        ok[ok] &= xs.eligible[found[ok]]
        chosen = found[ok][:k]
        similarity = hits["similarity"].to_numpy(dtype=float)[ok][:k] if len(hits) else np.empty(0)
        if chosen.size == 0:
            out[i] = _fallback(xs, row, horizon)
        else:
            out[i] = xs.combine(row, chosen, np.clip(similarity, 1e-6, None))
        diag.append({"unique_id": str(uid), "analogs": int(chosen.size),
                     "analog_ids": ",".join(visible.ids[chosen]),
                     "mean_similarity": float(similarity.mean()) if similarity.size else np.nan})
    return _frame(name, visible.ids[rows].to_numpy(), future_dates(visible, horizon), out), pd.DataFrame(diag)


def knn_launch_forecast(builder: ContextBuilder, unique_ids: list[str], start: pd.Timestamp, horizon: int,
                        name: str = "knn") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Launches at `start`: the chain's analog launch curve (`agent.forecast.floor.analog_launch_curve` on
    `ContextBuilder.for_catalog_launch`), so this row and the chain's floor on launches are one implementation."""
    out, diag = np.zeros((len(unique_ids), 3, horizon)), []
    for i, uid in enumerate(unique_ids):
        context = builder.for_catalog_launch(str(uid), horizon, start)
        out[i] = analog_launch_curve(context)[0]
        similarity = [a.similarity for a in context.analogs]
        diag.append({"unique_id": str(uid), "analogs": len(context.analogs),
                     "analog_ids": ",".join(a.unique_id for a in context.analogs),
                     "mean_similarity": float(np.mean(similarity)) if similarity else np.nan})
    dates = pd.date_range(start, periods=horizon, freq=builder.dataset.freq)
    return _frame(name, np.asarray(unique_ids, dtype=str), dates, out), pd.DataFrame(diag)


def _fallback(xs: CrossSection, row: int, horizon: int) -> np.ndarray:
    """No usable analog: the target's own level (existing) or zeros (new); flat interval."""
    level = xs.level(row) if xs.kind == "existing" else 0.0
    return np.full((3, horizon), level)
