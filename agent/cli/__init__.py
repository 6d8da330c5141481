"""The `shelfcast` command line: one typer app with a sub-app per concern."""

from __future__ import annotations

import typer

from agent.cli import data
from agent.config import ensure_offline

app = typer.Typer(help="Shelfcast: offline forecasting agent for retail product sales.", no_args_is_help=True)
app.add_typer(data.app, name="data")


def main() -> None:
    ensure_offline()
    app()
