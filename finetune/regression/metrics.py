"""Point accuracy and interval coverage of forecasts, next to the naive baseline, per step bucket.

The windows become Nixtla long frames and are scored by `numeric.metrics`, the
evaluation harness's own MASE and WAPE, against `numeric.baseline`, the
harness's and the floor's baseline rule: an artifact card's "naive" column is
the leaderboard's reference. MASE divides each window's mean absolute error by
the in-sample one-step (or seasonal, with more than a season) naive error of its
own history, so slow and fast sellers count alike; windows whose history cannot
give that scale (launches, flat zeros) are left out of MASE but kept in WAPE,
which weights by volume. Targets are NaN-padded (windows, steps) arrays: a
window near the end of its region observes fewer steps, and only observed
steps are scored. Steps are also scored in buckets (1-4, 5-8, 9-13, 14+),
because one number over a long horizon hides that the far steps are the hard ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from numeric.metrics import point_accuracy

STEP_BUCKETS = ((1, 4), (5, 8), (9, 13), (14, 52))  # inclusive, 1-based


def bucket_name(first: int, last: int) -> str:
    return f"{first}-{last}" if last < 52 else f"{first}+"


def padded_targets(targets: list[np.ndarray], steps: int) -> np.ndarray:
    """Ragged targets as a (windows, steps) array, NaN where a window observed no value."""
    out = np.full((len(targets), steps), np.nan)
    for row, target in enumerate(targets):
        values = np.asarray(target, dtype=np.float64)[:steps]
        out[row, :values.size] = values
    return out


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class Accuracy(BaseModel):
    """Point accuracy (and, for a model with intervals, 80% coverage) on a set of windows."""

    windows: int
    mase: float | None  # mean over windows with a defined scale
    wape: float | None  # None when the targets sum to zero
    coverage: float | None = None  # share of observed values inside [q0.1, q0.9]
    bias: float | None = None  # (sum of forecasts - sum of actuals) / sum of actuals: -0.5 is half too low

    def line(self) -> str:
        cover = f"  cov80 {fmt(self.coverage)}" if self.coverage is not None else ""
        return f"MASE {fmt(self.mase)}  WAPE {fmt(self.wape)}{cover}"


def long_frames(points: np.ndarray, targets: np.ndarray, histories: list[np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Windows as Nixtla long frames: forecasts (unique_id = window, ds = step, cutoff, y, model) and histories.

    Unobserved (NaN) target steps are left out.
    """
    points, targets = np.asarray(points, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    n, horizon = targets.shape
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(n), horizon), "ds": np.tile(np.arange(horizon), n),
                          "cutoff": -1, "y": targets.ravel(), "model": points.ravel()})
    frame = frame[frame["y"].notna()]
    lengths = [len(h) for h in histories]
    train = pd.DataFrame({"unique_id": np.repeat(np.arange(n), lengths),
                          "ds": np.concatenate([np.arange(-size, 0) for size in lengths]) if n else np.array([], int),
                          "y": np.concatenate([np.asarray(h, dtype=np.float64) for h in histories]) if n else []})
    return frame, train


def accuracy(points: np.ndarray, targets: np.ndarray, histories: list[np.ndarray], season_length: int,
             interval: tuple[np.ndarray, np.ndarray] | None = None) -> Accuracy:
    """MASE, WAPE (numeric.metrics), bias and coverage of `interval`, against NaN-padded targets of the same shape.

    Windows without any observed step are not counted.
    """
    targets = np.asarray(targets, dtype=np.float64)
    observed = ~np.isnan(targets)
    frame, train = long_frames(points, targets, histories)
    mase, wape = point_accuracy(frame, "model", train, season_length) if len(frame) else (None, None)
    y = np.nan_to_num(targets)
    total = float(np.abs(y).sum())
    coverage = None
    if interval is not None and observed.any():
        inside = (interval[0] <= y) & (y <= interval[1])
        coverage = float(inside[observed].mean())
    return Accuracy(windows=int(observed.any(axis=1).sum()), mase=mase, wape=wape, coverage=coverage,
                    bias=float((np.where(observed, points, 0.0).sum() - total) / total) if total > 0 else None)


class BucketScore(BaseModel):
    """Accuracy over one bucket of steps, the baseline's on the same values, and coverage before calibration."""

    model: Accuracy
    baseline: Accuracy
    raw_coverage: float | None = None


class Evaluation(BaseModel):
    """The model's pinball loss and point accuracy next to the baseline's, on the same windows."""

    loss: float  # mean pinball loss on the scaled targets of the direct steps (the training objective)
    model: Accuracy
    baseline: Accuracy
    buckets: dict[str, BucketScore] = {}
    launches: BucketScore | None = None  # windows without history (new products), all steps

    def beats_baseline(self) -> bool:
        pairs = [(self.model.mase, self.baseline.mase), (self.model.wape, self.baseline.wape)]
        return all(m is not None and b is not None and m < b for m, b in pairs)


def bucket_scores(points: np.ndarray, baseline: np.ndarray, targets: np.ndarray, histories: list[np.ndarray],
                  season_length: int, interval: tuple[np.ndarray, np.ndarray],
                  raw_interval: tuple[np.ndarray, np.ndarray]) -> dict[str, BucketScore]:
    """Scores per step bucket, for the buckets the targets reach."""
    scores = {}
    for first, last in STEP_BUCKETS:
        cols = slice(first - 1, min(last, targets.shape[1]))
        if first > targets.shape[1] or not (~np.isnan(targets[:, cols])).any():
            continue

        def part(values: np.ndarray) -> np.ndarray:
            return values[:, cols]

        model = accuracy(part(points), part(targets), histories, season_length, (part(interval[0]), part(interval[1])))
        raw = np.isnan(part(targets))
        inside = (part(raw_interval[0]) <= np.nan_to_num(part(targets))) & (np.nan_to_num(part(targets)) <= part(raw_interval[1]))
        scores[bucket_name(first, last)] = BucketScore(
            model=model, baseline=accuracy(part(baseline), part(targets), histories, season_length),
            raw_coverage=float(inside[~raw].mean()))
    return scores
