"""Generic words -> the catalog's categories and subcategories, and their aggregate forecast.

A manager asking about "yogurt" or "ice cream" means the yogurt or the ice
cream, not one SKU. Retrieval alone got this wrong on the built-in catalog
("ice cream" -> Ice Cream Toppings 6 OZ, "cheddar cheese" -> Miscellaneous
Cheese 3 OZ), because an embedding scores a name by overlap, not by what it is
a name of. So a word is matched against the hierarchy's names (department,
category, subcategory) first, by head noun:

- every name is split into segments ("ICE CREAM/MILK/SHERBTS" -> ice cream,
  milk, sherbets; "EGGS - LARGE" -> eggs, large), abbreviations expanded
  (ABBREVIATIONS: the catalog truncates and abbreviates, "SFT DRNK", "FRZN",
  "PURE JUICE - O" for orange juice), packaging and filler words dropped, and
  everything after a preposition ("UNDER 10% JUICE") read as a qualifier;
- a segment's head is its last word; in "ROLLS: DINNER" the word before the
  colon, and also a plural after it ("ROLLS: BAGELS" are bagels); a text's
  head is its last word;
- a name matches fully when its head is the text's head and every word of the
  text is in it ("ice cream" matches ICE CREAM/MILK/SHERBTS, not ICE CREAM
  TOPPINGS, whose head is toppings), and by head when only the heads agree
  ("cheddar cheese" -> CHEESE: the catalog never says cheddar, and the answer
  says so);
- full matches are all taken (ice cream in GROCERY and in NUTRITION alike),
  except that a later part of a listing name ("MILK" of ICE CREAM/MILK/SHERBTS)
  counts only when no name matches by its first part, and within a category
  that matches as a whole (SOFT DRINKS) the subcategories matching by their own
  names are kept (the carbonated soft drinks, not its mixers and energy drinks);
- head matches only within the category holding most of their recent units;
  when none holds at least HEAD_SHARE of them, no group is taken (retrieval
  decides);
- shopper words the catalog does not use are read as its terms first
  (SHOPPER_WORDS: "cola" -> soft drinks), with a note.

The aggregate forecast is statsforecast's AutoETS on the summed weekly units of
every product in the matched groups (the same model the trend report fits per
group; one series, so its 80% interval is coherent with the total by
construction), and the top products get the total split by their share of the
recent weeks' units (top-down, historical proportions), so they add up. No
LLM: the group table of the 68k-product catalog builds in about a second,
once per dataset, and a match plus AutoETS on one summed series takes
0.1-0.5 s (measured in tests/test_ask_grocery.py's questions at load 10+).
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from agent.data.dataset import Dataset
from agent.forecast.result import Attempt, Forecast
from agent.report.category_forecast import LEVEL, fit_series

RECENT_PERIODS = 13
TOP_PRODUCTS = 5
HEAD_SHARE = 0.5
# The catalog's abbreviations and truncations, as whole words (applied to lower-cased names).
ABBREVIATIONS = {
    r"\bsft\b": "soft", r"\bdrnk\b": "drink", r"\bdrnks\b": "drinks", r"\bfrzn\b": "frozen", r"\bfz\b": "frozen",
    r"\brefrgratd\b": "refrigerated", r"\bsherbts\b": "sherbets", r"\bwtr\b": "water", r"\bbrkfst\b": "breakfast",
    r"\bpure juice - o\b": "pure orange juice", r"\boj\b": "orange juice", r"\bpnch\b": "punch", r"\bbkd\b": "baked",
    r"\bsw gds\s*:": "", r"\bfluid milk white only\b": "fluid white milk", r"\bmxs?\b": "mixes",
    r"\bpwdr\b": "powder", r"\bcrystl\b": "crystal", r"\bveg\b": "vegetables",
}
# Words shoppers use that the catalog does not: read as the catalog's term (the answer notes it).
SHOPPER_WORDS = {"cola": "soft drinks", "colas": "soft drinks", "soda": "soft drinks", "sodas": "soft drinks",
                 "pop": "soft drinks", "lemonade": "juice drinks", "oj": "orange juice", "pops": "soft drinks"}
FILLER = frozenset("""all only misc miscellaneous other others products product items item exact wt prod pk pks
pack packs can cans btl bottle bottles carb car carbonated sngl srv single serve mlt multi liter ltr ct oz lb size
regular reg variety bulk bag bags box boxes count""".split())
_PREPOSITION = re.compile(r"\b(?:under|over|with|without|no|not|non|excl|excp|except|incl|including|in|for|ex|w)\b")
_SEGMENT_SPLIT = re.compile(r"[/(),&;]|\s-\s|\s-$")


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "oes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def expand(name: str) -> str:
    text = name.lower()
    for pattern, full in ABBREVIATIONS.items():
        text = re.sub(pattern, full, text)
    return text


@dataclass(frozen=True)
class Segment:
    words: frozenset[str]
    heads: frozenset[str]
    first: bool = True  # the name's first part: "ICE CREAM" of ICE CREAM/MILK/SHERBTS, not "MILK"


def segments(name: str) -> list[Segment]:
    """A catalog name's parts, each with its words (singular, no filler) and head noun."""
    found: list[Segment] = []
    for part in _SEGMENT_SPLIT.split(expand(name)):
        if ":" in part:  # "ROLLS: DINNER" is dinner rolls, "ROLLS: BAGELS" bagels: a plural after the colon is a head
            head_part, rest = part.split(":", 1)
            head_raw = [w for w in re.findall(r"[a-z]+", head_part) if w not in FILLER]
            rest_raw = [w for w in re.findall(r"[a-z]+", _PREPOSITION.split(rest, maxsplit=1)[0]) if w not in FILLER]
            heads = {singular(head_raw[-1])} if head_raw else set()
            if rest_raw and rest_raw[-1].endswith("s") and not rest_raw[-1].endswith("ss"):
                heads.add(singular(rest_raw[-1]))
            if heads:
                words_ = frozenset(singular(w) for w in head_raw + rest_raw)
                found.append(Segment(words_, frozenset(heads), not found))
            continue
        main = _PREPOSITION.split(part, maxsplit=1)[0]
        kept = [singular(w) for w in re.findall(r"[a-z]+", main) if w not in FILLER]
        if kept:
            found.append(Segment(frozenset(kept), frozenset({kept[-1]}), not found))
    return found


def text_words(text: str) -> list[str]:
    """A question's product words, singular, without filler or numbers ('2% milk' -> ['milk'])."""
    return [singular(w) for w in re.findall(r"[a-z]+", expand(text)) if w not in FILLER]


def shopper_terms(text: str) -> tuple[str, str | None]:
    """(text in the catalog's terms, a note when a shopper word was read as one)."""
    lowered = text.lower()
    for word, term in SHOPPER_WORDS.items():
        if re.search(rf"\b{re.escape(word)}\b", lowered):
            return re.sub(rf"\b{re.escape(word)}\b", term, lowered), f"{word!r} is not a catalog word: read as {term!r}"
    return text, None


class GroupTable:
    """The (department, category, subcategory) groups of one dataset, their products and recent units."""

    def __init__(self, dataset: Dataset) -> None:
        catalog = dataset.catalog
        levels = [c for c in ("department", "category", "subcategory") if c in catalog]
        self.levels = levels
        sales = dataset.sales
        dates = np.sort(sales["ds"].unique())
        recent = sales[sales["ds"] >= dates[-min(RECENT_PERIODS, len(dates))]]
        self.recent_units = recent.groupby("unique_id")["y"].sum()
        self.products = catalog.assign(
            recent=catalog["unique_id"].map(self.recent_units).fillna(0.0).to_numpy())
        if levels:
            keys = self.products[levels].fillna("").astype(str)
            self.products = self.products.assign(group=keys.agg(" / ".join, axis=1))
        else:
            self.products = self.products.assign(group="")
        self.groups = self.products.groupby("group", sort=False).agg(recent=("recent", "sum"),
                                                                     n=("unique_id", "size")).reset_index()
        self._segments = {g: {level: segments(str(name)) for level, name in zip(levels, g.split(" / "))}
                          for g in self.groups["group"]}

    def match(self, words: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """(full matches, head matches): group -> the level whose name matched.

        A full match through a later part of a listing name ("MILK" of ICE CREAM/MILK/SHERBTS) counts
        only when no name matches through its first part (FLUID MILK PRODUCTS)."""
        if not words:
            return {}, {}
        head, wanted = words[-1], set(words)
        full: dict[str, tuple[str, bool]] = {}
        by_head: dict[str, str] = {}
        for group, by_level in self._segments.items():
            for level in reversed(self.levels):  # subcategory first: the most specific name that matches
                hits = [s for s in by_level.get(level, []) if head in s.heads and wanted <= s.words]
                if hits:
                    full[group] = (level, any(s.first for s in hits))
                    break
                if any(head in s.heads for s in by_level.get(level, [])) and group not in by_head:
                    by_head[group] = level
        leading = {g: level for g, (level, first) in full.items() if first}
        chosen = leading or {g: level for g, (level, _) in full.items()}
        # Within a category that matches as a whole (SOFT DRINKS), subcategories that match by their own name
        # (SOFT DRINKS 12/18&15PK CAN CAR, not MIXERS or ENERGY DRINK) are what the word means.
        deepest = self.levels[-1]
        if len(self.levels) > 1:
            parents = {g.rsplit(" / ", 1)[0] for g, level in chosen.items() if level == deepest}
            chosen = {g: level for g, level in chosen.items()
                      if level == deepest or g.rsplit(" / ", 1)[0] not in parents}
        return chosen, {g: lvl for g, lvl in by_head.items() if g not in full}


_tables: dict[int, tuple[weakref.ref, GroupTable]] = {}
_tables_lock = threading.Lock()


def group_table(dataset: Dataset) -> GroupTable:
    """Built once per dataset (a few seconds on the 68k-product catalog), shared by concurrent questions."""
    with _tables_lock:
        for key in [k for k, (ref, _) in _tables.items() if ref() is None]:
            del _tables[key]
        held = _tables.get(id(dataset))
        if held is None or held[0]() is not dataset:
            held = (weakref.ref(dataset), GroupTable(dataset))
            _tables[id(dataset)] = held
        return held[1]


class TopProduct(BaseModel):
    unique_id: str
    title: str
    recent_units: float
    share: float = Field(description="Of the group's units over the recent periods.")


class GroupMatch(BaseModel):
    """What a generic word stands for: catalog groups (with the level that matched) and their best sellers."""

    text: str
    label: str = Field(description="What the answer calls it: the text, or its head noun for a head-noun match.")
    name: str = Field(description="Readable name of the matched groups, e.g. 'ICE CREAM/MILK/SHERBTS'.")
    groups: list[str]
    kind: str = Field(description="'full' (head and every word) or 'head' (the head noun only).")
    unique_ids: list[str]
    recent_units: float
    top: list[TopProduct]
    note: str = ""


def find_groups(dataset: Dataset, text: str) -> GroupMatch | None:
    """The catalog groups `text` names, or None (see the module notes)."""
    table = group_table(dataset)
    words = text_words(text)
    full, head = table.match(words)
    kind = "full" if full else "head"
    chosen = full
    note = ""
    if not full and head:
        products = table.products[table.products["group"].isin(list(head))]
        level = "category" if "category" in table.levels else table.levels[0]
        by_parent = products.groupby(level)["recent"].sum().sort_values(ascending=False)
        if by_parent.sum() <= 0 or by_parent.iloc[0] < HEAD_SHARE * by_parent.sum():
            return None
        parent = str(by_parent.index[0])
        # the whole category when its own name carries the head ("CHEESE"), else its matching subcategories
        chosen = {g: lvl for g, lvl in head.items() if g.split(" / ")[table.levels.index(level)] == parent}
        missing = [w for w in words[:-1] if not any(w in s.words for s in segments(parent))]
        note = (f"no catalog name has {' '.join(missing)!r}; " if missing else "") + \
            f"answering for the {words[-1]} products of {parent}"
    if not chosen:
        return None
    products = table.products[table.products["group"].isin(list(chosen))]
    products = products.sort_values("recent", ascending=False, kind="stable")
    total = float(products["recent"].sum())
    top = [TopProduct(unique_id=str(r.unique_id), title=str(r.title), recent_units=float(r.recent),
                      share=round(float(r.recent) / total, 4) if total else 0.0)
           for r in products.head(TOP_PRODUCTS).itertuples() if r.recent > 0]
    names = []
    for group, level in chosen.items():
        part = group.split(" / ")[table.levels.index(level)]
        if part not in names:
            names.append(part)
    name = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    label = text if kind == "full" else re.findall(r"[a-z]+", text.lower())[-1]
    return GroupMatch(text=text, label=label, name=name, groups=sorted(chosen), kind=kind,
                      unique_ids=products["unique_id"].astype(str).tolist(), recent_units=total, top=top, note=note)


def group_series(dataset: Dataset, unique_ids: list[str]) -> pd.Series:
    """Summed units per period of `unique_ids`, on the data's full calendar (zeros where nothing sold)."""
    sales = dataset.sales
    dates = pd.DatetimeIndex(np.sort(sales["ds"].unique()))
    rows = sales[sales["unique_id"].isin(set(unique_ids))]
    return rows.groupby("ds")["y"].sum().reindex(dates, fill_value=0.0).astype(float)


def group_forecast(dataset: Dataset, match: GroupMatch, horizon: int, ceiling_factor: float) -> Forecast:
    """AutoETS on the groups' summed units; the 80% interval gives the 0.1 and 0.9 quantiles. Values are capped at
    `ceiling_factor` times the largest period, the chain's bound (a long horizon widens AutoETS's interval past it)."""
    series = group_series(dataset, match.unique_ids)
    season = dataset.season_length if len(series) >= 2 * dataset.season_length else 1
    fitted, model = fit_series(series.to_numpy(), horizon, season)
    ceiling = ceiling_factor * float(series.max())
    point = np.clip(fitted["mean"], 0, ceiling)
    low, high = np.clip(fitted[f"lo-{LEVEL}"], 0, ceiling), np.clip(fitted[f"hi-{LEVEL}"], 0, ceiling)
    dates = pd.date_range(series.index[-1], periods=horizon + 1, freq=dataset.freq)[1:]
    return Forecast(unique_id=None, title=match.name, freq=dataset.freq, horizon=horizon,
                    dates=[d.date() for d in dates], point=[round(float(v), 3) for v in point],
                    quantiles={"0.1": [round(float(v), 3) for v in low], "0.5": [round(float(v), 3) for v in point],
                               "0.9": [round(float(v), 3) for v in high]},
                    path="baseline", attempts=[Attempt(path="baseline", answered=True)],
                    model_ids=[f"{model} on the summed units of {len(match.unique_ids)} products"],
                    history_tail=[float(v) for v in series.iloc[-8:]])


def revenue_per_unit(dataset: Dataset, unique_ids: list[str], periods: int = 8) -> float | None:
    """Units-weighted mean paid price over the last `periods` periods (None without prices)."""
    sales = dataset.sales
    if "price" not in sales:
        return None
    dates = np.sort(sales["ds"].unique())
    rows = sales[(sales["ds"] >= dates[-min(periods, len(dates))]) & sales["unique_id"].isin(set(unique_ids))]
    rows = rows.dropna(subset=["price"])
    units = float(rows["y"].sum())
    return round(float((rows["price"] * rows["y"]).sum()) / units, 2) if units > 0 else None
