"""A real slice of the built-in dataset, small enough to embed in tests.

The PASTRY department (about 1,700 products: bagels, donuts, rolls, cakes) is
real Complete Journey data with real MiniLM embeddings, at a fraction of the
cost of the full 68k-product catalog (which the demo and the benchmark use).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pandas as pd

from agent.data import Dataset, load_builtin
from agent.retrieval.index import ProductIndex

DEPARTMENT = "PASTRY"
BAGELS_4OZ = "1095275"  # 'Rolls: Bagels 4 OZ': sells every week (1,531 units in 2017)


def builtin_slice(name: str, keep: Callable[[pd.DataFrame], pd.Series]) -> Dataset:
    """The built-in products whose catalog rows `keep` selects, with their sales, as a dataset of its own."""
    full = load_builtin()
    catalog = full.catalog[keep(full.catalog)].reset_index(drop=True)
    sales = full.sales[full.sales["unique_id"].isin(catalog["unique_id"])].reset_index(drop=True)
    return Dataset(name=name, sales=sales, catalog=catalog, freq=full.freq, fixes=full.fixes)


def slice_index(data: Dataset) -> ProductIndex:
    return ProductIndex.load_or_build(data.catalog, name=data.name, sales=data.sales, progress=False)


@lru_cache(maxsize=1)
def pastry_slice() -> Dataset:
    return builtin_slice("completejourney-pastry", lambda catalog: catalog["department"] == DEPARTMENT)


@lru_cache(maxsize=1)
def pastry_index() -> ProductIndex:
    return slice_index(pastry_slice())


# The categories the issue-14 questions name, with the near misses that used to be picked instead
# (ice cream toppings, lemon juice, club soda mixers), and the PRODUCE department for a report.
GROCERY_CATEGORIES = ("ICE CREAM/MILK/SHERBTS", "SYRUPS/TOPPINGS", "FRZN NOVELTIES/WTR ICE", "SOFT DRINKS",
                      "CANNED JUICES", "REFRGRATD JUICES/DRNKS", "CHEESE", "BAG SNACKS", "EGGS", "COLD CEREAL",
                      "HOT CEREAL", "YOGURT")


@lru_cache(maxsize=1)
def grocery_slice() -> Dataset:
    """8,488 real products (2,115 distinct texts: the index builds in about a minute once, then loads)."""
    return builtin_slice("completejourney-grocery", lambda catalog: catalog["category"].isin(GROCERY_CATEGORIES)
                         | (catalog["department"] == "PRODUCE"))


@lru_cache(maxsize=1)
def grocery_index() -> ProductIndex:
    return slice_index(grocery_slice())
