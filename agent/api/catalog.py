"""Catalog look-ups for the web page: search-as-you-type, a product's sales, the departments to report on.

The page needs three things the forecasting endpoints do not give: products
matching what a person is typing (the same retrieval and grouping `ask` uses
to resolve a name, so the page and a question pick the same product), the
sales curve behind a forecast or an analog, and the department/category names
for the report picker. They sit behind the same bearer token, body limit and
concurrency limit as the forecasting endpoints: a search embeds the text
(~30-50 ms with MiniLM on one thread), which is work a flood of keystrokes
must not be able to queue without bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException

from agent.api.schemas import CatalogGroups, SalesCurve, SalesRequest, SearchRequest
from agent.api.security import ApiSettings, enforce_limits
from agent.ask.resolve import Candidate, candidates
from agent.pipeline import Shelfcast

PATHS = ("/products/search", "/products/sales")


def catalog_router(shelfcast: Shelfcast, settings: ApiSettings, dependencies: Sequence[Any]) -> APIRouter:
    router = APIRouter(prefix="/products", tags=["catalog"], dependencies=list(dependencies))
    builder = shelfcast.builder
    groups = _groups(shelfcast)  # the catalog does not change while the server runs

    @router.post("/search", response_model=list[Candidate])
    def search(body: SearchRequest) -> list[Candidate]:
        """Products whose text is nearest to `text`, one per distinct title (its best seller), best first;
        a `text` that is a unique_id of the data returns that product."""
        enforce_limits([("text", len(body.text), settings.max_text_chars, "characters")])
        if body.text.isdigit():
            try:
                row = shelfcast.dataset.product(body.text)
            except KeyError:
                row = None
            if row is not None:
                return [Candidate(unique_id=body.text, title=str(row["title"]), score=1.0,
                                  units=float(builder.series(body.text, builder.default_cutoff()).sum()))]
        return candidates(shelfcast, body.text)[:body.k]

    @router.post("/sales", response_model=list[SalesCurve],
                 responses={404: {"description": "One of the unique_ids is not in the loaded data."}})
    def sales(body: SalesRequest) -> list[SalesCurve]:
        """Each product's units per period, from its first sale to the end of the data."""
        curves = []
        for unique_id in body.unique_ids:
            try:
                row = shelfcast.dataset.product(unique_id)
            except KeyError as exc:
                raise HTTPException(404, exc.args[0]) from None
            series = builder.series(unique_id, builder.default_cutoff())
            curves.append(SalesCurve(unique_id=unique_id, title=str(row["title"]),
                                     dates=[ds.date() for ds in series.index], units=series.round(3).tolist()))
        return curves

    @router.get("/groups", response_model=CatalogGroups)
    def catalog_groups() -> CatalogGroups:
        """Departments and their categories, for picking what a trend report covers."""
        return groups

    return router


def _groups(shelfcast: Shelfcast) -> CatalogGroups:
    catalog = shelfcast.dataset.catalog
    departments: dict[str, list[str]] = {}
    if "department" in catalog:
        pairs = catalog[["department", *(["category"] if "category" in catalog else [])]].dropna(subset=["department"])
        for department, rows in pairs.groupby("department", sort=True):
            names = rows["category"].dropna().unique() if "category" in rows else []
            departments[str(department)] = sorted(str(name) for name in names)
    return CatalogGroups(departments=departments)
