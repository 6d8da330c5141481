"""What a dataset holds, in numbers a planner checks first."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel

from agent.data.dataset import Dataset


class CategoryShare(BaseModel):
    category: str
    products: int
    units: float
    share: float


class Launch(BaseModel):
    unique_id: str
    title: str
    launch_date: str
    units: float


class DataSummary(BaseModel):
    name: str
    freq: str
    products: int
    periods: int
    start: str
    end: str
    rows: int
    zero_share: float
    total_units: float
    top_categories: list[CategoryShare]
    newest_since: str
    newest_launches: list[Launch]
    fixes: list[str]


def summarize(dataset: Dataset, top: int = 8) -> DataSummary:
    sales, catalog = dataset.sales, dataset.catalog
    units = sales.groupby("unique_id")["y"].sum()
    group_col = "category" if "category" in catalog.columns else "title"
    by_product = catalog.set_index("unique_id").assign(units=units).fillna({"units": 0.0})
    categories = (
        by_product.groupby(by_product[group_col].fillna("(none)"))
        .agg(products=("units", "size"), units=("units", "sum"))
        .sort_values("units", ascending=False)
    )
    total = float(units.sum())
    # "Newest" means first sold in the last quarter of the range; ranked by units so
    # one-off first sales in the final week do not crowd out real launches.
    periods = sorted(sales["ds"].unique())
    recent_start = periods[-max(1, len(periods) // 4)]
    launches = by_product[by_product["launch_date"] >= recent_start].sort_values("units", ascending=False).head(top)
    return DataSummary(
        name=dataset.name,
        freq=dataset.freq,
        products=int(sales["unique_id"].nunique()),
        periods=int(sales["ds"].nunique()),
        start=_day(sales["ds"].min()),
        end=_day(sales["ds"].max()),
        rows=len(sales),
        zero_share=float((sales["y"] == 0).mean()),
        total_units=total,
        top_categories=[
            CategoryShare(category=str(name), products=int(row.products), units=float(row.units), share=float(row.units / total) if total else 0.0)
            for name, row in categories.head(top).iterrows()
        ],
        newest_since=_day(recent_start),
        newest_launches=[
            Launch(unique_id=str(uid), title=str(row.title), launch_date=_day(row.launch_date), units=float(row.units))
            for uid, row in launches.iterrows()
        ],
        fixes=[str(fix) for fix in dataset.fixes],
    )


def _day(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).date().isoformat()
