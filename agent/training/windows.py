"""Forecast windows for fine-tuning: train / validation / test with a strict time split.

The periods before `as_of` are cut into three consecutive regions:

    train targets  < val_start <= validation targets < test_start <= test targets < as_of

A window is (product text, history strictly before its cutoff, the periods from
its cutoff), made by the same `ContextBuilder` the forecasting chain uses, so
training sees exactly what a forecast sees. A window belongs to the region of
its cutoff and its target is cut at that region's end: training and validation
targets hold up to `horizon` periods (the model's direct steps; fewer near a
boundary, the rest are masked in the loss), test targets run to `as_of`, from
origins every `origin_step` periods, so steps beyond the direct head (recursive
extension) are scored too. Cutting targets instead of dropping windows that
straddle a boundary is what lets a 13-step model train on one year of weekly
data: with whole targets only, 51 weeks left no training window at all once 16
test and 13 validation weeks were held out.

Extension windows calibrate the steps past the direct head (the recursion,
`finetune.regression.calibration`): origins every `origin_step` periods from
one head length before the validation region, targets cut where the test
region starts, so every step past the head falls inside the validation
region. Their first steps may be training targets and are never scored; on
the built-in data (h=13, validation 13 weeks) the four origins per product
observe steps 14-26, 14-22, 14-18 and 14. Established products (sold in many periods before `val_start`) are chosen
on pre-validation data only, so nothing after `val_start` shapes the training
windows. Products first sold some periods into the data also give a launch
window (empty history): the cold-start case. Products launched inside the
validation or test region are chosen on the data before `as_of`, like a
new-product test set, and only ever give validation or test windows.

Sampling is a pure function of the seed and the product id, so a product's
windows do not change when other products join or leave the selection.
`update_windows` splits a later split's training windows into new ones and
ones from the period an earlier model trained on (for replay).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from agent.data.dataset import Dataset
from agent.forecast.context import ContextBuilder, ContextSettings
from finetune.regression.data import Example
from numeric.baseline import LAUNCH_MIN_OFFSET


class WindowSpec(BaseModel):
    """How windows are chosen; saved with each artifact so `update` can rebuild them."""

    horizon: int = Field(13, ge=1, description="Direct steps of the model (a quarter of weeks); longer horizons "
                         "extend recursively.")
    max_products: int = Field(1000, ge=2, description="Established products plus training launches; launches "
                              "inside the validation/test regions come on top (up to half the launch count).")
    launch_share: float = Field(0.2, ge=0, lt=1, description="Share of max_products that are launches.")
    min_selling_periods: int = Field(13, ge=1, description="An established product sold in at least this many periods "
                                     "before the validation region.")
    train_per_product: int = Field(8, ge=1)
    val_per_product: int = Field(2, ge=1)
    val_periods: int | None = Field(None, ge=1, description="Length of the validation region; default the horizon.")
    test_periods: int = Field(16, ge=1, description="Length of the test region (the last periods before as_of): "
                              "long enough to score steps past a 13-step head.")
    origin_step: int = Field(4, ge=1, description="Periods between test origins (rolling origin).")
    whole_targets: bool = Field(False, description="Only windows whose `horizon` periods all lie in their region, "
                                "test ones too (LLM prompts answer exactly `horizon` values).")
    as_of: date | None = Field(None, description="First period not visible; default: the period after the data ends.")
    seed: int = 0

    @classmethod
    def for_llm(cls, horizon: int = 4, **fields) -> WindowSpec:
        """Windows for LLM prompt pairs: whole `horizon` targets, validation 2 x horizon, test the last horizon,
        established = sold in 26 periods (the split the LoRA forecaster has always trained on)."""
        return cls(horizon=horizon, val_periods=2 * horizon, test_periods=horizon, origin_step=horizon,
                   min_selling_periods=26, whole_targets=True, **fields)

    @property
    def validation_length(self) -> int:
        return self.val_periods or self.horizon


@dataclass(frozen=True)
class Window:
    unique_id: str
    cutoff: pd.Timestamp
    example: Example


@dataclass
class WindowSplit:
    spec: WindowSpec
    dataset: str
    freq: str
    season_length: int
    val_start: pd.Timestamp
    test_start: pd.Timestamp
    as_of: pd.Timestamp
    products: list[str]
    fingerprint: str  # of the windows: the chosen products' sales and the spec
    data_fingerprint: str  # of the whole dataset before as_of (`Dataset.fingerprint`): which data it was trained on
    train: list[Window]
    val: list[Window]
    test: list[Window]
    extension: list[Window]  # recursion past the head, scored on validation targets only (see module docstring)

    def summary(self) -> dict[str, str | int]:
        """What an artifact records about its data."""
        launches = sum(w.example.history.size == 0 for w in self.train)
        return {"dataset": self.dataset, "fingerprint": self.fingerprint, "data_fingerprint": self.data_fingerprint,
                "freq": self.freq,
                "season_length": self.season_length, "products": len(self.products),
                "val_start": str(self.val_start.date()), "test_start": str(self.test_start.date()),
                "as_of": str(self.as_of.date()), "train_windows": len(self.train),
                "train_launch_windows": launches, "val_windows": len(self.val), "test_windows": len(self.test),
                "extension_windows": len(self.extension)}


def examples(windows: list[Window]) -> list[Example]:
    return [w.example for w in windows]


def build_windows(dataset: Dataset, spec: WindowSpec, products: list[str] | None = None) -> WindowSplit:
    """Windows of the chosen (or the given) products, split by time; raises ValueError if too little data."""
    step = pd.tseries.frequencies.to_offset(dataset.freq)
    start = dataset.sales["ds"].min()
    end = dataset.sales["ds"].max() + step
    as_of = pd.Timestamp(spec.as_of) if spec.as_of else end
    if as_of > end:
        raise ValueError(f"as_of {as_of.date()} is after the data ends ({end.date()} is the first period without data)")
    spec = spec.model_copy(update={"as_of": as_of.date()})  # pinned: the same windows even from a longer file
    grid = pd.date_range(start, as_of, freq=dataset.freq, inclusive="left")
    h = spec.horizon
    needed = spec.test_periods + spec.validation_length + LAUNCH_MIN_OFFSET + 1
    if len(grid) < needed:
        raise ValueError(f"{len(grid)} periods before {as_of.date()} are too few: a {spec.test_periods}-period test "
                         f"region and a {spec.validation_length}-period validation region need at least {needed} "
                         f"(pass smaller test/validation regions)")
    test_start = grid[-spec.test_periods]
    val_start = test_start - spec.validation_length * step
    visible = dataset.sales[dataset.sales["ds"] < as_of]
    chosen = products if products is not None else _choose_products(visible, spec, grid, val_start)
    subset = Dataset(name=dataset.name, sales=visible[visible["unique_id"].isin(chosen)],
                     catalog=dataset.catalog[dataset.catalog["unique_id"].isin(chosen)], freq=dataset.freq)
    missing = sorted(set(chosen) - set(subset.sales["unique_id"]))
    if missing:
        raise ValueError(f"{len(missing)} products have no sales before {as_of.date()}, e.g. {missing[:3]}")
    builder = ContextBuilder(subset, settings=ContextSettings(max_history=len(grid)))
    first_sale = subset.sales.groupby("unique_id")["ds"].min()
    regions: dict[str, list[Window]] = {"train": [], "val": [], "test": [], "extension": []}
    ends = {"train": (val_start, h), "val": (test_start, h), "test": (as_of, h if spec.whole_targets else spec.test_periods),
            "extension": (test_start, h + spec.validation_length)}
    for uid in chosen:
        for region, cutoff in _cutoffs(uid, first_sale[uid], grid, spec, val_start, test_start):
            window = _window(builder, uid, cutoff, *ends[region], step)
            if not spec.whole_targets or window.example.target.size == h:
                regions[region].append(window)
    return WindowSplit(spec=spec, dataset=dataset.name, freq=dataset.freq, season_length=dataset.season_length,
                       val_start=val_start, test_start=test_start, as_of=as_of, products=list(chosen),
                       fingerprint=_fingerprint(subset.sales, spec), data_fingerprint=dataset.fingerprint(as_of),
                       **regions)


def update_windows(split: WindowSplit, old: WindowSplit, replay: float,
                   seed: int) -> tuple[list[Window], list[Window]]:
    """For continual training: (windows with targets `old` never saw, a replay sample from its training period).

    `split` has the same products and spec as `old` with a later `as_of`. Replay
    (`replay` windows per new one, cut to end before `old.val_start`) guards
    against forgetting; with a longer training region the sampled cutoffs differ,
    so these are windows of the same period rather than the very same windows.
    New windows start at or after `old.val_start`; their targets are cut where
    `old`'s test region starts (or they start after `old.as_of`), so that region
    stays a held-out measure of the model before and after the update.
    """
    step = pd.tseries.frequencies.to_offset(split.freq)
    new, seen = [], []
    for window in split.train:
        if window.cutoff < old.val_start:
            seen.append(_cut(window, old.val_start, step))
        elif window.cutoff < old.test_start:
            new.append(_cut(window, old.test_start, step))
        elif window.cutoff >= old.as_of:
            new.append(window)
    if not new:
        raise ValueError("no new training windows between the artifact's data end and the new validation region; "
                         "the data must reach further")
    rng = np.random.default_rng(seed)
    n_replay = min(len(seen), round(replay * len(new)))
    return new, [seen[i] for i in sorted(rng.choice(len(seen), size=n_replay, replace=False))]


def _cut(window: Window, end: pd.Timestamp, step: pd.DateOffset) -> Window:
    """The window with its target cut to the periods before `end`."""
    keep = len(pd.date_range(window.cutoff, end, freq=step, inclusive="left"))
    example = window.example
    if keep >= example.target.size:
        return window
    return Window(window.unique_id, window.cutoff, Example(example.text, example.history, example.target[:keep]))


def _choose_products(sales: pd.DataFrame, spec: WindowSpec, grid: pd.DatetimeIndex,
                     val_start: pd.Timestamp) -> list[str]:
    """Established products and launches, each drawn from ids sorted for a repeatable sample."""
    rng = np.random.default_rng(spec.seed)
    n_launch = round(spec.max_products * spec.launch_share)
    test_start = grid[-spec.test_periods]
    before = _selling_stats(sales[sales["ds"] < val_start])
    established = before.index[before["sold"] >= spec.min_selling_periods]
    launch_from = grid[min(LAUNCH_MIN_OFFSET, len(grid) - 1)]
    train_launches = _launches(before, launch_from, val_start - LAUNCH_MIN_OFFSET * grid.freq)
    later = _selling_stats(sales[sales["ds"] >= val_start])
    later = later[~later.index.isin(before.index)]  # first sold inside the validation or test region
    eval_launches = _launches(later, val_start, test_start)
    picked = [_sample(established, spec.max_products - n_launch, rng), _sample(train_launches, n_launch, rng),
              _sample(eval_launches, n_launch // 2, rng)]
    return sorted(set().union(*picked))


def _selling_stats(sales: pd.DataFrame) -> pd.DataFrame:
    """First period and number of periods with a sale, per product."""
    return sales.assign(sold=sales["y"] > 0).groupby("unique_id").agg(first=("ds", "min"), sold=("sold", "sum"))


def _launches(stats: pd.DataFrame, first_from: pd.Timestamp, first_to: pd.Timestamp) -> pd.Index:
    """Products first sold in [first_from, first_to], however often they sold after.

    Requiring launches to sell in most of their periods trained on successful
    launches only, and new-product forecasts came out far too high (the chain's
    launch analogs had the same filter; see ContextBuilder._launch_analogs). The
    callers' `first_to` leaves each launch its full window before the region ends.
    """
    return stats.index[stats["first"].between(first_from, first_to)]


def _sample(ids: pd.Index, n: int, rng: np.random.Generator) -> list[str]:
    ordered = sorted(map(str, ids))
    if n >= len(ordered):
        return ordered
    return [ordered[i] for i in sorted(rng.choice(len(ordered), size=n, replace=False))]


def _cutoffs(uid: str, first: pd.Timestamp, grid: pd.DatetimeIndex, spec: WindowSpec, val_start: pd.Timestamp,
             test_start: pd.Timestamp) -> list[tuple[str, pd.Timestamp]]:
    """(region, cutoff) pairs of one product: sampled windows with history, test origins, and its launch window."""
    rng = np.random.default_rng([spec.seed, zlib.crc32(uid.encode())])
    has_history = grid[grid > first]
    train = has_history[has_history < val_start]
    val = has_history[(has_history >= val_start) & (has_history < test_start)]
    pairs = [("train", c) for c in _pick(train, spec.train_per_product, rng)]
    pairs += [("val", c) for c in _pick(val, spec.val_per_product, rng)]
    pairs += [("test", c) for c in grid[grid >= test_start][::spec.origin_step] if c > first]
    if not spec.whole_targets:  # LLM prompts answer the head's steps only: nothing to extend
        first_extended = max(grid.get_loc(val_start) - spec.horizon, 0)  # its step h + 1 is the validation start
        extended = grid[first_extended:max(grid.get_loc(test_start) - spec.horizon, first_extended)]
        pairs += [("extension", c) for c in extended[::spec.origin_step] if c > first]
    if first >= grid[min(LAUNCH_MIN_OFFSET, len(grid) - 1)]:
        pairs.append(("train" if first < val_start else "val" if first < test_start else "test", first))
    return pairs


def _pick(cutoffs: pd.DatetimeIndex, n: int, rng: np.random.Generator) -> list[pd.Timestamp]:
    if len(cutoffs) <= n:
        return list(cutoffs)
    return [cutoffs[i] for i in sorted(rng.choice(len(cutoffs), size=n, replace=False))]


def _window(builder: ContextBuilder, uid: str, cutoff: pd.Timestamp, region_end: pd.Timestamp, max_periods: int,
            step: pd.DateOffset) -> Window:
    """The window at `cutoff`; its target runs `max_periods` periods, cut at the end of its region."""
    text, history = builder.for_product(uid, max_periods, cutoff, with_analogs=False).regressor_input()
    end = min(cutoff + max_periods * step, region_end)
    future = builder.series(uid, end)
    target = future[future.index >= cutoff].to_numpy()
    expected = len(pd.date_range(cutoff, end, freq=step, inclusive="left"))
    if len(target) != expected:
        raise ValueError(f"product {uid}: {len(target)} periods after {cutoff.date()}, need {expected} (gaps in sales?)")
    return Window(unique_id=uid, cutoff=cutoff, example=Example(text=text, history=history, target=target))


def _fingerprint(sales: pd.DataFrame, spec: WindowSpec) -> str:
    """Hash of the exact sales used and the window spec: equal fingerprints mean equal windows."""
    digest = hashlib.sha256(spec.model_dump_json().encode())
    frame = sales[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]
