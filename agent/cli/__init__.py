"""The `shelfcast` command line: one typer app, a module per command group."""

from __future__ import annotations

import typer

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from agent.cli import ask, batch, data, finetune, forecast, llm, models, report, serve, similar
from agent.cli import finetune_llm  # noqa: F401  (adds `finetune llm` to the finetune group)
from agent.config import ensure_offline

COMMANDS_GROUP = "shelfcast.commands"  # entry points of packages above agent: `shelfcast eval` (eval/cli.py)

# No locals in tracebacks: they would print file contents and tokens to the terminal.
app = typer.Typer(help="Shelfcast: offline forecasting agent for retail product sales.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(llm.app, name="llm")
app.add_typer(finetune.app, name="finetune")
# Top-level commands (`shelfcast forecast`, `shelfcast similar`): merged without a group name.
app.add_typer(forecast.app)
app.add_typer(similar.app)
app.add_typer(serve.app)
app.add_typer(ask.app)
app.add_typer(report.app)
app.add_typer(batch.app)


def add_registered_commands(target: typer.Typer, found: Iterable[EntryPoint] | None = None) -> None:
    """Add the commands that packages above agent register, so agent never imports them."""
    for entry in entry_points(group=COMMANDS_GROUP) if found is None else found:
        target.add_typer(entry.load())


add_registered_commands(app)


def main() -> None:
    ensure_offline()
    app()
