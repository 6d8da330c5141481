"""Evaluation tasks: which product is forecast from which point in time, and the truth it is scored on.

Two tasks, both leak-free by construction:

- **existing**: a rolling-origin backtest. `n_windows` windows of `horizon`
  periods each, step = horizon, the last one ending at the end of the data.
  Products qualify on the data before the *first* window only (enough history,
  enough periods with a sale), so nothing in the evaluation periods decides who
  is evaluated. `min_history` defaults to max(26, 4h+2) periods; when the data
  are shorter it is lowered (to no less than h) and then windows are dropped,
  and the shortfall is recorded, so any data with two windows' worth of
  periods can be evaluated (four years of months at h=12 was refused before). A sample of `max_series` is drawn stratified by volume (total
  units before the first window), seeded.
- **new**: products whose first sale is on or after `launch_after` and before
  the end of the data. Each is forecast from its launch for `horizon` periods
  and scored on the periods the data hold (launch to data end): a product
  launched 3 periods before the end is scored on 3, and the shortfall is
  counted in the task's settings and description rather than the product being
  dropped (a monthly launch set at h=12 kept 3 of 60 products when a full
  horizon was required). Everything the models see is strictly before launch.
  Sampled stratified by the launch window's volume (the only volume a new
  product has; every model is scored on the same sample, so this does not
  favour any of them).

Conventions (Nixtla's): `cutoff` is the last period a model may see and `ds`
the forecast periods; `start` = cutoff + 1 period is the first forecast period
(the `cutoff` of `agent.forecast.context.ContextBuilder`, which counts from the
first unseen period). All positions refer to `Panel.periods`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from agent.data.dataset import Dataset
from agent.data.panel import Panel, VisiblePanel, stratified_sample
from numeric.baseline import LAUNCH_MIN_OFFSET

TaskKind = Literal["existing", "new"]
__all__ = ["EvalTask", "Panel", "TaskError", "TaskKind", "VisiblePanel", "existing_task", "new_product_task",
           "stratified_sample"]


class TaskError(ValueError):
    """The dataset cannot support the requested task (too short, no eligible products...)."""


@dataclass
class EvalTask:
    """Items to forecast (one row per product x window) and the actuals they are scored on."""

    kind: TaskKind
    horizon: int
    freq: str
    season_length: int
    items: pd.DataFrame  # unique_id, cutoff, start, stop (position of start), volume, stratum
    actuals: pd.DataFrame  # unique_id, ds, cutoff, y: the skeleton every model's columns join onto
    settings: dict = field(default_factory=dict)

    @property
    def n_series(self) -> int:
        return int(self.items["unique_id"].nunique())

    @property
    def windows(self) -> list[pd.Timestamp]:
        return sorted(self.items["cutoff"].unique())

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints mean the same items and the same truth: cached forecasts stay valid."""
        digest = hashlib.sha256(f"{self.kind}|{self.horizon}|{self.freq}".encode())
        frame = self.actuals[["unique_id", "ds", "cutoff", "y"]]
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        shortfall = "".join(f"; {s}" for s in self.settings.get("shortfall", []))
        if self.kind == "existing":
            cutoffs = ", ".join(str(pd.Timestamp(c).date()) for c in self.windows)
            return (f"existing products: {self.n_series} series x {len(self.windows)} windows of {self.horizon} "
                    f"periods (cutoffs {cutoffs}), sampled from {self.settings.get('eligible', '?')} eligible{shortfall}")
        return (f"new products: {self.n_series} launches from {self.settings.get('launch_after')} on, first "
                f"{self.horizon} periods after launch, sampled from {self.settings.get('eligible', '?')} eligible"
                f"{shortfall}")


def existing_task(dataset: Dataset, panel: Panel | None = None, horizon: int = 4, n_windows: int = 3,
                  max_series: int | None = 500, seed: int = 0, min_history: int | None = None,
                  min_selling: int | None = None) -> EvalTask:
    """Rolling-origin windows over sampled established products.

    `min_history` periods before the first window (default max(26, 4 * horizon + 2),
    enough for conformal intervals over 4 windows, lowered to what the data allow
    when they are shorter), with a sale in at least `min_selling` (default half
    of min_history) of them. An explicit `min_history` is never lowered: too few
    periods for it drops windows; fewer than one window is a TaskError.
    """
    if horizon < 1 or n_windows < 1:
        raise TaskError(f"horizon and windows must be >= 1, got {horizon} and {n_windows}")
    if min_history is not None and min_history < 1:
        raise TaskError(f"min_history must be >= 1, got {min_history}")
    panel = panel or Panel(dataset)
    requested_windows, shortfall = n_windows, []
    if min_history is None:
        default = max(26, 4 * horizon + 2)
        min_history = max(horizon, min(default, len(panel) - n_windows * horizon))
        if min_history < default:
            shortfall.append(f"min history lowered from {default} to {min_history} periods (the data have {len(panel)})")
    n_windows = min(n_windows, (len(panel) - min_history) // horizon)
    if n_windows < 1:
        raise TaskError(f"dataset {dataset.name!r} has {len(panel)} periods: one window of {horizon} needs at least "
                        f"{horizon + min_history} ({min_history} of history first; lower it with --min-history)")
    if n_windows < requested_windows:
        shortfall.append(f"{n_windows} of {requested_windows} windows fit ({len(panel)} periods, "
                         f"{min_history} of history first)")
    min_selling = min_selling if min_selling is not None else min_history // 2
    first_stop = len(panel) - n_windows * horizon
    before = panel.values[:, :first_stop]
    history = first_stop - panel.first
    selling = (np.nan_to_num(before) > 0).sum(axis=1)
    eligible = (history >= min_history) & (selling >= min_selling)
    if not eligible.any():
        raise TaskError(f"dataset {dataset.name!r}: no product has {min_history} periods of history with "
                        f"{min_selling} selling periods before {panel.periods[first_stop].date()}")
    volume = pd.Series(np.nansum(before[eligible], axis=1), index=panel.ids[eligible])
    sample = stratified_sample(volume, max_series, seed)
    rows = panel.rows(sample.index)
    items, actuals = [], []
    step = pd.tseries.frequencies.to_offset(panel.freq)
    for w in range(n_windows):
        stop = first_stop + w * horizon
        cutoff = panel.periods[stop - 1]
        items.append(pd.DataFrame({"unique_id": sample.index, "cutoff": cutoff, "start": cutoff + step, "stop": stop,
                                   "volume": volume.loc[sample.index].to_numpy(), "stratum": sample.to_numpy()}))
        for k in range(horizon):
            actuals.append(pd.DataFrame({"unique_id": sample.index, "ds": panel.periods[stop + k], "cutoff": cutoff,
                                         "y": panel.values[rows, stop + k]}))
    return EvalTask("existing", horizon, panel.freq, panel.season_length, _frame(items), _sorted(actuals),
                    {"n_windows": n_windows, "max_series": max_series, "seed": seed, "min_history": min_history,
                     "min_selling": min_selling, "eligible": int(eligible.sum()), "shortfall": shortfall})


def default_launch_after(panel: Panel) -> pd.Timestamp:
    """A third into the data (at least LAUNCH_MIN_OFFSET periods): earlier first sales are mostly left-censoring."""
    return panel.periods[min(max(LAUNCH_MIN_OFFSET, len(panel) // 3), len(panel) - 1)]


def new_product_task(dataset: Dataset, panel: Panel | None = None, horizon: int = 4, max_series: int | None = 500,
                     seed: int = 0, launch_after: pd.Timestamp | str | None = None) -> EvalTask:
    """Launches on or after `launch_after`, each forecast from its first sale for `horizon` periods,
    scored on those of them inside the data (at least the launch period)."""
    panel = panel or Panel(dataset)
    launch_after = pd.Timestamp(launch_after) if launch_after is not None else default_launch_after(panel)
    first_allowed = int(panel.periods.searchsorted(launch_after))
    if first_allowed < 1:
        raise TaskError(f"launch_after {launch_after.date()} is at the start of the data: no launch has anything "
                        "before it to learn from")
    launch = panel.first_sale
    eligible = (launch >= first_allowed) & (launch < len(panel))
    if not eligible.any():
        raise TaskError(f"dataset {dataset.name!r}: no product first sold between {launch_after.date()} and "
                        "the end of the data")
    rows_all = np.flatnonzero(eligible)
    # The launch window as far as the data reach (NaN past the end counts as nothing sold for the volume strata).
    padded = np.pad(panel.values, ((0, 0), (0, horizon)), constant_values=np.nan)
    window = np.stack([padded[rows_all, launch[rows_all] + k] for k in range(horizon)], axis=1)
    volume = pd.Series(np.nansum(window, axis=1), index=panel.ids[rows_all])
    sample = stratified_sample(volume, max_series, seed)
    rows = panel.rows(sample.index)
    stops = launch[rows]
    step = pd.tseries.frequencies.to_offset(panel.freq)
    cutoffs = panel.periods[stops] - step
    items = pd.DataFrame({"unique_id": sample.index, "cutoff": cutoffs, "start": panel.periods[stops], "stop": stops,
                          "volume": volume.loc[sample.index].to_numpy(), "stratum": sample.to_numpy()})
    observed = np.minimum(horizon, len(panel) - stops)
    items["observed"] = observed
    actuals = [pd.DataFrame({"unique_id": sample.index[inside], "ds": panel.periods[stops[inside] + k],
                             "cutoff": cutoffs[inside], "y": panel.values[rows[inside], stops[inside] + k]})
               for k in range(horizon) if (inside := observed > k).any()]
    partial = int((observed < horizon).sum())
    shortfall = ([f"{partial} of {len(items)} launches are scored on fewer than {horizon} periods (launch to data "
                  f"end; {int(observed.sum())} of {len(items) * horizon} periods scored)"] if partial else [])
    return EvalTask("new", horizon, panel.freq, panel.season_length, _frame([items]), _sorted(actuals),
                    {"max_series": max_series, "seed": seed, "launch_after": str(launch_after.date()),
                     "eligible": int(eligible.sum()), "shortfall": shortfall})


def _frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True).sort_values(["cutoff", "unique_id"], ignore_index=True)


def _sorted(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True).sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)
