"""Pieces every CLI command shares: dataset options, clean errors, the console."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agent.data import Dataset, load_dataset

console = Console()
err_console = Console(stderr=True)

SalesOpt = Annotated[Path | None, typer.Option("--sales", help="Sales file (CSV/Parquet: unique_id, ds, y). Default: built-in data.")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Catalog file (CSV/Parquet: unique_id, title, ...).")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Built-in data only: one store's sales.")]


def load_with_status(sales: Path | None, catalog: Path | None, store: str | None) -> Dataset:
    with console.status("Loading sales and catalog..."):
        return load_dataset(str(sales) if sales else None, str(catalog) if catalog else None, store)


def handled(*kinds: type[Exception]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Turn expected failures (bad input, missing package) into one red line and exit code 2."""

    def wrap(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def inner(*args, **kwargs) -> None:
            try:
                func(*args, **kwargs)
            except kinds as exc:
                err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
                raise typer.Exit(code=2) from exc

        return inner

    return wrap
