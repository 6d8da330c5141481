"""Loading a user's own sales and catalog files (CSV or Parquet)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from agent.data.contract import DataError, check_known_ids, read_table, validate_catalog, validate_sales, zero_fill
from agent.data.dataset import Dataset, Fix


def load_files(sales_path: Path | str, catalog_path: Path | str | None = None) -> Dataset:
    """Validate a sales file (and its catalog) into a Dataset.

    Without a catalog, each product's id doubles as its title, so retrieval still
    works (poorly) and the user is told.
    """
    sales_path = Path(sales_path)
    sales, freq, fixes = validate_sales(read_table(sales_path), str(sales_path))
    if catalog_path is None:
        ids = sales["unique_id"].unique()
        catalog = validate_catalog(pd.DataFrame({"unique_id": ids, "title": ids}), "<no catalog>")
        fixes.append(Fix(source=str(sales_path), action="no catalog given; product ids used as titles", count=len(ids)))
    else:
        catalog_path = Path(catalog_path)
        catalog = validate_catalog(read_table(catalog_path), str(catalog_path))
        check_known_ids(sales, catalog, str(sales_path))
    sales, fix = zero_fill(sales, freq, str(sales_path))
    if fix:
        fixes.append(fix)
    first_sale = sales[sales["y"] > 0].groupby("unique_id")["ds"].min()
    if "launch_date" not in catalog.columns:
        catalog["launch_date"] = catalog["unique_id"].map(first_sale)
    no_sales = sales.groupby("unique_id")["y"].sum().eq(0)
    if no_sales.any():
        fixes.append(Fix(source=str(sales_path), action="products whose rows are all zero (kept)", count=int(no_sales.sum())))
    if sales.empty:
        raise DataError(str(sales_path), "no sales rows after validation")
    return Dataset(name=sales_path.stem, sales=sales, catalog=catalog, freq=freq, fixes=fixes)
