"""`ask`: question -> Query -> products resolved -> the right tool -> a grounded answer.

Thread-safe with one shared `Shelfcast`: nothing here mutates the app (store
pipelines are created under the app's own lock), the LLM backends serialize or
batch their own calls, and charts are drawn on their own figures under unique names.
"""

from __future__ import annotations

import re
import threading
import uuid
import weakref
from pathlib import Path

import pandas as pd

from agent.ask.answer import Answer, Facts, draw, forecast_numbers, forecast_rows, narrate
from agent.ask.llm_parse import understand
from agent.ask.query import DEFAULT_HORIZON, Query
from agent.ask.resolve import Candidate, Resolution, resolve_group, resolve_product
from agent.ask.tools import Comparison, PriceResult, ReorderResult, recent_price, scoped, tool, tools
from agent.forecast.prompting import period_name
from agent.forecast.result import Forecast
from agent.grounding import check, values_in
from agent.pipeline import Shelfcast
from agent.report import Report
from agent.report.render import write_report
from agent.retrieval.index import ProductIndex

MAX_QUESTION_CHARS = 500
REPORT_HORIZON = 8
_vocabularies: weakref.WeakKeyDictionary[ProductIndex, frozenset[str]] = weakref.WeakKeyDictionary()
_vocabulary_lock = threading.Lock()


def vocabulary(index: ProductIndex) -> frozenset[str]:
    """Words of the catalog's texts: the rules never read one of them as a misspelled keyword."""
    with _vocabulary_lock:
        if index not in _vocabularies:
            words = re.findall(r"[a-z]{3,}", " ".join(pd.unique(index.catalog["text"])).lower())
            _vocabularies[index] = frozenset(words)
        return _vocabularies[index]


def ask(app: Shelfcast, question: str, *, yes: bool = False, chart_dir: Path | None = None,
        narrate_with_llm: bool = True) -> Answer:
    """Answer one plain-language question from the data; ValueError/KeyError for bad input (unknown store...)."""
    if not question.strip():
        raise ValueError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question has {len(question)} characters; at most {MAX_QUESTION_CHARS} are read")
    understood = understand(question, app.backend, vocabulary(app.index))
    query = understood.query
    notes = [understood.parse_note, *understood.rules.notes]
    if query.horizon is None and query.intent not in ("trend_report", "reorder"):
        notes.append(f"no horizon given: using the default of {DEFAULT_HORIZON} periods")
    scope = scoped(app, query.store)
    base = {"question": question, "query": query, "parsed_by": understood.parsed_by,
            "parse_note": understood.parse_note, "intent": query.intent}

    if query.intent == "trend_report":
        return _report(app, query, base, notes, chart_dir)
    if query.intent == "new_product":
        if not query.title:
            return _reply(base, "ask_back", "What is the new product called? Name it, e.g. 'oat milk 64 oz'.", notes)
        facts = _new_product(app, query)
    else:
        resolutions = [resolve_product(scope, text, yes) for text in query.products]
        notes += [r.note for r in resolutions if r.note]
        usable = [r for r in resolutions if r.usable]
        waiting = [r for r in resolutions if r.status == "ambiguous"]
        if not query.products:
            return _reply(base, "ask_back", "Which product do you mean? Name it (or give its id).", notes)
        if waiting:
            return _ask_back(base, waiting, notes)
        if not usable:
            return _reply(base, "no_match", " ".join(r.note[0].upper() + r.note[1:] + "." for r in resolutions), notes,
                          candidates={r.text: r.candidates for r in resolutions})
        facts = _facts(scope, query, usable)
    text, written_by, why = narrate(facts, app.backend if narrate_with_llm else None)
    notes += [*facts.notes, why]
    charts = draw(facts.charts, chart_dir)
    return Answer(**base, status="answered", text=text, written_by=written_by,
                  grounded=_grounded(text, facts.numbers), numbers=facts.numbers, table=facts.table,
                  chart=charts[0] if charts else None, charts=charts, notes=notes, forecasts=facts.forecasts)


def _grounded(text: str, numbers: list[float]) -> bool:
    return check(text, numbers).ok


def _reply(base: dict, status: str, text: str, notes: list[str],
           candidates: dict[str, list[Candidate]] | None = None) -> Answer:
    """A reply without a forecast; it may cite only the candidates' ids and the sizes in their titles."""
    found = [c for group in (candidates or {}).values() for c in group]
    numbers = [value for c in found for value in values_in(f"{c.title} {c.unique_id}")]
    return Answer(**base, status=status, text=text, written_by="template", grounded=_grounded(text, numbers),
                  numbers=numbers, notes=notes, candidates=candidates or {})


def _ask_back(base: dict, waiting: list[Resolution], notes: list[str]) -> Answer:
    parts = [f"{r.text!r} could be " + ", ".join(f"{c.title} ({c.unique_id})" for c in r.candidates) for r in waiting]
    text = "Which product did you mean? " + "; ".join(parts) + ". Ask again with the id, or with --yes to take the best match."
    return _reply(base, "ask_back", text, notes, candidates={r.text: r.candidates for r in waiting})


def _total(forecast: Forecast) -> float:
    return float(sum(forecast.point))


def _span(count: float, freq: str) -> str:
    """A count of the data's periods in words: '4 weeks', '1 day', '3 months' (the data contract allows all three)."""
    name = period_name(freq)
    return f"{count:g} {name}" + ("" if count == 1 else "s")


def _units_sentence(forecast: Forecast, factor: float = 1.0) -> str:
    """'Title (id): about N units over the next 4 weeks (80% interval a to b)'; per-period bounds summed (conservative)."""
    who = f"{forecast.title} ({forecast.unique_id})" if forecast.unique_id else f"The new product {forecast.title!r}"
    return (f"{who}: about {_total(forecast) * factor:,.0f} unit(s) over the next {_span(forecast.horizon, forecast.freq)} "
            f"(80% interval {sum(forecast.lower) * factor:,.0f} to {sum(forecast.upper) * factor:,.0f})")


def _history(scope: Shelfcast, forecast: Forecast) -> pd.Series:
    return scope.dataset.history(forecast.unique_id) if forecast.unique_id else pd.Series(dtype=float)


def _facts(scope: Shelfcast, query: Query, products: list[Resolution]) -> Facts:
    """Run the tool the intent names on resolved products and state what it computed."""
    run = {t.name: t for t in tools(scope)}
    ids = [r.unique_id for r in products if r.unique_id]
    horizon = query.periods
    if query.intent == "compare" and len(ids) >= 2:
        result: Comparison = run["compare_products"].invoke({"unique_ids": ids, "horizon": horizon})
        return _compare_facts(scope, result)
    if query.intent == "reorder":
        result_r: ReorderResult = run["reorder_suggestion"].invoke(
            {"unique_id": ids[0], "horizon": horizon, "lead_time": query.lead_time or 1,
             **({"service_level": query.service_level} if query.service_level else {}),
             **({"on_hand": query.on_hand} if query.on_hand is not None else {})})
        return _reorder_facts(scope, result_r, query)
    if query.intent == "what_if_price" and query.price is not None:
        result_p: PriceResult = run["price_what_if"].invoke({"unique_id": ids[0], "new_price": query.price,
                                                             "horizon": horizon})
        return _price_facts(scope, result_p)
    notes = []
    if query.intent == "compare":
        notes.append("only one product was found, so there is nothing to compare; forecasting it")
    if query.intent == "what_if_price":
        notes.append("no new price was given; forecasting at the current price")
    forecasts = [run["forecast_product"].invoke({"unique_id": uid, "horizon": horizon}) for uid in ids]
    return _forecast_facts(scope, forecasts, query, notes)


def _forecast_facts(scope: Shelfcast, forecasts: list[Forecast], query: Query, notes: list[str]) -> Facts:
    sentences, numbers, rows = [], [], []
    for forecast in forecasts:
        numbers += forecast_numbers(forecast)
        rows += forecast_rows(forecast)
        sentence = _units_sentence(forecast)
        price = recent_price(scope, forecast.unique_id) if query.measure == "revenue" and forecast.unique_id else None
        if query.measure == "revenue":
            if price is None:
                notes.append(f"no price known for {forecast.title}: revenue cannot be computed, units shown")
            else:
                revenue = _total(forecast) * price
                numbers += [price, revenue, sum(forecast.lower) * price, sum(forecast.upper) * price]
                sentence += f", about ${revenue:,.0f} in revenue at the recent price of ${price:.2f}"
        sentences.append(sentence + f", answered by {forecast.path}.")
    return Facts(sentence=" ".join(sentences), numbers=numbers, table=rows, forecasts=forecasts,
                 charts=[(f, _history(scope, f)) for f in forecasts], notes=notes)


def _new_product(app: Shelfcast, query: Query) -> Facts:
    forecast: Forecast = tool(app, "forecast_new_product").invoke(
        {"title": query.title, "horizon": query.periods, **({"price": query.price} if query.price else {}),
         **({"category": query.category} if query.category else {})})
    sentence = (_units_sentence(forecast).replace("over the next", "in its first")
                + f", from {len(forecast.analogs)} similar launches, answered by {forecast.path}.")
    return Facts(sentence=sentence, numbers=forecast_numbers(forecast) + [len(forecast.analogs)],
                 table=forecast_rows(forecast), forecasts=[forecast], charts=[(forecast, pd.Series(dtype=float))])


def _compare_facts(scope: Shelfcast, result: Comparison) -> Facts:
    ranked = sorted(result.forecasts, key=_total, reverse=True)
    numbers = [v for f in result.forecasts for v in forecast_numbers(f)]
    lead, second = ranked[0], ranked[1]
    gap = _total(lead) - _total(second)
    numbers.append(gap)
    parts = "; ".join(f"{f.title} ({f.unique_id}) about {_total(f):,.0f} units" for f in ranked)
    sentence = (f"Over the next {_span(lead.horizon, lead.freq)}: {parts}. {lead.title} ({lead.unique_id}) sells the most, "
                f"about {gap:,.0f} units more than {second.title} ({second.unique_id}).")
    return Facts(sentence=sentence, numbers=numbers, table=[row for f in result.forecasts for row in forecast_rows(f)],
                 forecasts=result.forecasts, charts=[(f, _history(scope, f)) for f in result.forecasts])


def _reorder_facts(scope: Shelfcast, result: ReorderResult, query: Query) -> Facts:
    s, forecast = result.suggestion, result.forecast
    level = s.service_level * 100
    period = period_name(forecast.freq)
    sentence = (f"Order {s.order_quantity:,} units of {forecast.title} ({forecast.unique_id}) now: that covers "
                f"{_span(s.cover_periods, forecast.freq)} (lead time {s.cover_periods - 1} plus 1 {period} until the "
                f"next order) at a {level:.0f}% service level ({s.service_level_source}): order-up-to "
                f"{s.order_up_to:,.0f} minus {s.on_hand:,.0f} on hand; median demand over those {period}s is "
                f"{s.demand_median:,.0f}.")
    numbers = forecast_numbers(forecast) + [s.order_quantity, s.cover_periods, s.cover_periods - 1, 1, level,
                                            s.order_up_to, s.on_hand, s.demand_median]
    notes = [f"reorder method: {s.method}"]
    if query.lead_time is None:
        notes.append(f"no lead time given: assuming 1 {period}")
    table = [{"item": k, "value": v} for k, v in (("cover periods", s.cover_periods), ("service level", s.service_level),
                                                  ("median demand", s.demand_median), ("order-up-to", s.order_up_to),
                                                  ("on hand", s.on_hand), ("order quantity", s.order_quantity))]
    return Facts(sentence=sentence, numbers=numbers, table=table + forecast_rows(forecast), forecasts=[forecast],
                 charts=[(forecast, _history(scope, forecast))], notes=notes)


def _price_facts(scope: Shelfcast, result: PriceResult) -> Facts:
    w, forecast = result.what_if, result.forecast
    before, after = _total(forecast), sum(w.point)
    numbers = forecast_numbers(forecast) + [w.old_price, w.new_price, before, after, w.factor, sum(w.quantiles["0.1"]),
                                            sum(w.quantiles["0.9"])]
    if w.fit.elasticity is None:
        sentence = (f"For {forecast.title} ({forecast.unique_id}), {w.fit.note}: about {before:,.0f} units over the next "
                    f"{_span(forecast.horizon, forecast.freq)} at ${w.new_price:.2f} as at ${w.old_price:.2f}.")
    else:
        numbers += [w.fit.elasticity, w.fit.r2 or 0.0, w.fit.weeks]
        sentence = (f"At ${w.new_price:.2f} instead of ${w.old_price:.2f}, {forecast.title} ({forecast.unique_id}) "
                    f"would sell about {after:,.0f} units over the next {_span(forecast.horizon, forecast.freq)} "
                    f"instead of {before:,.0f} (price elasticity {w.fit.elasticity:.2f} from a {w.fit.source}-level "
                    f"fit over {_span(w.fit.weeks, forecast.freq)}, r2 {w.fit.r2:.2f}).")
    repriced = forecast.model_copy(update={"point": w.point, "quantiles": w.quantiles})
    return Facts(sentence=sentence, numbers=numbers, table=forecast_rows(forecast, w.factor), forecasts=[forecast],
                 charts=[(repriced, _history(scope, forecast))], notes=[f"price elasticity: {w.fit.note}"])


def _report(app: Shelfcast, query: Query, base: dict, notes: list[str], chart_dir: Path | None) -> Answer:
    group = resolve_group(scoped(app, query.store).dataset.catalog, query.category) if query.category else None
    report = tool(app, "trend_report").invoke({
        "horizon": query.horizon or REPORT_HORIZON, **({"store": query.store} if query.store else {}),
        **(group.model_dump(exclude_none=True) if group else {})})
    html = None
    if chart_dir is not None:
        path = Path(chart_dir) / f"report-{uuid.uuid4().hex[:8]}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_report(report, path)
        html = str(path)
    numbers = _report_numbers(report)
    return Answer(**base, status="answered", text=report.summary, written_by="template",
                  grounded=_grounded(report.summary, numbers), numbers=numbers, report_html=html, notes=notes)


def _report_numbers(report: Report) -> list[float]:
    """What the summary may cite: the statistics' citable numbers (names included) and the requested horizon."""
    return [*report.stats.citable(), float(report.request.horizon)]
