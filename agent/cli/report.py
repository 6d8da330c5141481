"""`shelfcast report`: a trend report for a department, category or store, written to HTML or Markdown.

Names are matched as `ask` matches them (agent.ask.resolve.resolve_request): "produce", "Produce department",
"cereal" and "pastries" find PRODUCE, COLD CEREAL and PASTRY; a name that matches nothing lists the closest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.ask.resolve import resolve_request
from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled
from agent.cli.forecast import ERRORS, BackendOpt
from agent.llm.base import BackendError
from agent.pipeline import Shelfcast
from agent.report import ReportRequest, build_report
from agent.report.render import write_report
from agent.safe_text import for_markup


def report_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="report.html (self-contained) or report.md (charts in <stem>_files/).")],
    department: Annotated[str | None, typer.Option("--department", help="e.g. PASTRY, pastries.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="e.g. BREAD, cereal (matched loosely).")] = None,
    store: StoreOpt = None,
    horizon: Annotated[int, typer.Option("--horizon", "-h", min=1, max=52, help="Periods to forecast per category.")] = 8,
    backend: BackendOpt = "auto",
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Growth, risers and fallers, share shifts, new products' ramp-up and the forecast by category, with charts."""
    if out.suffix.lower() not in (".html", ".htm", ".md"):
        raise ValueError(f"--out {str(out)!r} must end in .html or .md")
    request = ReportRequest(department=department, category=category, store=store, horizon=horizon)
    with err_console.status("Loading data and the LLM backend..."):
        # The report needs no regression model; the product index loads from its cache.
        app = Shelfcast.load(str(sales) if sales else None, str(catalog) if catalog else None, backend=backend,  # type: ignore[arg-type]
                             regression=False)
    err_console.print(f"[dim]backend: {for_markup(app.backend_note)}[/]")
    request, notes = resolve_request(app, request)
    for note in notes:
        err_console.print(f"[dim]{for_markup(note)}[/]", soft_wrap=True)
    with err_console.status("Building the report..."):
        report = build_report(app, request, progress=True)
    path = write_report(report, out)
    narrative = report.narrative
    console.print(f"[dim]narrative: {narrative.source} ({for_markup(narrative.reason)})[/]", soft_wrap=True)
    console.print(for_markup(report.summary), soft_wrap=True)
    console.print(f"report: [bold]{for_markup(path)}[/] ({len(report.charts)} charts, built in {report.build_seconds:.1f}s)")


app = typer.Typer()
# ReportError and pydantic's ValidationError are ValueErrors, so ERRORS covers them.
app.command("report")(handled(*ERRORS, BackendError)(report_command))
