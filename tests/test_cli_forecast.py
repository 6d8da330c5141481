"""`shelfcast forecast` / `new-product` end to end on a user's own small files (real MiniLM, no LLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("shop")
    dates = pd.date_range("2024-01-01", periods=20, freq="MS")
    # muffins launch in month 6: the only launch a new product can learn from
    rows = [{"unique_id": uid, "ds": d.date(), "y": (i % 5) * scale + scale}
            for uid, scale, start in (("bagel", 10, 0), ("muffin", 4, 6), ("milk", 30, 0))
            for i, d in enumerate(dates) if i >= start]
    pd.DataFrame(rows).to_csv(folder / "sales.csv", index=False)
    pd.DataFrame({"unique_id": ["bagel", "muffin", "milk"], "title": ["Plain bagels 6 ct", "Blueberry muffins 4 ct", "Whole milk 1 gal"],
                  "category": ["BAKERY", "BAKERY", "DAIRY"]}).to_csv(folder / "catalog.csv", index=False)
    return folder / "sales.csv", folder / "catalog.csv"


def test_forecast_json_and_plot(files, tmp_path) -> None:
    sales, catalog = files
    plot = tmp_path / "fan.png"
    result = runner.invoke(app, ["forecast", "bagel", "-h", "3", "--backend", "none", "--json", "--plot", str(plot),
                                 "--sales", str(sales), "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["path"] == "baseline" and len(payload["point"]) == 3 and payload["freq"] == "MS"
    assert payload["dates"][0] == "2025-09-01"
    # Two products of monthly data are too few for the global gbm: it declines with its reason, the floor answers.
    assert [a["path"] for a in payload["attempts"]] == ["llm-few-shot", "llm-zero-shot", "regression", "gbm",
                                                        "baseline"]
    assert "too few to fit" in payload["attempts"][3]["reason"]
    assert plot.stat().st_size > 10_000


def test_forecast_table_names_the_path(files) -> None:
    sales, catalog = files
    result = runner.invoke(app, ["forecast", "milk", "--mode", "baseline", "--backend", "none", "--sales", str(sales), "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    assert "answered by baseline" in result.output and "window average" in result.output


def test_new_product_uses_analogs(files) -> None:
    sales, catalog = files
    result = runner.invoke(app, ["new-product", "--title", "cinnamon bagels", "--category", "BAKERY", "-h", "4",
                                 "--backend", "none", "--json", "--sales", str(sales), "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["unique_id"] is None and payload["analogs"] == ["muffin"] and sum(payload["point"]) > 0


@pytest.mark.parametrize(("args", "message"), [
    (["forecast", "nope"], "unknown product id 'nope'"),
    (["forecast", "bagel", "--mode", "magic"], "unknown mode 'magic'"),
    (["forecast", "bagel", "--backend", "cloud"], "unknown backend 'cloud'"),
])
def test_bad_arguments_are_named(files, args, message) -> None:
    sales, catalog = files
    result = runner.invoke(app, [*args, "--sales", str(sales), "--catalog", str(catalog)] + (["--backend", "none"] if "--backend" not in args else []))
    assert result.exit_code == 2 and message in result.output, result.output
