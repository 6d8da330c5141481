"""Point accuracy of forecasts and the naive baseline they must beat, on the same windows.

MASE divides each window's mean absolute error by the in-sample one-step (or
seasonal, when a full season exists) naive error of its own history, so slow
and fast sellers count alike; windows whose history cannot give that scale
(launches, flat zeros) are left out of MASE but kept in WAPE, which weights
by volume.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from finetune.regression.scaling import WINDOW_AVERAGE


def baseline_forecast(history: np.ndarray, horizon: int, season_length: int, launch_level: float) -> np.ndarray:
    """Seasonal naive when a full season exists, else the window average, else the typical launch level."""
    history = np.asarray(history, dtype=np.float64)
    if season_length > 1 and history.size >= season_length:
        return np.resize(history[-season_length:], horizon)
    if history.size:
        return np.full(horizon, history[-WINDOW_AVERAGE:].mean())
    return np.full(horizon, launch_level)


def baseline_name(season_length: int) -> str:
    return f"seasonal naive ({season_length}) / window average ({WINDOW_AVERAGE}) / launch level"


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """Mean absolute naive error in-sample; 0 when it cannot be computed."""
    history = np.asarray(history, dtype=np.float64)
    lag = season_length if season_length > 1 and history.size > season_length else 1
    if history.size <= lag:
        return 0.0
    return float(np.abs(history[lag:] - history[:-lag]).mean())


class Accuracy(BaseModel):
    """Point accuracy of one forecaster on a set of windows."""

    windows: int
    mase: float | None  # mean over windows with a defined scale
    wape: float | None  # None when the targets sum to zero

    def line(self) -> str:
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        return f"MASE {fmt(self.mase)}  WAPE {fmt(self.wape)}"


def accuracy(points: np.ndarray, targets: np.ndarray, histories: list[np.ndarray], season_length: int) -> Accuracy:
    """MASE and WAPE of point forecasts (windows, horizon) against targets of the same shape."""
    errors = np.abs(np.asarray(points, dtype=np.float64) - np.asarray(targets, dtype=np.float64))
    scales = np.array([mase_scale(h, season_length) for h in histories])
    scaled = scales > 0
    total = float(np.abs(targets).sum())
    return Accuracy(
        windows=len(errors),
        mase=float((errors[scaled].mean(axis=1) / scales[scaled]).mean()) if scaled.any() else None,
        wape=float(errors.sum() / total) if total > 0 else None,
    )


class Evaluation(BaseModel):
    """The model's pinball loss and point accuracy next to the baseline's, on the same windows."""

    loss: float  # mean pinball loss on the scaled targets (the training objective)
    model: Accuracy
    baseline: Accuracy

    def beats_baseline(self) -> bool:
        pairs = [(self.model.mase, self.baseline.mase), (self.model.wape, self.baseline.wape)]
        return all(m is not None and b is not None and m < b for m, b in pairs)
