"""`shelfcast eval`: backtest every forecast path against honest baselines and write a report.

The command lives on the eval side (imports flow eval -> agent -> finetune) and
joins the `shelfcast` app through the `shelfcast.commands` entry point declared
in pyproject.toml (see agent.cli.add_registered_commands).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

# Made before importing agent.cli: that import runs agent.cli's package, which loads this module's `app` through
# the entry point. Imported first (`from eval.cli import app`), this module is then half-initialised, and the
# entry point must already find the (empty) app; the `eval` command is added to the same object below.
app = typer.Typer()

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled, load_with_status  # noqa: E402
from agent.data import BuiltinDataMissing, DataError  # noqa: E402
from agent.models import ModelNotAvailable  # noqa: E402

BUILTIN = "completejourney"


def eval_command(
    dataset: Annotated[str, typer.Option("--dataset", help=f"Built-in dataset ({BUILTIN}); ignored with --sales.")] = BUILTIN,
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
    task: Annotated[str, typer.Option("--task", help="existing (rolling-origin backtest), new (launches) or both.")] = "both",
    models: Annotated[list[str] | None, typer.Option(
        "--models", "-m", help="Models, comma-separated or repeated: naive, seasonal-naive, window-average, auto-ets, "
        "croston-sba, tsb, gbm, category-mean, knn, floor, llm-zero-shot, llm-few-shot, regression, auto, "
        "llm-lora-zero-shot, llm-lora-few-shot (the tuned LLM), combination and routed (held-out rows from the chain paths "
        "in the run); groups: baselines, chain, llm, lora, all.")] = None,
    max_series: Annotated[int, typer.Option("--max-series", min=0, help="Products per task (stratified by volume; 0 = all).")] = 500,
    horizon: Annotated[int, typer.Option("--horizon", "-h", min=1, max=52, help="Periods per window.")] = 4,
    windows: Annotated[int, typer.Option("--windows", min=1, help="Rolling-origin windows (step = horizon).")] = 3,
    min_history: Annotated[int | None, typer.Option("--min-history", min=1, help="Existing products: periods of history before the first window (default max(26, 4h+2), lowered to fit short data; the shortfall is reported).")] = None,
    launch_after: Annotated[str | None, typer.Option("--launch-after", help="New products: first sale on or after this date (default: a third into the data).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="LLM for chain models: auto, http, embedded or none.")] = "auto",
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="An OpenAI-compatible (vLLM) server URL; implies http.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Sampling and bootstrap seed.")] = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=100, help="Paired bootstrap draws.")] = 2000,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default eval/results/<dataset>).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute models whose forecasts are cached in --out.")] = False,
) -> None:
    """Backtest models on existing products (rolling origin) and new products (from launch); write the leaderboard,
    charts and an HTML report. Finished models are cached in --out and skipped on a rerun."""
    from agent.pipeline import load_backend
    from eval.harness import EvalConfig, Harness, TaskError, write_report
    from eval.harness.baselines import LORA_MODELS
    from eval.harness.runner import LLM_MODELS, load_regressor_or_none

    if sales is None and dataset != BUILTIN:
        raise ValueError(f"unknown dataset {dataset!r}: the built-in one is {BUILTIN!r}; pass --sales/--catalog for your own")
    config = EvalConfig(task=task, models=models or ["baselines"], horizon=horizon, n_windows=windows,
                        max_series=max_series or None, seed=seed, launch_after=launch_after, n_boot=bootstrap,
                        min_history=min_history)
    started = time.perf_counter()
    data = load_with_status(sales, catalog, store)
    llm, note = None, "no chain model needs an LLM"
    if any(m in LLM_MODELS for m in config.models):
        with err_console.status("Loading the LLM backend..."):
            llm, note = load_backend("http" if llm_url else backend, llm_url)
    lora = None
    if any(m in LORA_MODELS for m in config.models):
        with err_console.status("Loading the LoRA-tuned LLM..."):
            lora, lora_note = load_backend("http" if llm_url else backend, llm_url, model="lora")
        note = lora_note if llm is None else f"{note}; tuned: {lora_note}"
    regressor = None
    if any(m in ("regression", "auto") for m in config.models):
        regressor, why = load_regressor_or_none(data)
        console.print(f"[dim]regression: {why}[/]")
        if regressor is None:
            console.print(f"[yellow]no regression model[/]{': ' + why if why else ''}; the chain records it and falls through")
    folder = out or Path("eval/results") / data.name
    console.print(f"[dim]dataset {data.name}; models {', '.join(config.models)}; backend: {note}; out {folder}[/]")
    try:
        harness = Harness(data, folder, backend=llm, backend_note=note, regressor=regressor, force=force, console=console,
                          lora_backend=lora)
        result = harness.run(config)
    except TaskError as exc:
        raise ValueError(str(exc)) from exc
    titles = dict(zip(harness.catalog["unique_id"], harness.catalog["title"], strict=True))
    args = sys.argv[1:] if sys.argv[1:2] == ["eval"] else ["eval", *sys.argv[1:]]  # also when run as a sub-app
    command = "shelfcast " + " ".join(shlex.quote(a) for a in args)
    files = write_report(result, folder, panel=harness.panel, command=command, titles=titles)
    _summary(files["leaderboard.csv"])
    if result.routing is not None:
        from agent.forecast.routing import routing_dir

        installed = result.routing.save(routing_dir() / f"{result.routing.fingerprint}.json")
        console.print(f"routing table {result.routing.table_id} ({len(result.routing.rules)} rules): `auto` on these "
                      f"data now routes by it ({installed})")
    console.print(f"done in {time.perf_counter() - started:.0f}s; wrote " + ", ".join(str(p) for p in files.values()))


def _summary(path: Path) -> None:
    import pandas as pd

    board = pd.read_csv(path)
    for task_name, rows in board.groupby("task", sort=False):
        table = Table(title=f"{task_name} products (sorted by WAPE)")
        cols = ["model", "wape", "rel_wape", "mase", "wql", "coverage", "coverage_cal", "win", "d_wape_vs_best", "fallback_rate", "wall_s"]
        cols = [c for c in cols if c in rows and rows[c].notna().any()]
        for col in cols:
            table.add_column(col, justify="left" if col == "model" else "right")
        for row in rows.itertuples(index=False):
            table.add_row(*[_fmt(getattr(row, c)) for c in cols])
        console.print(table)


def _fmt(value) -> str:
    if isinstance(value, str):
        return value
    try:
        import math

        return "" if math.isnan(value) else f"{value:.3f}"
    except TypeError:
        return str(value)


app.command("eval")(handled(DataError, BuiltinDataMissing, ModelNotAvailable, KeyError, ValueError, RuntimeError,
                           FileNotFoundError)(eval_command))
