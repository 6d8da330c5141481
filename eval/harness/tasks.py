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
from numeric.baseline import LAUNCH_MIN_OFFSET

TaskKind = Literal["existing", "new"]
STRATA = 5


class TaskError(ValueError):
    """The dataset cannot support the requested task (too short, no eligible products...)."""


class Panel:
    """The sales as a dense (product x period) float matrix, NaN before each product's first row.

    Built once per dataset; models get `visible(position)` copies that end before
    a window starts, so data at or after a cutoff is unreachable for them.
    """

    def __init__(self, dataset: Dataset):
        sales = dataset.sales
        if sales.empty:
            raise TaskError(f"dataset {dataset.name!r} has no sales rows")
        self.freq = dataset.freq
        self.season_length = dataset.season_length
        self.periods = pd.date_range(sales["ds"].min(), sales["ds"].max(), freq=dataset.freq)
        ids, rows = np.unique(sales["unique_id"].astype(str).to_numpy(), return_inverse=True)
        cols = self.periods.get_indexer(sales["ds"])
        if (cols < 0).any():
            raise TaskError(f"dataset {dataset.name!r}: dates off the {dataset.freq} calendar")
        self.ids = pd.Index(ids)
        self.values = np.full((len(ids), len(self.periods)), np.nan, dtype=np.float64)
        self.values[rows, cols] = sales["y"].to_numpy(dtype=float)
        observed = ~np.isnan(self.values)
        self.first = np.where(observed.any(axis=1), observed.argmax(axis=1), len(self.periods))
        # Fill gaps after the first row with zeros (the loader already zero-fills; user frames may not).
        after = np.arange(len(self.periods))[None, :] >= self.first[:, None]
        self.values[after & ~observed] = 0.0
        sold = np.nan_to_num(self.values) > 0
        self.first_sale = np.where(sold.any(axis=1), sold.argmax(axis=1), len(self.periods))

    def __len__(self) -> int:
        return len(self.periods)

    def rows(self, unique_ids) -> np.ndarray:
        rows = self.ids.get_indexer([str(u) for u in unique_ids])
        if (rows < 0).any():
            raise KeyError(f"unknown product id(s): {[u for u, r in zip(unique_ids, rows) if r < 0][:3]}")
        return rows

    def position(self, ds: pd.Timestamp) -> int:
        pos = self.periods.get_indexer([pd.Timestamp(ds)])[0]
        if pos < 0:
            raise KeyError(f"{ds} is not a period of this dataset")
        return int(pos)

    def visible(self, stop: int) -> VisiblePanel:
        """A copy of every product's values strictly before position `stop`."""
        return VisiblePanel(self, stop)


class VisiblePanel:
    """What a forecaster may see for a window starting at position `stop`: columns < stop only."""

    def __init__(self, panel: Panel, stop: int):
        self.stop = int(stop)
        self.freq = panel.freq
        self.season_length = panel.season_length
        self.ids = panel.ids
        self.periods = panel.periods[: self.stop]
        self.values = panel.values[:, : self.stop].copy()
        self.first = np.minimum(panel.first, self.stop)  # == stop: not yet seen
        self.first_sale = np.minimum(panel.first_sale, self.stop)

    @property
    def start(self) -> pd.Timestamp:
        """The first unseen period (the first forecast period)."""
        return self.periods[-1] + pd.tseries.frequencies.to_offset(self.freq) if self.stop else pd.NaT

    def rows(self, unique_ids) -> np.ndarray:
        rows = self.ids.get_indexer([str(u) for u in unique_ids])
        if (rows < 0).any():
            raise KeyError(f"unknown product id(s): {[u for u, r in zip(unique_ids, rows) if r < 0][:3]}")
        return rows

    def history(self, row: int) -> np.ndarray:
        return self.values[row, self.first[row]:]

    def long(self, rows: np.ndarray) -> pd.DataFrame:
        """unique_id, ds, y of the given rows from their first period (statsforecast's input)."""
        lengths = self.stop - self.first[rows]
        keep = lengths > 0
        rows, lengths = rows[keep], lengths[keep]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = np.repeat(self.first[rows], lengths) + offsets
        return pd.DataFrame({"unique_id": np.repeat(self.ids[rows].to_numpy(), lengths),
                             "ds": self.periods[cols], "y": self.values[np.repeat(rows, lengths), cols]})


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


def stratified_sample(volume: pd.Series, n: int | None, seed: int, strata: int = STRATA) -> pd.Series:
    """Up to n ids (the index of `volume`), equally from volume quantile strata; returns id -> stratum.

    A stratum with fewer ids than its share gives them all and the rest is
    spread over the others. Deterministic for a seed; ids are sorted first so
    the input order does not matter.
    """
    volume = volume.sort_index()
    ranks = volume.rank(method="first")
    stratum = np.minimum(((ranks - 1) * strata // max(len(volume), 1)).astype(int), strata - 1)
    if n is None or n >= len(volume):
        return stratum
    rng = np.random.default_rng(seed)
    groups = {s: list(volume.index[stratum == s]) for s in range(strata)}
    quota = {s: 0 for s in groups}
    left = n
    while left > 0:  # hand out one slot per stratum in turn while a stratum has ids left
        progressed = False
        for s in groups:
            if left and quota[s] < len(groups[s]):
                quota[s] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    picked = []
    for s, ids in groups.items():
        chosen = rng.choice(len(ids), size=quota[s], replace=False) if quota[s] < len(ids) else np.arange(len(ids))
        picked += [ids[i] for i in sorted(chosen)]
    return stratum.loc[sorted(picked)]


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
