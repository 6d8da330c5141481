"""`shelfcast forecast` and `shelfcast new-product`: one product's next periods, and how they were made."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, get_args

import pandas as pd
import typer
from rich.table import Table

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled, print_json
from agent.data import BuiltinDataMissing, DataError
from agent.forecast.result import Forecast, Mode
from agent.models import ModelNotAvailable
from agent.pipeline import Shelfcast
from agent.plots import fan_chart
from agent.safe_text import clean, for_markup

HorizonOpt = Annotated[int, typer.Option("--horizon", "-h", min=1, max=52, help="Periods to forecast.")]
BackendOpt = Annotated[str, typer.Option("--backend", help=(
    "auto (vLLM if SHELFCAST_LLM_URL is healthy, except a local server on <= 2 CPUs, where embedded was measured "
    "faster; else embedded), http, embedded, none."))]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the Forecast as JSON.")]
ModelOpt = Annotated[str, typer.Option("--model", help="LLM weights: base, or lora (the newest adapter from "
                                      "`shelfcast finetune llm`; a server must serve it as 'lora').")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a fan chart PNG here.")]
ERRORS = (DataError, BuiltinDataMissing, ModelNotAvailable, KeyError, ValueError, FileNotFoundError)


def _load(sales: Path | None, catalog: Path | None, store: str | None, backend: str, model: str = "base") -> Shelfcast:
    with err_console.status("Loading data, product index and models..."):
        pipeline = Shelfcast.load(str(sales) if sales else None, str(catalog) if catalog else None, store,
                                  backend=backend, llm_model=model)  # type: ignore[arg-type]
    err_console.print(f"[dim]backend: {for_markup(pipeline.backend_note)}[/]")
    err_console.print(f"[dim]regression: {for_markup(pipeline.regressor_note)}[/]")
    return pipeline


def show(forecast: Forecast, history: list[float]) -> None:
    table = Table(title=f"{for_markup(forecast.title)} ({for_markup(forecast.unique_id or 'new product')}): "
                        f"next {forecast.horizon} periods")
    for column in ("period", "forecast", "10%", "90%"):
        table.add_column(column, justify="right")
    for i, day in enumerate(forecast.dates):
        table.add_row(str(day), f"{forecast.point[i]:,.1f}", f"{forecast.lower[i]:,.1f}",
                      f"{forecast.upper[i]:,.1f}")
    if history:
        console.print("recent history: " + ", ".join(f"{v:g}" for v in history))
    console.print(table)
    console.print(f"answered by [bold]{forecast.path}[/]" + (f" on {forecast.backend}" if forecast.backend else "")
                  + (f" ({for_markup(', '.join(forecast.model_ids))})" if forecast.model_ids else "")
                  + f" in {forecast.latency_s:.2f}s")
    for attempt in forecast.attempts:
        mark = "[green]answered[/]" if attempt.answered else "[yellow]gave way[/]"
        console.print(f"  {attempt.path}: {mark}" + (f" - {for_markup(attempt.reason)}" if attempt.reason else ""), soft_wrap=True)
    for label, note in (("route", forecast.route), ("interval", forecast.calibration)):
        if note:
            console.print(f"[dim]{label}: {for_markup(note)}[/]", soft_wrap=True)


def forecast_command(
    product_id: Annotated[str, typer.Argument(help="unique_id of a product in the data.")],
    horizon: HorizonOpt = 4,
    mode: Annotated[str, typer.Option("--mode", help="auto, few-shot, zero-shot, regression, gbm (global gradient boosting) or baseline.")] = "auto",
    backend: BackendOpt = "auto",
    model: ModelOpt = "base",
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Forecast one product, with the path that answered and why earlier paths gave way."""
    if mode not in get_args(Mode):
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(get_args(Mode))}")
    pipeline = _load(sales, catalog, store, backend, model)
    forecast = pipeline.forecast(product_id, horizon, mode)  # type: ignore[arg-type]
    history = pipeline.dataset.history(product_id)
    if plot:
        fan_chart(forecast, history, plot)
    if as_json:
        print_json(forecast)
        return
    show(forecast, history.iloc[-8:].tolist())
    if plot:
        console.print(f"chart: {for_markup(plot)}")


def new_product_command(
    title: Annotated[str, typer.Option("--title", help="Product title, e.g. 'organic oat milk 64 oz'.")],
    horizon: HorizonOpt = 8,
    department: Annotated[str | None, typer.Option("--department", help="Department words added to the product text.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Category words added to the product text.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text about the product.")] = None,
    price: Annotated[float | None, typer.Option("--price", min=0.0, help="Planned shelf price.")] = None,
    backend: BackendOpt = "auto",
    model: ModelOpt = "base",
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Predict the first periods of a product with no sales history, from similar products' launches."""
    if not clean(title).strip():
        raise ValueError("--title is empty (or only invisible characters): give the product's name")
    if price is not None and not math.isfinite(price):
        raise ValueError(f"--price must be a finite number, got {price}")
    pipeline = _load(sales, catalog, None, backend, model)
    forecast = pipeline.forecast_new(title, horizon, department=department, category=category,
                                     description=description, price=price)
    if plot:
        fan_chart(forecast, pd.Series(dtype=float), plot)
    if as_json:
        print_json(forecast)
        return
    show(forecast, [])
    if forecast.analogs:
        console.print("similar products used: " + for_markup(", ".join(forecast.analogs)))


app = typer.Typer()
app.command("forecast")(handled(*ERRORS)(forecast_command))
app.command("new-product")(handled(*ERRORS)(new_product_command))
