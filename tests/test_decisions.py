"""Reorder and price what-if decisions against hand-computed values."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from agent.decisions.price import NO_SIGNAL, PriceHistory, estimate_elasticity, what_if
from agent.decisions.reorder import ReorderInput, reorder, service_level, total_quantile

Q = {"0.1": [5.0, 5.0, 5.0, 5.0], "0.5": [10.0, 10.0, 10.0, 10.0], "0.9": [20.0, 20.0, 20.0, 20.0]}


def test_total_quantile_hits_the_summed_levels_and_extends_the_tail() -> None:
    assert total_quantile(Q, 3, 0.5) == pytest.approx(30.0)
    assert total_quantile(Q, 3, 0.9) == pytest.approx(60.0)
    assert total_quantile(Q, 3, 0.1) == pytest.approx(15.0)
    # 95%: median + z(0.95) * (q90 - median) / z(0.9) = 30 + 1.6449 * 30 / 1.2816
    z = NormalDist().inv_cdf
    assert total_quantile(Q, 3, 0.95) == pytest.approx(30 + z(0.95) * 30 / z(0.9))
    # 70%: linear in z between the 50% and 90% totals
    assert total_quantile(Q, 3, 0.7) == pytest.approx(30 + z(0.7) / z(0.9) * 30)


def test_reorder_subtracts_stock_and_rounds_up() -> None:
    result = reorder(ReorderInput(quantiles=Q, lead_time=2, review_period=1, service_level=0.9, on_hand=12))
    assert (result.cover_periods, result.order_up_to, result.order_quantity) == (3, 60.0, 48)
    assert result.service_level_source == "asked"
    enough = reorder(ReorderInput(quantiles=Q, lead_time=1, review_period=0, service_level=0.9, on_hand=500))
    assert enough.order_quantity == 0


def test_critical_ratio_from_cost_and_price() -> None:
    assert service_level(None, 2.0, 5.0) == (pytest.approx(0.6), "critical ratio")
    assert service_level(0.8, None, None) == (0.8, "asked")
    assert service_level(None, None, None)[1] == "default"
    result = reorder(ReorderInput(quantiles=Q, lead_time=1, review_period=1, unit_cost=2.0, unit_price=5.0))
    z = NormalDist().inv_cdf
    assert result.order_up_to == pytest.approx(20 + z(0.6) / z(0.9) * 20, abs=0.01)


def test_reorder_needs_a_forecast_long_enough() -> None:
    with pytest.raises(ValueError, match="lead time"):
        ReorderInput(quantiles=Q, lead_time=4, review_period=1)


def _history(elasticity: float, noise: float = 0.03, weeks: int = 30) -> PriceHistory:
    rng = np.random.default_rng(1)
    prices = rng.choice([1.5, 1.8, 2.0, 2.2, 2.5], size=weeks)
    units = 200 * prices ** elasticity * np.exp(rng.normal(0, noise, weeks))
    return PriceHistory(prices=prices.tolist(), units=units.tolist())


def test_own_elasticity_is_recovered() -> None:
    fit = estimate_elasticity(_history(-1.5))
    assert fit.source == "product" and fit.elasticity == pytest.approx(-1.5, abs=0.1) and fit.r2 > 0.9


def test_flat_prices_fall_back_to_the_category_then_to_no_signal() -> None:
    flat = PriceHistory(prices=[2.0] * 30, units=[10.0] * 30)
    pooled = estimate_elasticity(flat, [_history(-2.0), _history(-2.0, weeks=25), _history(-2.0, weeks=20)])
    assert pooled.source == "category" and pooled.products == 3 and pooled.elasticity == pytest.approx(-2.0, abs=0.15)
    none = estimate_elasticity(flat, [flat])
    assert none.source == "none" and none.elasticity is None and none.note == NO_SIGNAL


def test_positive_elasticity_is_clipped_and_flagged() -> None:
    fit = estimate_elasticity(_history(1.2))
    assert fit.clipped and fit.elasticity == 0.0 and "clipped" in fit.note


def test_what_if_scales_by_the_price_ratio() -> None:
    fit = estimate_elasticity(_history(-1.5))
    result = what_if([10.0, 20.0], {"0.5": [10.0, 20.0]}, old_price=2.0, new_price=2.5, fit=fit)
    factor = (2.5 / 2.0) ** fit.elasticity
    assert result.factor == pytest.approx(factor, abs=1e-4)
    assert result.point == pytest.approx([10 * factor, 20 * factor], abs=1e-3) and result.changed
    unchanged = what_if([10.0], {"0.5": [10.0]}, 2.0, 3.0, estimate_elasticity(PriceHistory(prices=[], units=[])))
    assert unchanged.point == [10.0] and not unchanged.changed and unchanged.fit.note == NO_SIGNAL
