"""Price what-if: own-price elasticity from the sales history, and the forecast re-scaled by it.

The model is the constant-elasticity demand curve, units = a * price^e, fitted
as a least-squares line of log(units) on log(price):
- per product, from its own weeks with sales (the built-in data's price is the
  average paid price, revenue / units, so weeks without sales have none; the
  fit therefore describes how much sells *when it sells*, a known bias);
- when the product's own prices barely move, pooled over its category with
  each product's own mean removed (a fixed-effects fit: price differences
  between products say nothing about one product's response);
- when neither shows a price signal (too few weeks, too little variation, a
  slope indistinguishable from zero), the answer says so plainly and the
  forecast is unchanged.
An estimate outside [MIN_ELASTICITY, MAX_ELASTICITY] is clipped to it and
flagged: demand that rises with price is confounding (promotions, seasons), not
a response a planner can use.

The re-forecast multiplies every quantile by (new / old) ** e.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

MIN_ELASTICITY = -5.0
MAX_ELASTICITY = 0.0
MIN_WEEKS = 8
MIN_LOG_PRICE_STD = 0.02  # about 2% typical price movement
MIN_DISTINCT_PRICES = 3
MIN_T = 2.0  # slope at least two standard errors from zero
MIN_POOLED_PRODUCTS = 3

NO_SIGNAL = "the data show no price signal for this product; the forecast is unchanged"


class PriceHistory(BaseModel):
    """One product's weekly (price, units); price None in weeks where it is unknown."""

    prices: list[float | None]
    units: list[float]


class ElasticityFit(BaseModel):
    elasticity: float | None = Field(description="d log(units) / d log(price); None when there is no signal.")
    source: Literal["product", "category", "none"]
    weeks: int = 0
    products: int = 0
    r2: float | None = None
    std_err: float | None = None
    clipped: bool = False
    note: str


class PriceWhatIf(BaseModel):
    old_price: float
    new_price: float
    factor: float = Field(description="(new / old) ** elasticity: what every forecast value is multiplied by.")
    fit: ElasticityFit
    point: list[float]
    quantiles: dict[str, list[float]]
    changed: bool


def _usable(history: PriceHistory) -> tuple[np.ndarray, np.ndarray]:
    """log price and log units of the weeks that have both a positive price and positive units."""
    prices = np.array([np.nan if p is None else p for p in history.prices], dtype=float)
    units = np.asarray(history.units, dtype=float)
    keep = np.isfinite(prices) & (prices > 0) & (units > 0)
    return np.log(prices[keep]), np.log(units[keep])


def _varies(log_price: np.ndarray) -> bool:
    return (len(log_price) >= MIN_WEEKS and float(np.std(log_price)) >= MIN_LOG_PRICE_STD
            and len(np.unique(np.round(np.exp(log_price), 2))) >= MIN_DISTINCT_PRICES)


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope through the origin of centred data, its standard error and r2."""
    sxx = float(x @ x)
    slope = float(x @ y) / sxx
    residual = y - slope * x
    dof = max(1, len(x) - 2)
    std_err = float(np.sqrt(residual @ residual / dof / sxx))
    total = float(y @ y)
    return slope, std_err, 1 - float(residual @ residual) / total if total > 0 else 0.0


def _fit(x: np.ndarray, y: np.ndarray, source: Literal["product", "category"], products: int,
         period: str) -> ElasticityFit | None:
    slope, std_err, r2 = _slope(x, y)
    if std_err > 0 and abs(slope) / std_err < MIN_T:
        return None
    clipped = not MIN_ELASTICITY <= slope <= MAX_ELASTICITY
    bounded = float(np.clip(slope, MIN_ELASTICITY, MAX_ELASTICITY))
    note = f"{source}-level log-log fit over {len(x)} {period}s" + (f" of {products} products" if products > 1 else "")
    if clipped:
        note += f"; the raw estimate {slope:.2f} is outside [{MIN_ELASTICITY:g}, {MAX_ELASTICITY:g}] and was clipped"
    return ElasticityFit(elasticity=round(bounded, 3), source=source, weeks=len(x), products=products,
                         r2=round(r2, 3), std_err=round(std_err, 3), clipped=clipped, note=note)


def estimate_elasticity(own: PriceHistory, category: list[PriceHistory] = (), period: str = "week") -> ElasticityFit:
    """The product's own elasticity, else its category's pooled one, else 'no signal' (see the module notes).

    `period` names the data's period in the fit's note ("52 weeks", "24 months").
    """
    log_price, log_units = _usable(own)
    if _varies(log_price):
        fit = _fit(log_price - log_price.mean(), log_units - log_units.mean(), "product", 1, period)
        if fit is not None:
            return fit
    xs, ys = [], []
    for history in category:
        x, y = _usable(history)
        if _varies(x):
            xs.append(x - x.mean())
            ys.append(y - y.mean())
    if len(xs) >= MIN_POOLED_PRODUCTS:
        fit = _fit(np.concatenate(xs), np.concatenate(ys), "category", len(xs), period)
        if fit is not None:
            return fit
    return ElasticityFit(elasticity=None, source="none", weeks=len(log_price), note=NO_SIGNAL)


def what_if(point: list[float], quantiles: dict[str, list[float]], old_price: float, new_price: float,
            fit: ElasticityFit) -> PriceWhatIf:
    """The forecast at `new_price`: every value times (new / old) ** elasticity; unchanged without a signal."""
    if old_price <= 0 or new_price <= 0:
        raise ValueError(f"prices must be positive (old {old_price}, new {new_price})")
    factor = 1.0 if fit.elasticity is None else float((new_price / old_price) ** fit.elasticity)
    return PriceWhatIf(
        old_price=round(old_price, 2), new_price=round(new_price, 2), factor=round(factor, 4), fit=fit,
        point=[round(v * factor, 3) for v in point],
        quantiles={q: [round(v * factor, 3) for v in values] for q, values in quantiles.items()},
        changed=fit.elasticity is not None and factor != 1.0,
    )
