"""The red-team corpus, CLI door: hostile and careless files and arguments through `shelfcast`.

Each case in `cli_cases.json` states its outcome: the exit code, and either the
error that must name the problem (file, row, column) or the text that shows how
it was handled. Every case, whatever it expects, must also leave no traceback,
no raw control/escape/bidi character on stdout or stderr, and with --json a
stdout that is JSON and nothing else. Files are tiny (3 products x 12 weeks);
commands run in-process through typer's CliRunner with --backend none.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.safe_text import has_controls

CASES = json.loads((Path(__file__).with_name("cli_cases.json")).read_text())
WEEKS = ["2017-01-02", "2017-01-09", "2017-01-16", "2017-01-23", "2017-01-30", "2017-02-06", "2017-02-13",
         "2017-02-20", "2017-02-27", "2017-03-06", "2017-03-13", "2017-03-20"]
# a and b sell from the first week; c (oat milk) launches in week 5, so new products have a launch to learn from.
CATALOG = [("a", "plain bagels 6 ct", "BAKERY"), ("b", "dinner rolls 12 ct", "BAKERY"), ("c", "oat milk 64 oz", "DAIRY")]


def sales_text(case: dict) -> str:
    ds = case.get("ds", WEEKS)
    y = case.get("y", [str(i + 1) for i in range(12)])
    rows = [f"a,{ds[i]},{y[i]}\nb,{ds[i]},2\n" + (f"c,{ds[i]},3\n" if i >= 4 else "") for i in range(12)]
    return "unique_id,ds,y\n" + "".join(rows)


def catalog_text(case: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["unique_id", "title", "category"])
    for uid, title, category in CATALOG:
        writer.writerow([uid, case["title"] if uid == "a" and "title" in case else title, category])
    return out.getvalue()


def write(path: Path, text: str, case: dict) -> None:
    if case.get("semicolons"):
        text = text.replace(",", ";")
    if case.get("crlf"):
        text = text.replace("\n", "\r\n")
    if case.get("bom"):
        text = "\ufeff" + text
    path.write_bytes(text.encode(case.get("encoding", "utf-8")))


def file_options(case: dict, folder: Path) -> list[str]:
    if case.get("no_files"):
        return []
    catalog = folder / "catalog.csv"
    write(catalog, case.get("catalog", catalog_text(case)), case if "title" in case else {})
    if case.get("no_sales_option"):
        return ["--catalog", str(catalog)]
    if case.get("sales_dir"):
        sales = folder / "sales.parquet"
        sales.mkdir()
    else:
        sales = folder / case.get("sales_path", "sales.csv")
        if not sales.name.startswith("nope"):
            write(sales, case.get("sales", sales_text(case)), case)
    return ["--sales", str(sales), "--catalog", str(catalog)]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch) -> None:
    # Indexes of the tiny catalogs go to a throwaway home; wide lines so messages are not wrapped.
    monkeypatch.setenv("SHELFCAST_HOME", str(tmp_path_factory.getbasetemp() / "home"))
    monkeypatch.setenv("COLUMNS", "250")


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80 and len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_cli_case(case: dict, tmp_path: Path) -> None:
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in case["args"]]  # outputs (charts, reports) go here
    result = CliRunner().invoke(app, [*args, *file_options(case, tmp_path)])
    stdout, stderr = result.stdout, result.stderr
    shown = f"exit {result.exit_code}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in stdout + stderr, shown
    assert result.exit_code == case["exit"], shown
    assert not has_controls(stdout) and not has_controls(stderr), ascii(stdout + stderr)[-3000:]
    for text in case.get("err", []):
        assert text in stderr, (text, shown)
    for text in case.get("out", []):
        assert text in stdout, (text, shown)
    if case.get("json"):
        payload = json.loads(stdout)  # stdout is the JSON document and nothing else
        assert isinstance(payload, dict) and payload
