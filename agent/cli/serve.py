"""`shelfcast serve`: the HTTP API on one loaded dataset, index and LLM backend (uvicorn, one process)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, handled
from agent.cli.forecast import ERRORS, BackendOpt, _load

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to bind. Loopback by default; 0.0.0.0 exposes it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    backend: BackendOpt = "auto",
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level (info logs every request).")] = "info",
) -> None:
    """Serve /forecast, /new-product, /ask, /report and /health; limits and token come from $SHELFCAST_API_*."""
    import uvicorn

    from agent.api import ApiSettings, create_app

    settings = ApiSettings()  # read before loading anything, so a bad variable fails in a second
    pipeline = _load(sales, catalog, store, backend)
    url = f"http://{host}:{port}"
    console.print(f"Shelfcast API on [bold]{url}[/] (docs: {url}/docs)")
    if settings.auth_required:
        console.print("bearer token required on POST endpoints ($SHELFCAST_API_TOKEN is set)")
    else:
        console.print("[yellow]no token required[/]: set SHELFCAST_API_TOKEN to require one"
                      + ("" if host in LOOPBACK else f" [bold red](bound to {host}, reachable from other machines)[/]"))
    uvicorn.run(create_app(pipeline, settings), host=host, port=port, log_level=log_level)


app = typer.Typer()
# A bad $SHELFCAST_API_* value is a pydantic ValidationError, which is a ValueError: one of ERRORS.
app.command("serve")(handled(*ERRORS)(serve_command))

