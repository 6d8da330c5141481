"""Metrics on the long forecast frame (unique_id, ds, cutoff, y, <model>, <model>-lo-80, <model>-hi-80).

utilsforecast.losses computes every per-group loss; "pooled" values treat all
rows of a window (or of the whole task) as one group, which is how a
dataset-level WAPE or WQL is defined (sums over all series, not a mean of
per-series ratios that explode on slow movers).

- MASE: utilsforecast `mase` per (series, window) on the data up to the
  window's cutoff, seasonality = the dataset's season length when that series
  has more than one season of history, else 1 (the GluonTS rule); then the
  mean over series. A series whose scale is 0 (constant history) has no MASE
  and is left out (counted in `mase_undefined`).
- WAPE: utilsforecast `wape`, pooled.
- sMAPE: utilsforecast `smape`, pooled (its definition: |e| / (|y| + |yhat|),
  0 when both are 0, so it lies in [0, 1]).
- bias: hand-written relative bias, sum(yhat - y) / sum(|y|) (negative = under-
  forecast); it is utilsforecast's `bias` (mean error) times n / sum(|y|) and the
  tests check exactly that.
- WQL: utilsforecast `scaled_crps` on the quantiles (0.1, 0.5, 0.9) = (lo-80,
  point, hi-80), pooled; equal to Chronos's weighted quantile loss
  mean_q 2 * sum(pinball_q) / sum(|y|), checked against a hand computation.
- coverage: utilsforecast `coverage` of the 80% interval, pooled.
- MAE: utilsforecast `mae`, pooled (new products, where there is no MASE scale).

Aggregation (Chronos): for MASE, WAPE and WQL, each window's value is divided
by the reference model's in the same window and the ratios are combined by a
geometric mean over windows (`rel_*`). Per-series comparisons use each
series' total absolute error over all its windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from utilsforecast import losses

from numeric.metrics import pooled, relative_bias, series_mase, wql
from numeric.quantiles import LEVEL

METRICS = ["mase", "wape", "smape", "bias", "wql", "coverage", "mae"]


def window_scores(df: pd.DataFrame, models: list[str], train: pd.DataFrame | None, season_length: int,
                  level: int = LEVEL) -> pd.DataFrame:
    """Rows (model, window) with every metric; window 'all' pools the whole task. NaN where undefined."""
    frames = {"window": pooled(df, cutoff=True), "all": pooled(df, cutoff=False)}
    result = []
    mase_rows = series_mase(df, models, train, season_length) if train is not None else None
    for scope, frame in frames.items():
        scores = {
            "wape": losses.wape(frame, models),
            "smape": losses.smape(frame, models),
            "bias": relative_bias(frame, models),
            "wql": wql(frame, models),
            "coverage": losses.coverage(frame, models, level=level),
            "mae": losses.mae(frame, models),
        }
        for metric, table in scores.items():
            long = table.melt(id_vars=["unique_id", "cutoff"], value_vars=models, var_name="model", value_name="value")
            long["metric"] = metric
            long["window"] = long["cutoff"] if scope == "window" else "all"
            result.append(long[["model", "window", "metric", "value"]])
        if mase_rows is not None:
            key = "cutoff" if scope == "window" else None
            grouped = mase_rows.groupby(key)[models].mean() if key else mase_rows[models].mean().to_frame().T
            long = grouped.reset_index(drop=key is None).melt(
                id_vars=[key] if key else [], value_vars=models, var_name="model", value_name="value")
            long["metric"] = "mase"
            long["window"] = long[key] if key else "all"
            result.append(long[["model", "window", "metric", "value"]])
            if scope == "all":
                undefined = mase_rows[models].isna().sum()
                result.append(pd.DataFrame({"model": models, "window": "all", "metric": "mase_undefined",
                                            "value": undefined.reindex(models).to_numpy(dtype=float)}))
    table = pd.concat(result, ignore_index=True)
    table["window"] = table["window"].astype(str)
    return table


def geometric_relative(scores: pd.DataFrame, metric: str, reference: str) -> pd.Series:
    """exp(mean over windows of log(model / reference)), per model; windows where either is 0/NaN are skipped."""
    per = scores[(scores["metric"] == metric) & (scores["window"] != "all")].pivot(
        index="window", columns="model", values="value")
    if reference not in per.columns:
        return pd.Series(np.nan, index=per.columns)
    ratio = per.div(per[reference], axis=0)
    logs = np.log(ratio.where((ratio > 0) & np.isfinite(ratio)))
    return np.exp(logs.mean(skipna=True))


def series_errors(df: pd.DataFrame, models: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Per series: total |error| per model over all its windows, and total |y|."""
    errors = pd.DataFrame({m: (df[m] - df["y"]).abs() for m in models})
    errors["unique_id"] = df["unique_id"].to_numpy()
    per = errors.groupby("unique_id")[models].sum()
    return per, df.assign(abs_y=df["y"].abs()).groupby("unique_id")["abs_y"].sum().reindex(per.index)


def win_rates(per_series: pd.DataFrame, against: str, tol: float = 1e-9) -> pd.DataFrame:
    """Share of series where each model's total |error| is below / equal to / above `against`'s."""
    diff = per_series.sub(per_series[against], axis=0)
    return pd.DataFrame({"win": (diff < -tol).mean(), "tie": (diff.abs() <= tol).mean(), "loss": (diff > tol).mean()})


def paired_bootstrap(errors_a: np.ndarray, errors_b: np.ndarray, abs_y: np.ndarray, n_boot: int = 2000,
                     seed: int = 0, alpha: float = 0.05) -> dict[str, float]:
    """Paired bootstrap over series of WAPE(a) - WAPE(b): point estimate, CI and the share of draws where a wins.

    Series are resampled with replacement, carrying all their windows (errors
    are per-series totals), so within-series correlation is kept.
    """
    errors_a, errors_b, abs_y = (np.asarray(x, dtype=float) for x in (errors_a, errors_b, abs_y))
    n = len(abs_y)
    if n == 0 or abs_y.sum() <= 0:
        return {"delta": np.nan, "lo": np.nan, "hi": np.nan, "p_better": np.nan}
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        norm = abs_y[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            deltas[start:stop] = (errors_a[idx].sum(axis=1) - errors_b[idx].sum(axis=1)) / norm
    deltas = deltas[np.isfinite(deltas)]
    point = (errors_a.sum() - errors_b.sum()) / abs_y.sum()
    lo, hi = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return {"delta": float(point), "lo": float(lo), "hi": float(hi), "p_better": float((deltas < 0).mean())}


def mean_difference_bootstrap(per_series_a: np.ndarray, per_series_b: np.ndarray, n_boot: int = 2000, seed: int = 0,
                              alpha: float = 0.05) -> dict[str, float]:
    """Paired bootstrap over series of mean(a) - mean(b) for a per-series score such as MASE (NaN pairs dropped)."""
    a, b = (np.asarray(x, dtype=float) for x in (per_series_a, per_series_b))
    diff = (a - b)[np.isfinite(a) & np.isfinite(b)]
    if diff.size == 0:
        return {"delta": np.nan, "lo": np.nan, "hi": np.nan, "p_better": np.nan}
    draws = diff[np.random.default_rng(seed).integers(0, diff.size, size=(n_boot, diff.size))].mean(axis=1)
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return {"delta": float(diff.mean()), "lo": float(lo), "hi": float(hi), "p_better": float((draws < 0).mean())}
