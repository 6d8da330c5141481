"""The in-memory dataset every part of Shelfcast works on.

Sales are long (`unique_id, ds, y` plus optional `price`, `promo`), the Nixtla
convention, so statsforecast/utilsforecast functions apply directly. The catalog
holds one row per product with the text used for retrieval and regression
(`agent.product.product_text`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
from pydantic import BaseModel

SALES_KEYS = ["unique_id", "ds"]


class Fix(BaseModel):
    """One thing the loader changed or dropped, reported to the user (never silent)."""

    source: str
    action: str
    count: int
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.source}: {self.action}: {self.count:,}{extra}"


@dataclass
class Dataset:
    """Validated sales and catalog, with the frequency and what loading fixed."""

    name: str
    sales: pd.DataFrame
    catalog: pd.DataFrame
    freq: str
    fixes: list[Fix] = field(default_factory=list)

    @property
    def season_length(self) -> int:
        """Periods per year, for seasonal baselines and MASE scaling."""
        return season_length(self.freq)

    def fingerprint(self, before: pd.Timestamp | None = None) -> str:
        """Hash of the sales (unique_id, ds, y) before `before` (all when None): equal hashes, equal data.

        A model records it for the data it saw, so a later process can tell whether
        it serves the same data (possibly with more periods added) or transfers it.
        The built-in data's 3.3M rows hash in ~1 s.
        """
        sales = self.sales if before is None else self.sales[self.sales["ds"] < before]
        frame = sales[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
        digest = hashlib.sha256(f"{self.freq}|{len(frame)}".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def history(self, unique_id: str) -> pd.Series:
        """Sales of one product indexed by `ds` (empty for a product with no history)."""
        rows = self.sales[self.sales["unique_id"] == unique_id]
        return rows.set_index("ds")["y"]

    @cached_property
    def _catalog_by_id(self) -> pd.DataFrame:
        # Built once: building training windows looks products up thousands of times.
        return self.catalog.set_index("unique_id", drop=False)

    def product(self, unique_id: str) -> pd.Series:
        """The catalog row of one product; KeyError names the id when it is unknown."""
        try:
            return self._catalog_by_id.loc[unique_id]
        except KeyError:
            raise KeyError(f"unknown product id {unique_id!r} in dataset {self.name!r}") from None


def season_length(freq: str) -> int:
    base = freq.split("-")[0].upper()
    return {"D": 7, "W": 52, "MS": 12, "M": 12, "ME": 12}.get(base, 1)
