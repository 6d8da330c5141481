"""`shelfcast similar "organic oat milk 64 oz" -k 5`: the products retrieval would pick as analogs.

Showing each neighbour's recent weekly sales next to its similarity lets a planner
judge at a glance whether the analogs a forecast would lean on are sensible.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled, load_with_status
from agent.data import BuiltinDataMissing, DataError
from agent.models import ModelNotAvailable
from agent.retrieval import ProductIndex
from agent.safe_text import for_markup

RECENT_WEEKS = 8

app = typer.Typer(help="Find similar products.")


def recent_sales(sales: pd.DataFrame, ids: list[str], periods: int, before: pd.Timestamp | None) -> pd.DataFrame:
    """Units of `ids` (rows) over the data's last `periods` periods before `before` (columns), zeros filled."""
    dates = np.sort(sales["ds"].unique())
    if before is not None:
        dates = dates[dates < np.datetime64(before)]
    dates = dates[-periods:]
    rows = sales[sales["unique_id"].isin(ids) & sales["ds"].isin(dates)]
    wide = rows.pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum")
    return wide.reindex(index=ids, columns=pd.DatetimeIndex(dates)).fillna(0.0)


@app.command("similar")
@handled(DataError, BuiltinDataMissing, ModelNotAvailable, ValueError)
def similar(
    query: Annotated[str, typer.Argument(help="Product text to match, e.g. 'plain bagels 6 ct'.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Number of neighbours.")] = 5,
    category: Annotated[str | None, typer.Option("--category", help="Only this catalog category (case-insensitive).")] = None,
    before: Annotated[str | None, typer.Option("--before", help="Only products launched before this date; sales shown up to it.")] = None,
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
) -> None:
    """Nearest catalog products to QUERY by text embedding, with their last weeks of sales."""
    cutoff = pd.Timestamp(before) if before else None
    dataset = load_with_status(sales, catalog, store)
    # Not under a status spinner: a first build draws its own embedding progress bar.
    index = ProductIndex.load_or_build(dataset.catalog, name=dataset.name)
    with err_console.status("Searching..."):
        hits = index.search(query, k=k, launched_before=cutoff, category=category)
    if hits.empty:
        console.print("No product passes the filters.")
        return
    recent = recent_sales(dataset.sales, hits["unique_id"].tolist(), RECENT_WEEKS, cutoff)
    span = f"{recent.columns[0]:%Y-%m-%d} .. {recent.columns[-1]:%Y-%m-%d}" if len(recent.columns) else "none"
    table = Table(title=f"{len(hits)} products most similar to {for_markup(repr(query))}")
    table.add_column("#", justify="right")
    table.add_column("similarity", justify="right")
    table.add_column("unique_id")
    table.add_column("category")
    table.add_column("title")
    table.add_column(f"weekly units, oldest first ({span})")
    for rank, hit in enumerate(hits.itertuples(index=False), start=1):
        units = " ".join(f"{value:g}" for value in recent.loc[hit.unique_id])
        table.add_row(str(rank), f"{hit.similarity:.3f}", for_markup(hit.unique_id),
                      for_markup(getattr(hit, "category", "") or ""), for_markup(getattr(hit, "title", "") or ""), units)
    console.print(table)
