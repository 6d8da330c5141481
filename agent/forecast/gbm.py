"""The global gradient-boosting path: one quantile model across products, fitted on the panel as of the origin.

Why: on the committed built-in evaluation (20 series x 3 windows) the global gbm
was the strongest baseline on MASE (0.832, seasonal naive 0.879), and routing can
only choose or combine what `auto` can run. This module is the one gbm: the
harness's rows (eval/harness/baselines.py) and the served path call the same
`fit_panel` and `GbmModel.predict`. Two harness rows use it: `gbm-path` is this
path exactly as `auto` serves it (its backtest feeds routing and the
combination), and `gbm`, the bar, is the same model fitted on the evaluated
products themselves, as the baseline always was (the stronger of the two on the
committed sample, so the bar is not lowered by the change).

- **Model**: per quantile (0.1, 0.5, 0.9) an sklearn HistGradientBoostingRegressor
  with pinball loss on scaled lags (13), rolling means, the selling share, the
  level, age, the forecast step and the week of year; direct multi-step (the
  step is a feature). Quantiles are sorted per period, so they never cross.
- **Training set**: a volume-stratified, seeded sample of GBM_SERIES products
  drawn from the population the existing-products task evaluates
  (`training_rows`: at least ESTABLISHED_HISTORY periods before the origin, a
  sale in half of them; `agent.data.panel.stratified_sample`, the harness's
  sampler), every origin before the forecast origin, targets strictly before
  it. Sampling the whole panel (any product with a sale) underforecast the 20
  evaluated series of the first run by 67% (a median learnt on sporadic sellers
  is near zero). The next rule, 500 products with > GBM_MIN_OBS periods and a
  sale in half of the last 26, lost to the bar on the 200-series scale run
  (WAPE 0.733 / MASE 0.958 against 0.692 / 0.831, issue 12): it left out the
  task's products whose sales thinned out lately and let in young ones (8-15%
  of it). On development samples (eval/gbm_path_dev.py: seeds 1 and 2 on the
  scale run's windows, seed 1 on the 3 windows before them; the test run not
  read) the task's rule with 500 products brought the mean MASE from 0.910 to
  0.791 (bar 0.795) and WAPE 0.713 to 0.694 (bar 0.684); 1,000 / 2,000 / 5,000
  products gave WAPE 0.679 / 0.666 / 0.670, MASE 0.785 / 0.777 / 0.774, and
  5,000 without the GBM_MAX_ROWS cap (619k rows, 2x the fit time) 0.665 /
  0.777: 2,000 (244k rows, under the cap) was picked. Confirmed once on the
  scale run (seed 0): WAPE 0.697, MASE 0.819 against the bar's 0.692 / 0.831
  (WAPE difference +0.005, 95% paired CI -0.013 to +0.023);
  eval/results/gbm_path_dev.txt has every figure. The products to forecast are
  predicted from their own lags and are not added to the fit: the model then
  depends only on the data, the origin and the horizon, so one fit answers
  every product (and is cached).
- **Serving** (`GbmForecaster`): the panel is built once per process, the model
  is fitted on first use per (data fingerprint, origin, horizon, settings) and
  kept in memory and under $SHELFCAST_HOME/cache/gbm (joblib; a file this
  process family wrote), so the next forecast, in this process or the next CLI
  call, only predicts. Measured on the built-in data (67,982 products x 52
  weeks, h=4, one thread on 2 shared cores): the fit on 2,000 products took
  10.5 s per origin (244k rows) where the 500 served before took 2.8 s, in one run under the
  other engineers' load (3.8x; the 500-product fit had taken 2.4 s on a quiet
  machine, 24.8 s at the heaviest load seen); the next product in the same
  process 0.02 s; a new process reading the disk cache 7.4 s under load (the
  panel build and the data fingerprint, not the model).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agent.data.dataset import Dataset
from agent.data.panel import Panel, VisiblePanel, stratified_sample
from agent.forecast.context import ForecastContext
from numeric.quantiles import QUANTILES

GBM_VERSION = "1"
GBM_SERIES = 2000
GBM_LAGS = 13
GBM_MIN_OBS = 4
GBM_MAX_ROWS = 300_000
GBM_MIN_ROWS = 100  # below this (two leaves of min_samples_leaf=40 and change) the quantile trees are noise
GBM_ITER = 100
ESTABLISHED_HISTORY = 26  # the existing-products task's default min history (eval/harness/tasks.py, horizon <= 6)
GBM_THREADS = int(os.environ.get("SHELFCAST_GBM_THREADS", os.environ.get("SHELFCAST_EVAL_THREADS", "1")))


class GbmUnavailable(ValueError):
    """The gbm cannot answer this request (a new product, no training data before the origin); says why."""


def features(values: np.ndarray, first: np.ndarray, origin: int, horizon: int, start: pd.Timestamp,
             freq: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, scale): features for forecasting from position `origin` (the first forecast period, dated `start`).

    Uses only values[:, :origin]. X has one row per product and step 1..h in
    row-major order (row i's step k at i*h + k-1); targets are divided by the
    row's scale. Rows with fewer than GBM_MIN_OBS observations get a NaN scale:
    `fit_panel` drops them, `predict` uses 1.
    """
    n = values.shape[0]
    past = values[:, max(0, origin - 26):origin]
    observed = origin - first
    lags = np.full((n, GBM_LAGS), np.nan)
    for lag in range(1, GBM_LAGS + 1):
        if origin - lag >= 0:
            lags[:, lag - 1] = values[:, origin - lag]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (not yet launched) give NaN, as intended
        mean4 = np.nanmean(past[:, -4:], axis=1) if past.shape[1] else np.full(n, np.nan)
        mean13 = np.nanmean(past[:, -13:], axis=1) if past.shape[1] else np.full(n, np.nan)
        mean26 = np.nanmean(past, axis=1) if past.shape[1] else np.full(n, np.nan)
        selling13 = np.nanmean(past[:, -13:] > 0, axis=1) if past.shape[1] else np.full(n, np.nan)
        mean_all = np.nanmean(values[:, :origin], axis=1) if origin else np.full(n, np.nan)
    scale = np.where(mean13 > 0, mean13, np.where(mean_all > 0, mean_all, 1.0))
    scale = np.where(observed >= GBM_MIN_OBS, scale, np.nan)
    base = np.column_stack([lags / scale[:, None], mean4 / scale, mean26 / scale, np.nan_to_num(selling13),
                            np.log1p(scale), np.minimum(observed, 104)])
    week = pd.date_range(start, periods=horizon, freq=freq).isocalendar().week.to_numpy(dtype=float)
    X = np.concatenate([np.column_stack([base, np.full(n, k + 1.0), np.full(n, week[k])]) for k in range(horizon)])
    order = np.arange(n * horizon).reshape(horizon, n).T.ravel()  # row-major: row i's steps together
    return X[order], scale


@dataclass
class GbmModel:
    """Three fitted quantile regressors and what they were fitted on."""

    models: list  # one HistGradientBoostingRegressor per QUANTILES level
    horizon: int
    freq: str
    series: int  # products in the training sample
    rows: int  # training rows (product x origin x step)
    fit_s: float

    def predict(self, values: np.ndarray, first: np.ndarray, start: pd.Timestamp) -> np.ndarray:
        """(n, len(QUANTILES), horizon) in units, sorted per period, >= 0; `values` end right before `start`."""
        from threadpoolctl import threadpool_limits

        X, scale = features(values, first, values.shape[1], self.horizon, start, self.freq)
        scale = np.where(np.isfinite(scale), scale, 1.0)
        with threadpool_limits(GBM_THREADS):
            preds = [model.predict(X).reshape(len(values), self.horizon) * scale[:, None] for model in self.models]
        q = np.stack(preds, axis=1)
        return np.sort(np.clip(q, 0, None), axis=1)


def training_rows(visible: VisiblePanel, n_series: int | None = GBM_SERIES, seed: int = 0) -> np.ndarray:
    """Panel rows to fit on: a volume-stratified sample of the products the existing-products task evaluates (at least
    ESTABLISHED_HISTORY periods before the origin, fewer when no product has that many; a sale in half of them)."""
    observed = visible.stop - visible.first
    history = max(GBM_MIN_OBS + 1, min(ESTABLISHED_HISTORY, int(observed.max(initial=0))))
    sold = (np.nan_to_num(visible.values) > 0).sum(axis=1)
    eligible = np.flatnonzero((observed >= history) & (sold > 0) & (2 * sold >= history))
    volume = pd.Series(np.nansum(visible.values[eligible], axis=1), index=visible.ids[eligible])
    return visible.rows(stratified_sample(volume, n_series, seed).index)


def fit_panel(visible: VisiblePanel, horizon: int, seed: int = 0, n_series: int = GBM_SERIES,
              rows: np.ndarray | None = None) -> GbmModel:
    """The global gbm for forecasts from `visible.start`, fitted on `rows` of `visible` (default: the served sample
    of established products, see the module doc; the harness's `gbm` bar passes the evaluated products)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    tic = time.perf_counter()
    rows = training_rows(visible, n_series, seed) if rows is None else rows
    if len(rows) == 0:
        raise GbmUnavailable(f"no product has {GBM_MIN_OBS + 1} periods and a sale before {visible.start.date()}: "
                             "nothing to fit the global model on")
    values, first, s = visible.values[rows], visible.first[rows], visible.stop
    X_parts, y_parts = [], []
    for origin in range(GBM_MIN_OBS + 1, s):
        steps = min(horizon, s - origin)  # targets must lie before the forecast origin: positions <= s - 1
        X, scale = features(values, first, origin, steps, visible.periods[origin], visible.freq)
        target = values[:, origin:origin + steps] / scale[:, None]
        keep = np.isfinite(scale)
        X_parts.append(X.reshape(len(rows), steps, -1)[keep].reshape(-1, X.shape[1]))
        y_parts.append(target[keep].ravel())
    X_train, y_train = np.concatenate(X_parts), np.concatenate(y_parts)
    ok = np.isfinite(y_train)
    X_train, y_train = X_train[ok], y_train[ok]
    if len(y_train) < GBM_MIN_ROWS:
        raise GbmUnavailable(f"{len(y_train)} training targets before {visible.start.date()}: too few to fit the "
                             f"global model (it needs {GBM_MIN_ROWS})")
    rng = np.random.default_rng(seed)
    if len(y_train) > GBM_MAX_ROWS:
        pick = np.sort(rng.choice(len(y_train), GBM_MAX_ROWS, replace=False))
        X_train, y_train = X_train[pick], y_train[pick]
    models = []
    # One OpenMP thread: on a small shared machine HGB's threads spin against other work (measured 12x slower).
    with threadpool_limits(GBM_THREADS):
        for q in QUANTILES:
            model = HistGradientBoostingRegressor(loss="quantile", quantile=q, max_iter=GBM_ITER, learning_rate=0.08,
                                                  max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0,
                                                  max_bins=128, early_stopping=False, random_state=seed)
            try:
                models.append(model.fit(X_train, y_train))
            except ValueError as exc:  # e.g. a feature without two distinct values to bin on tiny data
                raise GbmUnavailable(f"the global model could not be fitted on {len(y_train)} rows: {exc}") from exc
    return GbmModel(models, horizon, visible.freq, len(rows), len(y_train), time.perf_counter() - tic)


def settings_key(seed: int = 0, n_series: int | None = GBM_SERIES) -> str:
    """What besides the data, origin and horizon decides the fitted model (cache keys, harness model keys);
    n_series None: fitted on given rows (the harness's bar), so the served sample's settings are left out."""
    from sklearn import __version__ as sklearn_version

    sample = f"-n{n_series}-est{ESTABLISHED_HISTORY}" if n_series is not None else ""
    return f"gbm{GBM_VERSION}{sample}-s{seed}-it{GBM_ITER}-lags{GBM_LAGS}-sk{sklearn_version}"


class GbmForecaster:
    """The served gbm path: one panel per process, one fit per (data, origin, horizon), cached in memory and on disk."""

    def __init__(self, dataset: Dataset, cache_dir: Path | None = None, seed: int = 0, n_series: int = GBM_SERIES):
        from agent.config import get_settings

        self.dataset = dataset
        self.cache_dir = Path(cache_dir) if cache_dir is not None else get_settings().cache_dir / "gbm"
        self.seed, self.n_series = seed, n_series
        self._panel: Panel | None = None
        self._fingerprint: str | None = None
        self._models: dict[str, GbmModel] = {}
        self._lock = threading.Lock()  # concurrent API requests for one origin fit once

    @property
    def panel(self) -> Panel:
        if self._panel is None:
            self._panel = Panel(self.dataset)
        return self._panel

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from agent.forecast.routing import dataset_fingerprint

            self._fingerprint = dataset_fingerprint(self.dataset.sales, self.dataset.freq)
        return self._fingerprint

    def model(self, cutoff: pd.Timestamp, horizon: int) -> tuple[GbmModel, str]:
        """(the model for forecasts from `cutoff`, 'memory' / 'disk cache' / 'fitted'), fitting it when needed."""
        import joblib

        key = f"{self.fingerprint}-{pd.Timestamp(cutoff):%Y%m%d}-h{horizon}-{settings_key(self.seed, self.n_series)}"
        with self._lock:
            if key in self._models:
                return self._models[key], "memory"
            path = self.cache_dir / f"{key}.joblib"
            source = "disk cache"
            try:
                model = joblib.load(path)
            except FileNotFoundError:
                model, source = None, "fitted"
            except Exception:  # noqa: BLE001 - a truncated or stale cache file is refitted, never trusted
                model, source = None, "fitted (unreadable cache file replaced)"
            if model is None:
                model = fit_panel(self.visible(cutoff), horizon, self.seed, self.n_series)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                joblib.dump(model, tmp)
                tmp.replace(path)
            self._models[key] = model
            return model, source

    def visible(self, cutoff: pd.Timestamp) -> VisiblePanel:
        return self.panel.visible(self._stop(cutoff))

    def _stop(self, cutoff: pd.Timestamp) -> int:
        stop = int(self.panel.periods.searchsorted(pd.Timestamp(cutoff)))  # periods strictly before the cutoff
        if stop <= GBM_MIN_OBS:
            raise GbmUnavailable(f"only {stop} periods of data before {pd.Timestamp(cutoff).date()}: too few to fit on")
        return stop

    def predict(self, context: ForecastContext) -> tuple[np.ndarray, str]:
        """(quantiles of shape (len(QUANTILES), horizon) in units, how they were made)."""
        if context.is_new_product or context.product.unique_id is None:
            raise GbmUnavailable("the global gbm needs the product's own history (a launch has none)")
        tic = time.perf_counter()
        model, source = self.model(context.cutoff, context.horizon)
        stop = self._stop(context.cutoff)
        try:
            row = self.panel.rows([context.product.unique_id])
        except KeyError:
            raise GbmUnavailable(f"product {context.product.unique_id} has no sales rows in the panel") from None
        quantiles = model.predict(self.panel.values[row, :stop], np.minimum(self.panel.first[row], stop),
                                  context.cutoff)[0]
        fit = f"fitted in {model.fit_s:.1f} s" if source.startswith("fitted") else f"from the {source}"
        return quantiles, (f"global gbm on {model.series} series x {model.rows} rows as of "
                           f"{pd.Timestamp(context.cutoff).date()} ({fit}; answered in {time.perf_counter() - tic:.2f} s)")
