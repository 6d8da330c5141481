"""`shelfcast batch`: every product of a catalog forecast on Ray Data into one Parquet dataset (agent.batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.batch.run import BatchError, BatchRequest, run_batch
from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, handled
from agent.cli.forecast import ERRORS, HorizonOpt

app = typer.Typer()


@app.command("batch")
@handled(*ERRORS, BatchError)
def batch_command(
    out: Annotated[Path, typer.Option("--out", help="Output folder; run again with the same folder to resume.")],
    horizon: HorizonOpt = 4,
    mode: Annotated[str, typer.Option("--mode", help="auto, few-shot, zero-shot, regression or baseline.")] = "auto",
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
    llm_url: Annotated[list[str] | None, typer.Option(
        "--llm-url", help="OpenAI-compatible (vLLM) server; repeat for several. None: LLM paths skipped.")] = None,
    llm_model: Annotated[str | None, typer.Option(
        "--llm-model", help="Served model name (default: the server's first).")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="A running Ray cluster, e.g. auto. Default: a local Ray for this run.")] = None,
    num_cpus: Annotated[int, typer.Option("--num-cpus", min=1, help="CPUs of the local Ray.")] = 2,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Worker actors (default: one per CPU, less one for Ray's own stages).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, help="Products per block (default 16 with an LLM, else 2000).")] = None,
    max_in_flight: Annotated[int, typer.Option(
        "--max-in-flight", min=1, help="Concurrent LLM requests per worker (each asks for 20 samples); "
                                       "4 suits a CPU vLLM, use 64+ for a GPU.")] = 4,
    timeout: Annotated[float, typer.Option(
        "--llm-timeout", min=0.1, help="Seconds before an LLM request falls back.")] = 60.0,
    sample: Annotated[int | None, typer.Option(
        "--sample", min=1, help="A reproducible random sample of N products.")] = None,
) -> None:
    """Forecast every product (or --sample N) on Ray; progress, resume after a kill, output checked on read-back."""
    request = BatchRequest(horizon=horizon, mode=mode, out=out,  # type: ignore[arg-type]
                           sales=str(sales) if sales else None, catalog=str(catalog) if catalog else None,
                           store=store, sample=sample,
                           llm_urls=llm_url or [], llm_model=llm_model, ray_address=ray_address, num_cpus=num_cpus,
                           workers=workers, batch_size=batch_size, max_in_flight=max_in_flight, timeout_s=timeout)
    summary = run_batch(request, report=lambda line: console.print(f"[dim]batch:[/] {line}", soft_wrap=True))
    console.print(f"{summary.products:,} products x {horizon} periods in {out / 'forecasts'} "
                  f"({summary.done_now:,} this run at {summary.products_per_s:,.2f} products/s; "
                  f"{summary.done_before:,} from earlier runs)")
    console.print("answered by: " + ", ".join(f"{path} {n:,}" for path, n in summary.paths.items())
                  + f"; fallback share {summary.fallback_share:.1%}")
    for reason, n in summary.top_reasons.items():
        console.print(f"  {n:,} x {reason}", soft_wrap=True)
