"""The slice of the data a report is about, as a dense products x periods matrix.

The long sales frame starts each product at its first row; statistics over
windows need every product on one calendar, so the selection is pivoted once
into a matrix of units (zeros where a product did not sell or had not started).
Products are grouped one level below the selection: departments for the whole
data, categories within a department, subcategories within a category. The
`MAX_GROUPS` largest groups by units are kept and the rest folded into one
"OTHER" group, so tables and charts stay readable and shares still add up.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from agent.data.dataset import Dataset

MAX_GROUPS = 8
NO_GROUP = "(none)"
ALL_PRODUCTS = "ALL PRODUCTS"


class ReportError(ValueError):
    """The report cannot be built for this request (unknown names, too little data)."""


@dataclass(frozen=True)
class ReportPanel:
    dates: pd.DatetimeIndex  # every period in the data, in order
    ids: np.ndarray  # product ids, one per row of `units`
    titles: np.ndarray
    groups: np.ndarray  # group label per product (after folding small groups into OTHER)
    level: str  # the catalog column the groups come from, or "all"
    units: np.ndarray  # (products, periods) float
    other: str | None = None  # the label of the folded small groups, when there are any

    @property
    def periods(self) -> int:
        return len(self.dates)

    @cached_property
    def first_sale(self) -> np.ndarray:
        """Position of each product's first period with units (-1 when it never sold)."""
        sold = self.units > 0
        return np.where(sold.any(axis=1), sold.argmax(axis=1), -1)

    @cached_property
    def group_names(self) -> list[str]:
        """Groups by total units, largest first; OTHER last."""
        totals = pd.Series(self.units.sum(axis=1)).groupby(self.groups).sum()
        named = sorted((g for g in totals.index if g != self.other), key=lambda g: (-totals[g], g))
        return named + ([self.other] if self.other in totals.index else [])

    @cached_property
    def group_units(self) -> pd.DataFrame:
        """Units per period (rows, by date) and group (columns, in `group_names` order)."""
        frame = pd.DataFrame(self.units.T, index=self.dates)
        return frame.T.groupby(self.groups).sum().T.reindex(columns=self.group_names)


def _resolve(value: str, choices: list[str], what: str, scope: str = "") -> str:
    """The catalog spelling of `value` (case-insensitive), or an error naming the closest choices."""
    by_lower = {c.lower(): c for c in choices}
    if value.strip().lower() in by_lower:
        return by_lower[value.strip().lower()]
    close = difflib.get_close_matches(value.strip().upper(), [c.upper() for c in choices], n=5, cutoff=0.5)
    close_names = [by_lower[c.lower()] for c in close]
    hint = f"did you mean: {', '.join(close_names)}?" if close_names else f"known {what}s: {', '.join(sorted(choices)[:12])}"
    raise ReportError(f"unknown {what} {value!r}{scope}; {hint}")


def _labels(catalog: pd.DataFrame, column: str) -> list[str]:
    return sorted(str(v) for v in catalog[column].dropna().unique())


@dataclass(frozen=True)
class Selection:
    """The request's names as the catalog spells them."""

    department: str | None
    category: str | None

    @property
    def name(self) -> str:
        return " / ".join(part for part in (self.department, self.category) if part) or "all products"


def select(dataset: Dataset, department: str | None, category: str | None) -> tuple[pd.DataFrame, str, Selection]:
    """(catalog rows of the selection, the grouping column, the resolved names)."""
    catalog = dataset.catalog
    resolved: dict[str, str | None] = {"department": None, "category": None}
    for column, value in (("department", department), ("category", category)):
        if value is None:
            continue
        if column not in catalog.columns:
            raise ReportError(f"the catalog has no {column!r} column, so --{column} cannot select products")
        scope = f" in department {resolved['department']!r}" if resolved["department"] else ""
        resolved[column] = _resolve(value, _labels(catalog, column), column, scope)
        catalog = catalog[catalog[column] == resolved[column]]
    if catalog.empty:
        raise ReportError("no products match this selection")
    level = "subcategory" if category else "category" if department else "department"
    if level not in catalog.columns:
        # User catalogs may lack the taxonomy: fall back to the next level that exists, else one group.
        level = next((c for c in ("category", "subcategory") if c in catalog.columns and c != level), "all")
    return catalog, level, Selection(resolved["department"], resolved["category"])


def build_panel(dataset: Dataset, department: str | None = None,
                category: str | None = None) -> tuple[ReportPanel, Selection]:
    """(the dense panel of the selection, the names it was selected by)."""
    catalog, level, selection = select(dataset, department, category)
    dates = pd.DatetimeIndex(np.sort(dataset.sales["ds"].unique()))
    if len(dates) < 4:
        raise ReportError(f"a trend report needs at least 4 periods of sales; the data have {len(dates)}")
    ids = catalog["unique_id"].astype(str).to_numpy()
    sales = dataset.sales[dataset.sales["unique_id"].isin(ids)]
    rows = pd.Index(ids).get_indexer(sales["unique_id"].astype(str))
    cols = dates.get_indexer(sales["ds"])
    units = np.zeros((len(ids), len(dates)))
    np.add.at(units, (rows, cols), sales["y"].to_numpy(dtype=float))
    if level == "all":
        labels = np.full(len(ids), ALL_PRODUCTS, dtype=object)
    else:
        labels = catalog[level].fillna(NO_GROUP).astype(str).to_numpy(dtype=object)
    titles = catalog["title"].astype(str).to_numpy(dtype=object)
    groups, other = _fold_small_groups(labels, units.sum(axis=1))
    return ReportPanel(dates, ids, titles, groups, level, units, other), selection


def _fold_small_groups(labels: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, str | None]:
    by_group = pd.Series(totals).groupby(labels).sum().sort_values(ascending=False, kind="stable")
    if len(by_group) <= MAX_GROUPS:
        return labels, None
    keep = set(by_group.index[: MAX_GROUPS - 1])
    other = f"OTHER ({len(by_group) - len(keep)} smaller)"
    return np.array([label if label in keep else other for label in labels], dtype=object), other
