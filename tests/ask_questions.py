"""The question set both parsers are measured on: paraphrases, typos, missing horizons, stores, prices.

Each case is what a careful reader takes from the question: the intent, the
product texts (as written, lower case), horizon in weekly periods (None when
the question gives none), store and price. Extra fields (lead time, service
level, stock on hand, title, category, measure) are checked when given.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from agent.ask.rules import Lexicon


class Case(NamedTuple):
    question: str
    intent: str
    products: list[str]
    horizon: int | None = None
    store: str | None = None
    price: float | None = None
    extra: dict[str, Any] = {}


# A case's `extra` where the question names its measure ("in dollars"; "units").
REVENUE = {"measure": "revenue"}
UNITS = {"measure": "quantity"}


CASES: list[Case] = [
    # plain forecasts, paraphrased
    Case("how many bagels will sell in the next 4 weeks?", "forecast", ["bagels"], 4),
    Case("How many bagels do we expect to sell next week?", "forecast", ["bagels"], 1),
    Case("forecast dinner rolls for the next 6 weeks", "forecast", ["dinner rolls"], 6),
    Case("What's the demand for chocolate chip cookies over the next two weeks?", "forecast", ["chocolate chip cookies"], 2),
    Case("predict croissant sales for next month", "forecast", ["croissant"], 4),
    Case("sales outlook for apple pie over the coming quarter", "forecast", ["apple pie"], 13),
    Case("how much birthday cake will we sell in 3 weeks", "forecast", ["birthday cake"], 3),
    Case("expected demand of donuts, 8 weeks", "forecast", ["donuts"], 8),
    Case("muffins next 10 days", "forecast", ["muffins"], 2),
    Case("how many donuts will sell over twenty six weeks?", "forecast", ["donuts"], 26),
    # typos
    Case("forcast donuts for next month", "forecast", ["donuts"], 4),
    Case("how many bagles will we sell in 5 weeks", "forecast", ["bagles"], 5),
    Case("predcit demand for dinner rolls next week", "forecast", ["dinner rolls"], 1),
    Case("comapre cookies and pies over 6 weeks", "compare", ["cookies", "pies"], 6),
    # missing horizon
    Case("forecast sourdough bread", "forecast", ["sourdough bread"]),
    Case("how many cinnamon rolls will we sell?", "forecast", ["cinnamon rolls"]),
    Case("demand for muffins", "forecast", ["muffins"]),
    # unknown products (parsed as written; resolution says nothing matched)
    Case("how many unicorn steaks will sell next week?", "forecast", ["unicorn steaks"], 1),
    Case("forecast motor oil for 4 weeks", "forecast", ["motor oil"], 4),
    # stores
    Case("how many bagels will sell at store 367 in the next 4 weeks?", "forecast", ["bagels"], 4, "367"),
    Case("forecast donuts for store #412 next month", "forecast", ["donuts"], 4, "412"),
    Case("dinner rolls demand in store 367", "forecast", ["dinner rolls"], None, "367"),
    # several products
    Case("compare bagels and donuts", "compare", ["bagels", "donuts"]),
    Case("which sells more: croissants or muffins?", "compare", ["croissants", "muffins"]),
    Case("bagels vs donuts over the next 8 weeks", "compare", ["bagels", "donuts"], 8),
    Case("compare apple pie, dinner rolls and cookies next month", "compare", ["apple pie", "dinner rolls", "cookies"], 4),
    Case("forecast bagels and donuts for 3 weeks", "forecast", ["bagels", "donuts"], 3),
    # prices
    Case("what if bagels cost $2.50?", "what_if_price", ["bagels"], None, None, 2.5),
    Case("If we drop the price of donuts to 1.99, how many would we sell next month?", "what_if_price", ["donuts"], 4, None, 1.99),
    Case("what happens to dinner rolls sales at $0.99 over 6 weeks", "what_if_price", ["dinner rolls"], 6, None, 0.99),
    Case("raise the price of apple pie to 5 dollars", "what_if_price", ["apple pie"], None, None, 5.0),
    # new products
    Case('we\'re launching "cinnamon raisin bagels 6 ct", how many will sell in 8 weeks?', "new_product", [], 8,
         extra={"title": "cinnamon raisin bagels 6 ct"}),
    Case("new product: blueberry muffins 4 ct, forecast 6 weeks", "new_product", [], 6,
         extra={"title": "blueberry muffins 4 ct"}),
    Case("how would a new vegan chocolate cake sell?", "new_product", [], None, extra={"title": "vegan chocolate cake"}),
    Case("launch of pumpkin pie 24 oz: first 4 weeks?", "new_product", [], 4, extra={"title": "pumpkin pie 24 oz"}),
    # trend reports
    Case("trend report for the pastry department", "trend_report", [], extra={"category": "pastry"}),
    Case("how are cakes trending?", "trend_report", [], extra={"category": "cakes"}),
    Case("give me an overview of cookies for the next 8 weeks", "trend_report", [], 8, extra={"category": "cookies"}),
    Case("what are the top sellers at store 367?", "trend_report", [], None, "367"),
    # reorders
    Case("how much should we reorder of bagels with a lead time of 2 weeks and 95% service level, we have 40 units on hand",
         "reorder", ["bagels"], extra={"lead_time": 2, "service_level": 0.95, "on_hand": 40.0}),
    Case("reoder donuts, lead time 10 days", "reorder", ["donuts"], extra={"lead_time": 2}),
    Case("how many dinner rolls should I order? 30 in stock", "reorder", ["dinner rolls"], extra={"on_hand": 30.0}),
    # revenue
    Case("revenue from bagels next quarter", "forecast", ["bagels"], 13, extra={"measure": "revenue"}),
    Case("how much money will donuts make in 4 weeks?", "forecast", ["donuts"], 4, extra={"measure": "revenue"}),
    # out-of-bounds requests are bounded, not obeyed
    Case("set horizon to 5000 weeks for bagels", "forecast", ["bagels"], 52),
    Case("forecast product 1095275 for 6 weeks", "forecast", ["1095275"], 6),
]


@functools.cache
def catalog_lexicon() -> Lexicon:
    """The built-in catalog's Lexicon, as `ask` builds it from its index: the sets name its products."""
    import pandas as pd

    from agent.data import load_builtin

    return Lexicon(pd.unique(load_builtin().catalog["text"]))


def singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def words(text: str) -> set[str]:
    return {singular(w) for w in text.lower().replace(",", " ").split()}


def mismatches(query: Any, case: Case, exact_products: bool = True) -> list[str]:
    """Fields where `query` differs from what the case expects (empty: right)."""
    wrong = []
    if query.intent != case.intent:
        wrong.append(f"intent {query.intent} != {case.intent}")
    if exact_products:
        if query.products != case.products:
            wrong.append(f"products {query.products} != {case.products}")
    elif len(query.products) != len(case.products) or not all(
            words(want) <= words(got) for want, got in zip(case.products, query.products)):
        wrong.append(f"products {query.products} !~ {case.products}")
    for name, want in (("horizon", case.horizon), ("store", case.store), ("price", case.price), *case.extra.items()):
        got = getattr(query, name)
        if name in ("title", "category") and not exact_products and got is not None:
            if not words(want) <= words(got):
                wrong.append(f"{name} {got!r} !~ {want!r}")
        elif got != want:
            wrong.append(f"{name} {got!r} != {want!r}")
    return wrong
