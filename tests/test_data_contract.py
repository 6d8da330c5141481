"""Every bad-input case of the data contract gets an error naming file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agent.data import DataError, load_dataset, load_files


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


CATALOG = "unique_id,title,category\nA,Plain bagels 6 ct,BAKERY\nB,Oat milk 64 oz,DAIRY\n"


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write(tmp_path, "catalog.csv", CATALOG)


def test_valid_weekly_files_load_and_zero_fill(tmp_path: Path, catalog: Path) -> None:
    sales = write(tmp_path, "sales.csv", "unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-15,5\nB,2024-01-08,2\nB,2024-01-15,1\n")
    data = load_files(sales, catalog)
    assert data.freq == "W-MON"
    history = data.history("A")
    assert history.tolist() == [3.0, 0.0, 5.0]  # the missing week became an explicit zero
    assert data.history("B").index.min() == pd.Timestamp("2024-01-08")  # nothing before the first sale
    assert any("zero-filled" in str(fix) and fix.count == 1 for fix in data.fixes)
    assert "text" in data.catalog.columns and data.catalog.set_index("unique_id").loc["A", "launch_date"] == pd.Timestamp("2024-01-01")


def test_monthly_and_daily_frequencies(tmp_path: Path, catalog: Path) -> None:
    monthly = write(tmp_path, "m.csv", "unique_id,ds,y\nA,2024-01-01,3\nA,2024-02-01,5\nA,2024-04-01,1\n")
    assert load_files(monthly, catalog).freq == "MS"
    february = write(tmp_path, "feb.csv", "unique_id,ds,y\nA,2025-02-01,3\nA,2025-03-01,5\n")  # 28 days: not 4 weeks
    assert load_files(february, catalog).freq == "MS"
    daily = write(tmp_path, "d.csv", "unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-02,5\nB,2024-01-01,1\nB,2024-01-08,2\n")
    assert load_files(daily, catalog).freq == "D"


@pytest.mark.parametrize(
    ("sales_text", "expected"),
    [
        ("unique_id,ds,qty\nA,2024-01-01,3\n", r"sales.csv, column 'y': missing required column"),
        ("unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-08,-2\n", r"sales.csv, row 2, column 'y': negative value -2"),
        ("unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-08,lots\n", r"sales.csv, row 2, column 'y': non-numeric or missing value 'lots'"),
        ("unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-08,\n", r"sales.csv, row 2, column 'y': non-numeric or missing value"),
        ("unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-01,4\n", r"sales.csv, row 2, column 'ds': duplicate \(unique_id, ds\) \('A', '2024-01-01'\)"),
        ("unique_id,ds,y\nA,2024-01-01,3\nA,not a date,4\n", r"sales.csv, row 2, column 'ds': unparseable date 'not a date'"),
        ("unique_id,ds,y\nA,2024-01-01,3\nZ,2024-01-08,4\n", r"sales.csv, row 2, column 'unique_id': 1 product id\(s\) not in the catalog: 'Z'"),
        ("unique_id,ds,y\n,2024-01-01,3\n", r"sales.csv, row 1, column 'unique_id': empty product id"),
        ("unique_id,ds,y\n", r"sales.csv: has a header but no rows"),
        ("unique_id,ds,y\nA,2024-01-01,1\nA,2024-01-02,1\n" + "".join(f"B,{d.date()},1\n" for d in pd.date_range("2024-01-01", periods=9, freq="W-MON")),
         r"sales.csv, column 'ds': mixed frequencies: D \(e.g. product 'A'\), W \(e.g. product 'B'\)"),
        ("unique_id,ds,y\nA,2024-01-01,1\nA,2024-01-08,1\nB,2024-01-02,1\nB,2024-01-09,1\n", r"sales.csv, row 3, column 'ds': weekly dates fall on different weekdays"),
        ("unique_id,ds,y\nA,2024-01-01,1\nA,2024-01-13,1\n", r"sales.csv, column 'ds': irregular spacing of 12 days in product 'A'"),
    ],
    ids=["missing-column", "negative", "non-numeric", "missing-y", "duplicate", "bad-date", "unknown-id", "empty-id",
         "no-rows", "mixed-freq", "mixed-weekday", "irregular"],
)
def test_bad_sales_are_named(tmp_path: Path, catalog: Path, sales_text: str, expected: str) -> None:
    sales = write(tmp_path, "sales.csv", sales_text)
    with pytest.raises(DataError, match=expected):
        load_files(sales, catalog)


def test_empty_and_missing_files(tmp_path: Path, catalog: Path) -> None:
    with pytest.raises(DataError, match=r"sales.csv: file is empty"):
        load_files(write(tmp_path, "sales.csv", ""), catalog)
    with pytest.raises(DataError, match=r"nope.csv: file not found"):
        load_files(tmp_path / "nope.csv", catalog)
    with pytest.raises(DataError, match=r"unsupported file type '.xlsx'"):
        load_files(write(tmp_path, "sales.xlsx", "x"), catalog)


@pytest.mark.parametrize(
    ("catalog_text", "expected"),
    [
        ("unique_id,name\nA,x\n", r"catalog.csv, column 'title': missing required column"),
        ("unique_id,title\nA,x\nA,y\n", r"catalog.csv, row 2, column 'unique_id': duplicate product id 'A'"),
        ("unique_id,title\nA,x\nB,\n", r"catalog.csv, row 2, column 'title': empty title"),
        ("unique_id,title,price\nA,x,1.5\nB,y,cheap\n", r"catalog.csv, row 2, column 'price': price must be a non-negative number, got 'cheap'"),
        ("unique_id,title,launch_date\nA,x,2024-01-01\nB,y,someday\n", r"catalog.csv, row 2, column 'launch_date': unparseable date"),
    ],
    ids=["missing-title", "duplicate-id", "empty-title", "bad-price", "bad-launch"],
)
def test_bad_catalogs_are_named(tmp_path: Path, catalog_text: str, expected: str) -> None:
    sales = write(tmp_path, "sales.csv", "unique_id,ds,y\nA,2024-01-01,3\n")
    with pytest.raises(DataError, match=expected):
        load_files(sales, write(tmp_path, "catalog.csv", catalog_text))


def test_parquet_input_and_no_catalog_is_reported(tmp_path: Path) -> None:
    frame = pd.DataFrame({"unique_id": ["7", "7"], "ds": pd.to_datetime(["2024-01-01", "2024-02-01"]), "y": [1.0, 2.0]})
    path = tmp_path / "sales.parquet"
    frame.to_parquet(path)
    data = load_files(path)
    assert data.freq == "MS" and data.catalog["title"].tolist() == ["7"]
    assert any("no catalog given" in str(fix) for fix in data.fixes)


def test_catalog_without_sales_is_rejected(tmp_path: Path, catalog: Path) -> None:
    with pytest.raises(DataError, match="a catalog was given without --sales"):
        load_dataset(catalog=str(catalog))
