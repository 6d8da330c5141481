"""Product and category texts -> catalog ids or catalog groups, with ambiguity made explicit.

The policy, in order:
- a text that is a catalog unique_id is that product;
- a text with a size ("17.1 oz", "6 ct") names one product: retrieval, below;
- a generic word is matched against the hierarchy by head noun (agent/ask/groups.py):
  a full match (head and every word in a category or subcategory name) is
  that group, answered with its aggregate forecast and top products; a match of
  the head noun alone ("cheddar cheese": the catalog never says cheddar) asks
  back, or with yes takes that group, and says so; shopper words the catalog
  does not use ("cola") are read as its terms;
- no group matches: retrieval. Thresholds measured on the real catalog with MiniLM:
  product names people type score about 0.55-0.75 against their catalog text, unrelated words
  below 0.4. The index's nearest products are grouped by title (the catalog
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

import re
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from agent.ask.groups import GroupMatch, find_groups, shopper_terms
from agent.ask.rules import misspelling
from agent.pipeline import Shelfcast
from agent.report import ReportRequest

Level = Literal["department", "category"]
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
    status: Literal["resolved", "taken_best", "group", "ambiguous", "unknown"]
    unique_id: str | None = None
    title: str | None = None
    group: GroupMatch | None = Field(None, description="The catalog groups a generic word stands for.")
    candidates: list[Candidate] = Field(default_factory=list)
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.unique_id is not None or (self.group is not None and self.status == "group")


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


SIZE = re.compile(r"\b\d+(?:\.\d+)?\s*(?:oz|ct|lb|lbs|pk|pack|g|kg|ml|l|gal|ga|dz|count)\b")


def resolve(app: Shelfcast, text: str, yes: bool = False) -> Resolution:
    """One product text -> a product or a catalog group, or the reason none was chosen (see the module notes)."""
    if text.isdigit():
        return _by_id(app, text)
    if not SIZE.search(text.lower()):
        wanted, shopper_note = shopper_terms(text)
        match = find_groups(app.dataset, wanted)
        if match is not None and match.top:
            notes = [n for n in (shopper_note, match.note) if n]
            if match.kind == "full":
                return Resolution(text=text, status="group", group=match, note="; ".join(notes))
            found = candidates(app, text)
            if found and found[0].score >= MIN_SCORE:
                offer = _top_candidates(match)
                if not yes:
                    return Resolution(text=text, status="ambiguous", group=match, candidates=offer, note=(
                        f"{text!r}: {match.note}; answer for {match.name}, or name one of its products?"))
                return Resolution(text=text, status="group", group=match, note=f"{text!r}: {match.note}")
    return resolve_product(app, text, yes)


def _top_candidates(match: GroupMatch) -> list[Candidate]:
    return [Candidate(unique_id=p.unique_id, title=p.title, score=1.0, units=p.recent_units)
            for p in match.top[:MAX_CANDIDATES]]


def _by_id(app: Shelfcast, text: str) -> Resolution:
    try:
        row = app.dataset.product(text)
    except KeyError:
        return Resolution(text=text, status="unknown", note=f"no product has id {text} in {app.dataset.name}")
    return Resolution(text=text, status="resolved", unique_id=text, title=str(row["title"]))


def resolve_product(app: Shelfcast, text: str, yes: bool = False) -> Resolution:
    """One product text -> one product by retrieval (ids directly), or the reason none was chosen."""
    if text.isdigit():
        return _by_id(app, text)
    found = candidates(app, text)
    if not found or found[0].score < MIN_SCORE:
        nearest = ", ".join(c.title for c in found[:3]) or "none"
        return Resolution(text=text, status="unknown", candidates=found[:MAX_CANDIDATES],
                          note=f"no product matches {text!r} (nearest: {nearest})")
    # A size the user wrote ("4 oz") is the product's: titles with every size of the text come first.
    sizes = [re.sub(r"\s+", " ", m.group(0)) for m in SIZE.finditer(text.lower())]
    sized = [c for c in found if sizes and all(re.search(rf"\b{re.escape(z)}\b", c.title.lower()) for z in sizes)]
    pool = sized if sized and sized[0].score >= MIN_SCORE else found
    best = pool[0]
    close = [c for c in pool if best.score - c.score <= AMBIGUITY_GAP][:MAX_CANDIDATES]
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
    note: str = ""


# Words around a report's subject that name no group ("write a trend report on the produce department please").
REPORT_FILLER = frozenset("""write make give show create build run produce_report a an the on of for in at about
report reports trend trends trending overview summary please department departments dept category categories
aisle aisles section sections me us our we i my how is are doing lately recently what whats what's latest sales
selling sell risers fallers movers top sellers growing declining with next this last weeks week months month
quarter year""".split())
FUZZY_SCORE = 85.0
EMBEDDING_SCORE = 0.6


def _subject(text: str) -> str:
    return " ".join(w for w in re.findall(r"[a-z0-9&'-]+", text.lower()) if w not in REPORT_FILLER)


def resolve_group(app: Shelfcast, text: str, prefer: Level | None = None) -> Group:
    """A department or category named in free text ('the produce department', 'cereal', 'cakes');
    ValueError naming the closest names when nothing matches. `prefer`: the level an exact name is looked up in
    first (`shelfcast report --category X` means the category X, should a department share its name).

    In order: the exact name (filler words stripped); the head-noun match of agent/ask/groups.py
    (a subcategory stands for its category; several categories: the one with most products, noted); both again
    with misspelled words read as the hierarchy's words (agent.ask.rules.misspelling: "braed" is bread);
    rapidfuzz's token-set ratio >= FUZZY_SCORE against every department and category name (typos);
    MiniLM similarity >= EMBEDDING_SCORE between the text and the names."""
    from rapidfuzz import fuzz, process

    catalog = app.dataset.catalog
    subject = _subject(text) or text.strip().lower()
    levels = sorted(("department", "category"), key=lambda level: level != prefer)
    names = {level: sorted(str(v) for v in catalog[level].dropna().unique()) for level in levels if level in catalog}
    hierarchy = {w for level in ("department", "category", "subcategory") if level in catalog
                 for w in re.findall(r"[a-z]+", " ".join(map(str, catalog[level].dropna().unique())).lower())}
    spelled = " ".join(w if w in hierarchy else misspelling(w, hierarchy) or w for w in subject.split())
    for reading in dict.fromkeys((subject, spelled)):
        note = f"{subject!r} read as {reading!r}" if reading != subject else ""
        for level in names:
            for name in names[level]:
                if name.lower() == reading or name.lower().rstrip("s") == reading.rstrip("s"):
                    return Group(**{level: name}, note=note)
        match = find_groups(app.dataset, reading)
        if match is not None and match.kind == "full":
            picked = _group_of(app, match)
            if picked is not None:
                return picked.model_copy(update={"note": "; ".join(n for n in (note, picked.note) if n)})
    flat = [(name, level) for level, values in names.items() for name in values]
    choices = [name.lower() for name, _ in flat]
    best = process.extractOne(subject, choices, scorer=fuzz.token_set_ratio)
    if best is not None and best[1] >= FUZZY_SCORE:
        name, level = flat[best[2]]
        return Group(**{level: name}, note=f"{subject!r} read as the {level} {name} (string similarity {best[1]:.0f})")
    scores = _embedding_scores(app, subject, [name for name, _ in flat])
    if scores is not None and scores.max() >= EMBEDDING_SCORE:
        name, level = flat[int(scores.argmax())]
        return Group(**{level: name}, note=f"{subject!r} read as the {level} {name} (text similarity {scores.max():.2f})")
    closest = [flat[i][0] for _, _, i in process.extract(subject, choices, scorer=fuzz.WRatio, limit=5)]
    raise ValueError(f"no department or category called {subject!r}; closest: {', '.join(closest)}")


def resolve_request(app: Shelfcast, request: ReportRequest) -> tuple[ReportRequest, list[str]]:
    """`request` with its department and category as the catalog spells them (resolve_group on each, within the
    request's store; the category's reading wins where they disagree), and notes on what each name was read as.
    The one way report names are matched, for `shelfcast report`, the API and `ask` alike."""
    scope = app.for_store(request.store) if request.store else app
    fields: dict[str, str] = {}
    notes = []
    levels: tuple[Level, ...] = ("department", "category")
    for level in levels:
        text = getattr(request, level)
        if text is None:
            continue
        group = resolve_group(scope, text, prefer=level)
        fields.update(group.model_dump(exclude_none=True, exclude={"note"}))
        read_as = " / ".join(name for name in (group.department, group.category) if name)
        if group.note or read_as.lower() != text.lower():
            notes.append(group.note or f"{text!r} read as {read_as}")
    names = {"department": fields.get("department"), "category": fields.get("category")}
    return request.model_copy(update=names), notes


def _group_of(app: Shelfcast, match: GroupMatch) -> Group | None:
    """The department or category a head-noun match stands for (the category with most of its products)."""
    catalog = app.dataset.catalog
    rows = catalog[catalog["unique_id"].isin(set(match.unique_ids))]
    if rows.empty:
        return None
    departments = rows["department"].value_counts() if "department" in rows else pd.Series(dtype=int)
    if "category" not in rows:
        return Group(department=str(departments.index[0])) if len(departments) else None
    whole = catalog.groupby("department").size() if "department" in catalog else None
    if whole is not None and len(departments) == 1 and whole[departments.index[0]] == len(rows):
        return Group(department=str(departments.index[0]))
    by_category = rows.groupby("category")["unique_id"].size().sort_values(ascending=False)
    name = str(by_category.index[0])
    department = catalog.loc[catalog["category"] == name, "department"].iloc[0] if "department" in catalog else None
    note = "" if len(by_category) == 1 else (
        f"{match.text!r} is in {len(by_category)} categories ({', '.join(map(str, by_category.index[:4]))}); "
        f"reporting on the largest, {name}")
    return Group(department=str(department) if department is not None else None, category=name, note=note)


def _embedding_scores(app: Shelfcast, text: str, names: list[str]):
    """Cosine similarity of `text` to each name with the index's MiniLM encoder (None when it cannot encode)."""
    from agent.retrieval.embedder import embed_texts

    try:
        vectors = embed_texts([text, *[name.lower() for name in names]], app.index.encoder, progress=False)
    except (OSError, RuntimeError, ValueError):  # an index whose encoder has no weights here
        return None
    return vectors[1:] @ vectors[0]
