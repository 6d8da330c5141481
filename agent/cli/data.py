"""`shelfcast data ...`: look at the data before forecasting it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, handled, load_with_status, print_json
from agent.data import BuiltinDataMissing, DataError
from agent.data.summary import summarize
from agent.safe_text import for_markup

app = typer.Typer(help="Inspect the sales data.", no_args_is_help=True)


@app.command("summary")
@handled(DataError, BuiltinDataMissing, KeyError)
def summary_command(
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Products, periods, date range, share of zero periods, top categories, newest launches."""
    summary = summarize(load_with_status(sales, catalog, store))
    if as_json:
        print_json(summary)
        return
    console.print(f"[bold]{for_markup(summary.name)}[/]  {summary.products:,} products x {summary.periods} periods ({summary.freq}), "
                  f"{summary.start} .. {summary.end}")
    console.print(f"{summary.rows:,} rows, {summary.total_units:,.0f} units, {summary.zero_share:.1%} of product-periods sold nothing")
    for fix in summary.fixes:
        console.print(f"  [yellow]fixed[/] {for_markup(fix)}")
    table = Table(title="Top categories by units")
    for column in ("category", "products", "units", "share"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for row in summary.top_categories:
        table.add_row(for_markup(row.category), f"{row.products:,}", f"{row.units:,.0f}", f"{row.share:.1%}")
    console.print(table)
    launches = Table(title=f"Newest launches (first sold since {summary.newest_since}), by units")
    for column in ("unique_id", "title", "launch", "units"):
        launches.add_column(column)
    for launch in summary.newest_launches:
        launches.add_row(for_markup(launch.unique_id), for_markup(launch.title), launch.launch_date, f"{launch.units:,.0f}")
    console.print(launches)
