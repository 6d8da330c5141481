"""`shelfcast ask "question"`: a plain-language question answered from the data, with a table and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agent.ask import Answer, ask
from agent.cli.common import CatalogOpt, SalesOpt, StoreOpt, console, err_console, handled, print_json
from agent.cli.forecast import ERRORS, BackendOpt, JsonOpt, _load
from agent.safe_text import for_markup

TABLE_ROWS = 24


def show(answer: Answer) -> None:
    colour = {"answered": "green", "ask_back": "yellow", "no_match": "red"}[answer.status]
    console.print(f"[bold {colour}]{for_markup(answer.text)}[/]", soft_wrap=True)
    if answer.candidates:
        table = Table(title="candidates")
        for column in ("you wrote", "unique_id", "title", "score", "units sold"):
            table.add_column(column)
        for text, found in answer.candidates.items():
            for c in found:
                table.add_row(for_markup(text), for_markup(c.unique_id), for_markup(c.title), f"{c.score:.3f}", f"{c.units:,.0f}")
        console.print(table)
    if answer.table:
        table = Table()
        for column in answer.table[0]:
            table.add_column(for_markup(column), justify="right" if isinstance(answer.table[0][column], float) else "left")
        for row in answer.table[:TABLE_ROWS]:
            table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else for_markup(v) for v in row.values()))
        console.print(table)
    for path in answer.charts:
        console.print(f"chart: {for_markup(path)}")
    if answer.report_html:
        console.print(f"report: {answer.report_html}")
    console.print(f"[dim]intent {answer.intent}, parsed by {answer.parsed_by}, text by {answer.written_by}"
                  f"{'' if answer.grounded else ' (UNGROUNDED)'}[/]")
    for note in answer.notes:
        console.print(f"[dim]- {for_markup(note)}[/]", soft_wrap=True)


def ask_command(
    question: Annotated[str, typer.Argument(help="e.g. 'how many bagels will sell in the next 4 weeks?'")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="When a product name is ambiguous, take the best match.")] = False,
    chart_dir: Annotated[Path | None, typer.Option("--chart-dir", help="Write fan charts (and reports) here.")] = Path("out"),
    backend: BackendOpt = "auto",
    sales: SalesOpt = None,
    catalog: CatalogOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    llm_sentence: Annotated[bool, typer.Option("--llm-sentence", help=(
        "Let the LLM rewrite the answer sentence (shown only if agent.prose accepts it; ~20 s more)."))] = False,
) -> None:
    """Ask a question in plain language: forecasts, new products, comparisons, reorders, price what-ifs, reports."""
    pipeline = _load(sales, catalog, store, backend)
    with err_console.status("Thinking..."):
        answer = ask(pipeline, question, yes=yes, chart_dir=chart_dir, narrate_with_llm=llm_sentence)
    if as_json:
        print_json(answer)
        return
    show(answer)


app = typer.Typer()
app.command("ask")(handled(*ERRORS)(ask_command))
