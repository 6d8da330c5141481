"""`shelfcast serve`: the HTTP API on one loaded dataset, index and LLM backend (uvicorn, one process)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, handled
from agent.cli.forecast import ERRORS, BackendOpt, _load
from agent.safe_text import for_markup


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
    from agent.api.security import LOOPBACK_NAMES, protocol_for

    settings = ApiSettings()  # read before loading anything, so a bad variable fails in a second
    pipeline = _load(sales, catalog, store, backend)
    url = f"http://{host}:{port}"
    console.print(f"Shelfcast API on [bold]{for_markup(url)}[/] (docs: {for_markup(url)}/docs)")
    if settings.auth_required:
        console.print("bearer token required on POST endpoints ($SHELFCAST_API_TOKEN is set)")
    else:
        console.print("[yellow]no token required[/]: set SHELFCAST_API_TOKEN to require one"
                      + ("" if host in LOOPBACK_NAMES else f" [bold red](bound to {for_markup(host)}, reachable from other machines)[/]"))
    # protocol_for: JSON for the HTTP parser's own 400s, and a deadline for request headers.
    uvicorn.run(create_app(pipeline, settings, bound_host=host), host=host, port=port, log_level=log_level,
                http=protocol_for(settings))


app = typer.Typer()
# A bad $SHELFCAST_API_* value is a pydantic ValidationError, which is a ValueError: one of ERRORS.
app.command("serve")(handled(*ERRORS)(serve_command))

