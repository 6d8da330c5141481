"""Pieces every CLI command shares: dataset options, clean errors, the consoles.

Output discipline: stdout carries the result only (a table, or with --json a
JSON document and nothing else, so `... --json | jq` works); status, spinners
and progress go to stderr. Both consoles are `SafeConsole`s: whatever text a
command prints, the segments rich renders are passed through
`agent.safe_text.clean`, so a title holding ESC sequences or bidi overrides
cannot drive the terminal, and text that is not valid rich markup (a `[/]` in a
title) is shown literally instead of raising.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.errors import MarkupError
from rich.segment import Segment
from rich.text import Text

from agent.data import Dataset, load_dataset
from agent.safe_text import clean, for_markup, json_text


class SafeConsole(Console):
    """A rich Console that never emits control characters it did not create itself.

    Rich renders styles from Segment.style, never from the text, so cleaning the
    text of every non-control segment removes injected escapes while colours stay.
    Emoji codes are off: ':warning:' in a product title is text, not an icon.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(emoji=False, **kwargs)

    def render(self, renderable, options=None):
        for segment in super().render(renderable, options):
            yield segment if segment.control else Segment(clean(segment.text), segment.style, None)

    def render_str(self, text: str, **kwargs) -> Text:
        try:
            return super().render_str(text, **kwargs)
        except MarkupError:
            # Call sites escape user text (for_markup); this is the net under one that did not.
            return super().render_str(text, **{**kwargs, "markup": False})


console = SafeConsole()
err_console = SafeConsole(stderr=True)

SalesOpt = Annotated[Path | None, typer.Option("--sales", help="Sales file (CSV/Parquet: unique_id, ds, y). Default: built-in data.")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Catalog file (CSV/Parquet: unique_id, title, ...).")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Built-in data only: one store's sales.")]


def print_json(result: BaseModel) -> None:
    """The one way a command prints its --json result: plain JSON on stdout, nothing else on it."""
    typer.echo(json_text(result.model_dump(mode="json")))


def load_with_status(sales: Path | None, catalog: Path | None, store: str | None) -> Dataset:
    with err_console.status("Loading sales and catalog..."):
        return load_dataset(str(sales) if sales else None, str(catalog) if catalog else None, store)


def handled(*kinds: type[Exception]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Turn expected failures (bad input, missing package) into one red line and exit code 2."""

    def wrap(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def inner(*args, **kwargs) -> None:
            try:
                func(*args, **kwargs)
            except kinds as exc:
                err_console.print(f"[bold red]error:[/] {for_markup(exc)}", soft_wrap=True)
                raise typer.Exit(code=2) from exc

        return inner

    return wrap
