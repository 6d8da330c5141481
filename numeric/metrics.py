"""Metrics over Nixtla long frames (unique_id, ds, cutoff, y, <model>, <model>-lo-80, <model>-hi-80).

utilsforecast.losses computes every per-group loss. The evaluation harness
(eval/harness/metrics.py: definitions and aggregation), and finetune's artifact
cards (finetune/regression/metrics.py) score with these functions, so an
artifact's "MASE vs naive" is the leaderboard's MASE.

- MASE: utilsforecast `mase` per (series, window) on the data up to the
  window's cutoff, seasonality = the season length when that series has more
  than one season of history, else 1 (the GluonTS rule). A series whose scale
  is 0 or undefined (constant or one-value history) has no MASE (NaN).
- "pooled" values treat all rows of a window (or of the whole task) as one
  group, which is how a dataset-level WAPE or WQL is defined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from utilsforecast import losses

from numeric.quantiles import LEVEL, QUANTILES

POOL = "__pool__"


def pooled(df: pd.DataFrame, cutoff: bool) -> pd.DataFrame:
    out = df.assign(unique_id=POOL)
    if not cutoff:
        out = out.assign(cutoff=pd.Timestamp(0))
    return out


def quantile_columns(model: str) -> list[str]:
    return [f"{model}-lo-{LEVEL}", model, f"{model}-hi-{LEVEL}"]


def relative_bias(df: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """sum(yhat - y) / sum(|y|) per (unique_id, cutoff) group: utilsforecast's mean error scaled by n / sum|y|."""
    mean_error = losses.bias(df, models)
    stats = df.assign(abs_y=df["y"].abs()).groupby(["unique_id", "cutoff"], as_index=False).agg(
        n=("y", "size"), norm=("abs_y", "sum"))
    merged = mean_error.merge(stats, on=["unique_id", "cutoff"])
    for model in models:
        merged[model] = np.where(merged["norm"] > 0, merged[model] * merged["n"] / merged["norm"].where(merged["norm"] > 0), np.nan)
    return merged[["unique_id", "cutoff", *models]]


def wql(df: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Weighted quantile loss over (0.1, 0.5, 0.9) per (unique_id, cutoff): utilsforecast scaled_crps."""
    return losses.scaled_crps(df, {m: quantile_columns(m) for m in models}, np.asarray(QUANTILES))


def mase(df: pd.DataFrame, models: list[str], train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """utilsforecast mase per (unique_id, cutoff); seasonality per series by the GluonTS rule; inf -> NaN."""
    cutoff_of = df.groupby("unique_id")["cutoff"].max()
    train = train[["unique_id", "ds", "y"]]
    length = train[train["ds"] <= train["unique_id"].map(cutoff_of)].groupby("unique_id").size()
    length = length.reindex(cutoff_of.index).fillna(0)
    seasonality = pd.Series(np.where((season_length > 1) & (length > season_length), season_length, 1), index=length.index)
    parts = []
    for m, ids in seasonality.groupby(seasonality).groups.items():
        parts.append(losses.mase(df[df["unique_id"].isin(ids)], models, int(m), train[train["unique_id"].isin(ids)]))
    out = pd.concat(parts, ignore_index=True)
    out[models] = out[models].replace([np.inf, -np.inf], np.nan)
    return out


def series_mase(df: pd.DataFrame, models: list[str], train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """MASE per (unique_id, cutoff) for every window (the seasonality rule is applied per window's cutoff)."""
    parts = [mase(window, models, train, season_length) for _, window in df.groupby("cutoff", sort=True)]
    return pd.concat(parts, ignore_index=True)


def point_accuracy(df: pd.DataFrame, model: str, train: pd.DataFrame, season_length: int) -> tuple[float | None, float | None]:
    """(MASE: mean over (series, window) with a defined scale, WAPE: pooled) of one model's column; None if undefined."""
    per_window = series_mase(df, [model], train, season_length)[model].dropna()
    wape = losses.wape(pooled(df, cutoff=False), [model])[model].iloc[0]
    return (float(per_window.mean()) if len(per_window) else None,
            float(wape) if np.isfinite(wape) else None)
