"""Reorder suggestion: the newsvendor quantile of demand over the time an order must cover.

An order placed now must cover demand until the next order arrives: the lead
time plus the review period. The order-up-to level is the `service_level`
quantile of total demand over those periods; the suggestion is that level minus
stock on hand (never negative).

The service level is the newsvendor critical ratio when the margin is known,
(price - cost) / price = underage / (underage + overage), else the level asked
for, else 95%.

How the quantile of a total is made from per-period quantiles (the forecast
only carries the 10/50/90% quantiles of each period, not joint samples):
- each level's per-period quantiles are summed. That is exact if periods move
  together (perfectly correlated demand) and too wide if they are independent,
  so the band is conservative: at a service level above 50% it over-orders
  rather than under-orders;
- between the summed levels, the quantile is interpolated linearly in normal
  z-score (the 10/50/90% points are then hit exactly), and beyond them the
  outer segment is extended (a normal tail fitted to that side), e.g. 95% is
  median + z(0.95) * (q90 - median) / z(0.9).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

DEFAULT_SERVICE_LEVEL = 0.95
_Z = NormalDist()


class ReorderInput(BaseModel):
    quantiles: dict[str, list[float]] = Field(description="Per-period demand quantiles, e.g. {'0.1': [...], '0.5': [...], '0.9': [...]}.")
    lead_time: int = Field(ge=1, le=26, description="Periods until an order placed now arrives.")
    review_period: int = Field(1, ge=0, le=26, description="Periods until the next chance to order.")
    service_level: float | None = Field(None, ge=0.5, le=0.999)
    unit_cost: float | None = Field(None, gt=0)
    unit_price: float | None = Field(None, gt=0)
    on_hand: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _enough_periods(self) -> ReorderInput:
        levels = sorted(float(q) for q in self.quantiles)
        if len(levels) < 2 or not any(q == 0.5 for q in levels):
            raise ValueError("quantiles need the median '0.5' and at least one other level")
        short = [q for q, values in self.quantiles.items() if len(values) < self.cover]
        if short:
            raise ValueError(f"the forecast covers fewer than lead time + review = {self.cover} periods")
        return self

    @property
    def cover(self) -> int:
        return self.lead_time + self.review_period


class ReorderSuggestion(BaseModel):
    cover_periods: int
    service_level: float
    service_level_source: Literal["critical ratio", "asked", "default"]
    demand_median: float = Field(description="Median total demand over the covered periods.")
    order_up_to: float = Field(description="The service-level quantile of total demand over the covered periods.")
    on_hand: float
    order_quantity: int = Field(description="order_up_to - on_hand, rounded up, never negative.")
    method: str


def service_level(given: float | None, unit_cost: float | None, unit_price: float | None) -> tuple[float, str]:
    """The critical ratio (price - cost) / price when both are known, else the level given, else the default."""
    if unit_cost is not None and unit_price is not None and unit_price > unit_cost:
        return min(0.999, max(0.5, (unit_price - unit_cost) / unit_price)), "critical ratio"
    if given is not None:
        return given, "asked"
    return DEFAULT_SERVICE_LEVEL, "default"


def total_quantile(quantiles: dict[str, list[float]], periods: int, level: float) -> float:
    """The `level` quantile of demand summed over the first `periods` periods (see the module notes)."""
    points = sorted((float(q), float(np.sum(values[:periods]))) for q, values in quantiles.items())
    z = np.array([_Z.inv_cdf(q) for q, _ in points])
    totals = np.maximum.accumulate(np.array([t for _, t in points]))  # never decreasing in the level
    target = _Z.inv_cdf(level)
    if target <= z[0]:
        low, high = 0, 1
    elif target >= z[-1]:
        low, high = len(z) - 2, len(z) - 1
    else:
        high = int(np.searchsorted(z, target))
        low = high - 1
    slope = (totals[high] - totals[low]) / (z[high] - z[low])
    return max(0.0, float(totals[low] + slope * (target - z[low])))


def reorder(request: ReorderInput) -> ReorderSuggestion:
    level, source = service_level(request.service_level, request.unit_cost, request.unit_price)
    up_to = total_quantile(request.quantiles, request.cover, level)
    median = total_quantile(request.quantiles, request.cover, 0.5)
    return ReorderSuggestion(
        cover_periods=request.cover, service_level=round(level, 4), service_level_source=source,
        demand_median=round(median, 2), order_up_to=round(up_to, 2), on_hand=request.on_hand,
        order_quantity=max(0, math.ceil(up_to - request.on_hand - 1e-9)),
        method="newsvendor quantile of total demand; per-period quantiles summed (conservative), "
               "interpolated in normal z-score between the 10/50/90% levels",
    )
