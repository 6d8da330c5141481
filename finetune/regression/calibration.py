"""Conformal calibration of the 80% interval on validation windows.

The pinball-trained quantiles are not calibrated: on the built-in data the
h=4 artifact's [q0.1, q0.9] covered 64% of test values where 80% is meant
(eval/results/completejourney-chain). Conformalized quantile regression
(Romano et al., 2019) fixes that without retraining: the lower bound moves by
the 90% quantile (with the finite-sample correction) of `q0.1 - y` over
validation values, the upper bound by that of `y - q0.9`. Scores are in the
window's scaled units (units / mean of recent history), so one offset serves
slow and fast sellers.

One offset per side for all steps, pooled over every observed validation
step, not one per step: the raw quantiles already widen with the step, and
per-step offsets were noisy where it matters. Validation windows that observe
step 13 all start in the first weeks of the validation region, so the far
steps' offsets rested on one or two calendar weeks; on Dominick's test
windows per-step offsets covered 0.795 / 0.755 / 0.683 of steps 1-4 / 5-8 /
9-13 and steps 14+ reused step 13's (0.438); pooled offsets covered
0.766 / 0.747 / 0.756 (steps 14+ depend on the extension's widening, `predict`). Coverage is checked per step
bucket on the test windows (eval/results/bench_finetune.txt).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, Field

MIN_VALUES = 30


class Calibration(BaseModel):
    """Offsets (scaled units) for the outer quantiles; positive widens, negative narrows."""

    level: float = Field(0.8, gt=0, lt=1, description="Nominal coverage of [lowest, highest quantile].")
    lower: float = Field(description="Subtracted from the lowest quantile.")
    upper: float = Field(description="Added to the highest quantile.")
    values: int = Field(description="Validation values (window x step) the offsets came from.")

    def apply(self, scaled: np.ndarray) -> np.ndarray:
        """Calibrated copy of scaled quantiles (n, quantiles, steps); the median stays, nothing crosses it."""
        out = scaled.copy()
        center = scaled.shape[1] // 2
        out[:, 0] = np.minimum(scaled[:, 0] - self.lower, scaled[:, center])
        out[:, -1] = np.maximum(scaled[:, -1] + self.upper, scaled[:, center])
        return out


def fit_calibration(scaled: np.ndarray, targets: np.ndarray, level: float = 0.8) -> Calibration:
    """Offsets from scaled quantiles (n, quantiles, steps) and NaN-padded scaled targets (n, steps).

    ValueError when fewer than MIN_VALUES values are observed: too few to calibrate.
    """
    seen = ~np.isnan(targets)
    n = int(seen.sum())
    if n < MIN_VALUES:
        raise ValueError(f"{n} validation values; at least {MIN_VALUES} are needed to calibrate the intervals")
    rank = min(1.0, math.ceil((n + 1) * (1 + level) / 2) / n)  # each side misses (1 - level) / 2
    y = targets[seen]
    lower = float(np.quantile(scaled[:, 0][seen] - y, rank))
    upper = float(np.quantile(y - scaled[:, -1][seen], rank))
    return Calibration(level=level, lower=lower, upper=upper, values=n)
