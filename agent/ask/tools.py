"""The agent's tools as langchain-core StructuredTools, each with a bounded pydantic args schema.

`tools(app)` binds them to one loaded pipeline, so another agent (or `ask`)
calls them by name with JSON arguments. Each returns a pydantic result that
carries the Forecast(s) it used, so every number an answer cites can be traced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from agent.ask.query import MAX_HORIZON, MAX_PRODUCTS
from agent.decisions.price import PriceHistory, PriceWhatIf, estimate_elasticity, what_if
from agent.decisions.reorder import ReorderInput, ReorderSuggestion, reorder
from agent.forecast.prompting import period_name
from agent.forecast.result import Forecast
from agent.pipeline import Shelfcast

RECENT_PRICE_WEEKS = 8
MAX_CATEGORY_PRODUCTS = 300

Horizon = Field(4, ge=1, le=MAX_HORIZON, description="Periods (weeks in the built-in data) to forecast.")
Store = Field(None, pattern=r"^\d{1,12}$", description="Built-in data only: one store's sales.")


class ProductArgs(BaseModel):
    unique_id: str = Field(min_length=1, max_length=40)
    horizon: int = Horizon
    store: str | None = Store


class NewProductArgs(BaseModel):
    title: str = Field(min_length=1, max_length=120, description="The new product's title (untrusted text).")
    horizon: int = Horizon
    department: str | None = Field(None, max_length=60)
    category: str | None = Field(None, max_length=60)
    description: str | None = Field(None, max_length=500)
    price: float | None = Field(None, gt=0, le=10_000)


class CompareArgs(BaseModel):
    unique_ids: list[str] = Field(min_length=2, max_length=MAX_PRODUCTS)
    horizon: int = Horizon
    store: str | None = Store


class ReorderArgs(ProductArgs):
    lead_time: int = Field(1, ge=1, le=26)
    review_period: int = Field(1, ge=0, le=26)
    service_level: float | None = Field(None, ge=0.5, le=0.999)
    on_hand: float = Field(0.0, ge=0)
    unit_cost: float | None = Field(None, gt=0)
    unit_price: float | None = Field(None, gt=0)


class PriceArgs(ProductArgs):
    new_price: float = Field(gt=0, le=10_000)


class ReportArgs(BaseModel):
    department: str | None = Field(None, max_length=60)
    category: str | None = Field(None, max_length=60)
    store: str | None = Store
    horizon: int = Field(8, ge=1, le=MAX_HORIZON)


class Comparison(BaseModel):
    forecasts: list[Forecast]
    totals: dict[str, float] = Field(description="unique_id -> forecast units summed over the horizon.")


class ReorderResult(BaseModel):
    forecast: Forecast
    suggestion: ReorderSuggestion


class PriceResult(BaseModel):
    forecast: Forecast
    what_if: PriceWhatIf


def scoped(app: Shelfcast, store: str | None) -> Shelfcast:
    return app if store is None else app.for_store(store)


def recent_price(app: Shelfcast, unique_id: str) -> float | None:
    """Mean paid price over the product's last weeks with a price, else its catalog price."""
    if "price" in app.dataset.sales:
        rows = app.dataset.sales.loc[app.dataset.sales["unique_id"] == unique_id, "price"].dropna()
        if len(rows):
            return round(float(rows.iloc[-RECENT_PRICE_WEEKS:].mean()), 2)
    price = app.dataset.product(unique_id).get("price")
    return float(price) if price is not None and np.isfinite(price) and price > 0 else None


def _histories(app: Shelfcast, unique_ids: list[str]) -> list[PriceHistory]:
    sales = app.dataset.sales
    rows = sales[sales["unique_id"].isin(unique_ids)]
    return [PriceHistory(prices=[None if np.isnan(p) else float(p) for p in frame["price"]], units=frame["y"].tolist())
            for _, frame in rows.groupby("unique_id", sort=False)]


def forecast_product(app: Shelfcast, unique_id: str, horizon: int = 4, store: str | None = None) -> Forecast:
    return scoped(app, store).forecast(unique_id, horizon)


def forecast_new_product(app: Shelfcast, title: str, horizon: int = 4, department: str | None = None,
                         category: str | None = None, description: str | None = None,
                         price: float | None = None) -> Forecast:
    return app.forecast_new(title, horizon, department=department, category=category, description=description,
                            price=price)


def compare_products(app: Shelfcast, unique_ids: list[str], horizon: int = 4, store: str | None = None) -> Comparison:
    forecasts = [forecast_product(app, uid, horizon, store) for uid in unique_ids]
    return Comparison(forecasts=forecasts, totals={f.unique_id or f.title: round(sum(f.point), 3) for f in forecasts})


def reorder_suggestion(app: Shelfcast, unique_id: str, horizon: int = 4, store: str | None = None, lead_time: int = 1,
                       review_period: int = 1, service_level: float | None = None, on_hand: float = 0.0,
                       unit_cost: float | None = None, unit_price: float | None = None) -> ReorderResult:
    """Forecast the periods an order must cover (lead time + review period), then the newsvendor quantity."""
    forecast = forecast_product(app, unique_id, max(horizon, lead_time + review_period), store)
    suggestion = reorder(ReorderInput(quantiles=forecast.quantiles, lead_time=lead_time, review_period=review_period,
                                      service_level=service_level, on_hand=on_hand, unit_cost=unit_cost,
                                      unit_price=unit_price))
    return ReorderResult(forecast=forecast, suggestion=suggestion)


def price_what_if(app: Shelfcast, unique_id: str, new_price: float, horizon: int = 4,
                  store: str | None = None) -> PriceResult:
    """Re-forecast at `new_price` with the product's (or its category's) price elasticity."""
    scope = scoped(app, store)
    forecast = scope.forecast(unique_id, horizon)
    old_price = recent_price(scope, unique_id)
    if old_price is None:
        raise ValueError(f"product {unique_id} has no known price to compare {new_price:g} with")
    catalog = scope.dataset.catalog
    category = scope.dataset.product(unique_id).get("category")
    peers = catalog.loc[(catalog["category"] == category) & (catalog["unique_id"] != unique_id), "unique_id"]
    if "price" in scope.dataset.sales:
        own = _histories(scope, [unique_id])[0]
        fit = estimate_elasticity(own, _histories(scope, peers.iloc[:MAX_CATEGORY_PRODUCTS].tolist()),
                                  period_name(scope.dataset.freq))
    else:  # user data without a price column: nothing to estimate from
        fit = estimate_elasticity(PriceHistory(prices=[], units=[]))
    return PriceResult(forecast=forecast, what_if=what_if(forecast.point, forecast.quantiles, old_price, new_price, fit))


def trend_report(app: Shelfcast, department: str | None = None, category: str | None = None,
                 store: str | None = None, horizon: int = 8) -> Any:
    """The trend report (agent.report, imported on use: the report pulls in charts and HTML rendering)."""
    from agent.report import ReportRequest, build_report

    return build_report(app, ReportRequest(department=department, category=category, store=store, horizon=horizon))


_SPECS: list[tuple[str, Any, type[BaseModel], str]] = [
    ("forecast_product", forecast_product, ProductArgs,
     "Forecast units of one catalog product (by unique_id) for the next `horizon` periods, with 10/50/90% quantiles."),
    ("forecast_new_product", forecast_new_product, NewProductArgs,
     "Predict the first `horizon` periods of a product that has no sales yet, from similar products' launches."),
    ("compare_products", compare_products, CompareArgs,
     "Forecast several catalog products over the same horizon and total each."),
    ("reorder_suggestion", reorder_suggestion, ReorderArgs,
     "Order quantity for one product: the service-level quantile of demand over lead time + review period minus stock on hand."),
    ("price_what_if", price_what_if, PriceArgs,
     "Re-forecast one product at a different price using its estimated own-price elasticity (or say there is no price signal)."),
    ("trend_report", trend_report, ReportArgs,
     "Trend report for a department, category or store: growth, risers and fallers, share shifts, forecast by category."),
]


def tools(app: Shelfcast) -> list[StructuredTool]:
    """The tools bound to `app`, for `ask` and for any langchain agent."""
    def bind(func: Any) -> Any:
        return lambda **kwargs: func(app, **kwargs)

    return [StructuredTool.from_function(func=bind(func), name=name, description=description, args_schema=schema)
            for name, func, schema, description in _SPECS]


def tool(app: Shelfcast, name: str) -> StructuredTool:
    return next(t for t in tools(app) if t.name == name)
