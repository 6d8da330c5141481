"""Point accuracy of forecasts and the naive baseline they must beat, on the same windows.

The windows become Nixtla long frames and are scored by `numeric.metrics`, the
evaluation harness's own MASE and WAPE, against `numeric.baseline`, the
harness's and the floor's baseline rule: an artifact card's "naive" column is
the leaderboard's reference. MASE divides each window's mean absolute error by
the in-sample one-step (or seasonal, with more than a season) naive error of its
own history, so slow and fast sellers count alike; windows whose history cannot
give that scale (launches, flat zeros) are left out of MASE but kept in WAPE,
which weights by volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from numeric.metrics import point_accuracy


class Accuracy(BaseModel):
    """Point accuracy of one forecaster on a set of windows."""

    windows: int
    mase: float | None  # mean over windows with a defined scale
    wape: float | None  # None when the targets sum to zero

    def line(self) -> str:
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        return f"MASE {fmt(self.mase)}  WAPE {fmt(self.wape)}"


def long_frames(points: np.ndarray, targets: np.ndarray, histories: list[np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Windows as Nixtla long frames: forecasts (unique_id = window, ds = step, cutoff, y, model) and histories."""
    points, targets = np.asarray(points, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    n, horizon = targets.shape
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(n), horizon), "ds": np.tile(np.arange(horizon), n),
                          "cutoff": -1, "y": targets.ravel(), "model": points.ravel()})
    lengths = [len(h) for h in histories]
    train = pd.DataFrame({"unique_id": np.repeat(np.arange(n), lengths),
                          "ds": np.concatenate([np.arange(-size, 0) for size in lengths]) if n else np.array([], int),
                          "y": np.concatenate([np.asarray(h, dtype=np.float64) for h in histories]) if n else []})
    return frame, train


def accuracy(points: np.ndarray, targets: np.ndarray, histories: list[np.ndarray], season_length: int) -> Accuracy:
    """MASE and WAPE of point forecasts (windows, horizon) against targets of the same shape (numeric.metrics)."""
    frame, train = long_frames(points, targets, histories)
    mase, wape = point_accuracy(frame, "model", train, season_length)
    return Accuracy(windows=len(frame) // max(np.shape(targets)[1], 1), mase=mase, wape=wape)


class Evaluation(BaseModel):
    """The model's pinball loss and point accuracy next to the baseline's, on the same windows."""

    loss: float  # mean pinball loss on the scaled targets (the training objective)
    model: Accuracy
    baseline: Accuracy

    def beats_baseline(self) -> bool:
        pairs = [(self.model.mase, self.baseline.mase), (self.model.wape, self.baseline.wape)]
        return all(m is not None and b is not None and m < b for m, b in pairs)
