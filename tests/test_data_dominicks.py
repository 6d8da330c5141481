"""The second real dataset: Dominick's orange juice from Debian's r-cran-bayesm, in the data contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agent.data import load_files
from agent.data.dominicks import BRANDS, FREQ, NAME, fetch_package, load_dominicks, write_files

pytestmark = pytest.mark.slow  # unpacks a Debian package and reads 106k rows (~20 s)


@pytest.fixture(scope="module")
def oj():
    fetch_package()  # apt-get download + unpack on first use, cached in the test home after
    return load_dominicks()


def test_maps_to_the_data_contract_with_every_repair_reported(oj) -> None:
    sales, catalog = oj.sales, oj.catalog
    assert oj.name == NAME and oj.freq == FREQ and oj.season_length == 52
    assert sales["unique_id"].nunique() == 913 == len(catalog)  # 83 stores x 11 brands, less 0 missing pairs
    assert set(sales.columns) >= {"unique_id", "ds", "y", "price", "promo"}
    assert (sales["ds"].dt.dayofweek == 3).all()  # Dominick's weeks start on Thursday
    assert sales["ds"].min() == pd.Timestamp("1990-06-14") and sales["ds"].max() == pd.Timestamp("1992-10-01")
    assert not sales.duplicated(["unique_id", "ds"]).any() and (sales["y"] >= 0).all()
    assert np.array_equal(sales["y"], sales["y"].round())  # units, not log units
    # Each series is weekly without holes; every filled row is reported.
    per_series = sales.groupby("unique_id")["ds"].agg(["min", "max", "count"])
    assert ((per_series["max"] - per_series["min"]).dt.days // 7 + 1 == per_series["count"]).all()
    actions = {fix.action: fix.count for fix in oj.fixes}
    assert any("interpolated missing store-weeks" in a and n == 3619 for a, n in actions.items())
    one = catalog.set_index("unique_id").loc["2-1"]
    assert one["title"] == "Tropicana Premium Orange Juice 64 OZ (store 2)" and "ORANGE JUICE" in one["text"]
    assert len({title.split(" (store")[0] for title in catalog["title"]}) == len(BRANDS)
    price = sales.loc[sales["unique_id"] == "2-1", "price"]
    assert price.between(1.0, 5.0).all()  # dollars per 64 oz carton, from bayesm's price per ounce


def test_written_files_load_back_as_the_same_data(oj, tmp_path) -> None:
    sales_path, catalog_path = write_files(tmp_path, oj)
    again = load_files(sales_path, catalog_path)
    assert again.name == NAME and again.freq == FREQ
    assert again.fingerprint() == oj.fingerprint()  # what an artifact records to know it was trained here
