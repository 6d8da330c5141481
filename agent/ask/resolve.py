"""Product and category texts -> catalog ids, by retrieval, with ambiguity made explicit.

The policy (thresholds measured on the real catalog with MiniLM: product names
people type score about 0.55-0.75 against their catalog text, unrelated words
below 0.4):
- a text that is a catalog unique_id is that product;
- otherwise the index's nearest products are grouped by title (the catalog
  often holds many products with one title, e.g. every 'Pies: Fruit/Nut');
  each title stands for its best-selling product;
- best score below MIN_SCORE: nothing matched; the answer says so and lists the
  nearest titles;
- several titles within AMBIGUITY_GAP of the best: ambiguous; the answer asks
  back with them, unless the caller said yes: then the best seller among them
  is taken (text scores that close do not tell the products apart; the one that
  sells is the one a planner most likely means) and the answer says so;
- else the best title's best seller.
"""

from __future__ import annotations

import difflib
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from agent.pipeline import Shelfcast

MIN_SCORE = 0.42
AMBIGUITY_GAP = 0.03
SEARCH_K = 40
MAX_CANDIDATES = 5


class Candidate(BaseModel):
    unique_id: str
    title: str
    score: float
    units: float = Field(description="Units sold in the data (the tie-break among products of one title).")


class Resolution(BaseModel):
    text: str
    status: Literal["resolved", "taken_best", "ambiguous", "unknown"]
    unique_id: str | None = None
    title: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.unique_id is not None


def _units(app: Shelfcast, unique_id: str) -> float:
    return float(app.builder.series(unique_id, app.builder.default_cutoff()).sum())


def candidates(app: Shelfcast, text: str) -> list[Candidate]:
    """Distinct titles nearest to `text`, best first, each as its best-selling product in this dataset."""
    hits = app.index.search(text, k=SEARCH_K)
    known = app.dataset.catalog["unique_id"]
    # The index may cover more products than the dataset (one store's sales): keep those with data here.
    hits = hits[hits["unique_id"].isin(known)] if len(known) != len(app.index) else hits
    by_title: dict[str, Candidate] = {}
    for hit in hits.itertuples():
        found = Candidate(unique_id=str(hit.unique_id), title=str(hit.title), score=round(float(hit.score), 3),
                          units=_units(app, str(hit.unique_id)))
        best = by_title.get(found.title)
        if best is None or (found.score, found.units) > (best.score, best.units):
            by_title[found.title] = found
    return sorted(by_title.values(), key=lambda c: (-c.score, -c.units))


def resolve_product(app: Shelfcast, text: str, yes: bool = False) -> Resolution:
    """One product text -> a product, or the reason none was chosen (see the module notes)."""
    if text.isdigit():
        try:
            row = app.dataset.product(text)
        except KeyError:
            return Resolution(text=text, status="unknown", note=f"no product has id {text} in {app.dataset.name}")
        return Resolution(text=text, status="resolved", unique_id=text, title=str(row["title"]))
    found = candidates(app, text)
    if not found or found[0].score < MIN_SCORE:
        nearest = ", ".join(c.title for c in found[:3]) or "none"
        return Resolution(text=text, status="unknown", candidates=found[:MAX_CANDIDATES],
                          note=f"no product matches {text!r} (nearest: {nearest})")
    best = found[0]
    close = [c for c in found if best.score - c.score <= AMBIGUITY_GAP][:MAX_CANDIDATES]
    if len(close) > 1 and not yes:
        return Resolution(text=text, status="ambiguous", candidates=close,
                          note=f"{text!r} matches {len(close)} products about equally well; which one?")
    status: Literal["resolved", "taken_best"] = "taken_best" if len(close) > 1 else "resolved"
    best = max(close, key=lambda c: (c.units, c.score))
    note = (f"{text!r} matched {len(close)} products about equally well; took the best-selling one, "
            f"{best.title} ({best.unique_id})") if status == "taken_best" else ""
    return Resolution(text=text, status=status, unique_id=best.unique_id, title=best.title, candidates=close,
                      note=note)


class Group(BaseModel):
    department: str | None = None
    category: str | None = None


def resolve_group(catalog: pd.DataFrame, text: str) -> Group:
    """A department or category named in free text ('pastry', 'cakes', 'cookie'); ValueError naming the options."""
    wanted = text.strip().casefold()
    for column in ("department", "category"):
        if column not in catalog:
            continue
        names = {str(v).casefold(): str(v) for v in catalog[column].dropna().unique()}
        match = names.get(wanted) or names.get(wanted.rstrip("s")) or names.get(wanted + "s")
        close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.8)
        if match or close:
            return Group(**{column: match or names[close[0]]})
    options = sorted(catalog["department"].dropna().unique())[:12] if "department" in catalog else []
    raise ValueError(f"no department or category called {text!r}" + (f"; departments: {', '.join(options)}" if options else ""))
