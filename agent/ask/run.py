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
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from agent.ask.answer import Answer, Facts, draw, forecast_numbers, forecast_rows, narrate
from agent.ask.groups import RECENT_PERIODS, group_forecast, group_series, revenue_per_unit
from agent.ask.llm_parse import understand
from agent.ask.query import DEFAULT_HORIZON, Query
from agent.ask.resolve import Candidate, Resolution, resolve, resolve_group
from agent.ask.rules import Lexicon, normalize
from agent.ask.tagger import Tagger, newest, tagger_root
from agent.ask.tools import PriceResult, ReorderResult, recent_price, scoped, tool, tools
from agent.forecast.prompting import period_name
from agent.forecast.result import Forecast
from agent.grounding import check, values_in
from agent.pipeline import Shelfcast
from agent.prose import Prose
from agent.report import Report
from agent.report.render import write_report
from agent.retrieval.index import ProductIndex
from numeric.quantiles import QUANTILES, key

MAX_QUESTION_CHARS = 500
REPORT_HORIZON = 8
RECENT_SOLD_PERIODS = 8  # a product with no units in these periods has nothing a price change could act on
_lexicons: weakref.WeakKeyDictionary[ProductIndex, Lexicon] = weakref.WeakKeyDictionary()
_lexicon_lock = threading.Lock()
_taggers: dict[str, object] = {}  # the loaded tagger and its path
_tagger_lock = threading.Lock()


def lexicon(index: ProductIndex) -> Lexicon:
    """The catalog's words and texts: the rules never read one of its words as a misspelled keyword or framing."""
    with _lexicon_lock:
        if index not in _lexicons:
            _lexicons[index] = Lexicon(pd.unique(index.catalog["text"]))
        return _lexicons[index]


def question_tagger() -> Tagger | None:
    """The newest trained question tagger under tagger_root(), loaded once per artifact (None: none trained)."""
    path = newest(tagger_root())
    if path is None:
        return None
    with _tagger_lock:
        if _taggers.get("path") != path:
            _taggers.update(path=path, tagger=Tagger.load(path))
        return _taggers["tagger"]


def ask(app: Shelfcast, question: str, *, yes: bool = False, chart_dir: Path | None = None,
        narrate_with_llm: bool = False) -> Answer:
    """Answer one plain-language question from the data; ValueError/KeyError for bad input (unknown store...).

    `narrate_with_llm` lets the LLM rewrite the template sentence (agent.prose judges it). Off by default:
    SmolLM2-135M's sentences were accepted 0/7 times in eval/results/bench_ask_latency.txt, at ~20 s each."""
    if not question.strip():
        raise ValueError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question has {len(question)} characters; at most {MAX_QUESTION_CHARS} are read")
    reader = question_tagger()
    understood = understand(question, app.backend, lexicon(app.index), tagger=reader)
    query = understood.query
    notes = [understood.parse_note, *understood.rules.notes]
    if reader is None:
        notes.append(f"no question tagger is trained ({tagger_root()} has none): the rules read the question alone "
                     "(`shelfcast models train-tagger` trains one in a few minutes)")
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
        if not query.products:
            return _reply(base, "ask_back", "Which product do you mean? Name it (or give its id).", notes)
        resolutions = [resolve(scope, text, yes) for text in query.products]
        notes += [r.note for r in resolutions if r.note]
        usable = [r for r in resolutions if r.usable]
        waiting = [r for r in resolutions if r.status == "ambiguous"]
        if waiting:
            return _ask_back(base, waiting, notes)
        if not usable:
            return _reply(base, "no_match", " ".join(r.note[0].upper() + r.note[1:] + "." for r in resolutions), notes,
                          candidates={r.text: r.candidates for r in resolutions}, quoted=[r.text for r in resolutions])
        facts = _facts(scope, query, usable, question)
    if narrate_with_llm or app.backend is None:
        prose = narrate(facts, app.backend if narrate_with_llm else None)
    else:
        prose = Prose(text=facts.sentence, source="template", reason=(
            "template sentence (LLM sentences are off by default: 0/7 accepted in eval/results/bench_ask_latency.txt; "
            "--llm-sentence turns them on)"))
    notes += [*facts.notes, prose.reason]
    charts = draw(facts.charts, chart_dir)
    return Answer(**base, status="answered", text=prose.text, written_by=prose.source,
                  grounded=_grounded(prose.text, facts.numbers), numbers=facts.numbers, table=facts.table,
                  chart=charts[0] if charts else None, charts=charts, notes=notes, forecasts=facts.forecasts)


def _grounded(text: str, numbers: list[float]) -> bool:
    return check(text, numbers).ok


def _reply(base: dict, status: str, text: str, notes: list[str],
           candidates: dict[str, list[Candidate]] | None = None, quoted: Iterable[str] = ()) -> Answer:
    """A reply without a forecast; it may cite only the candidates' ids, the sizes in their titles and the numbers
    of the `quoted` texts (the asker's own words or group names it repeats)."""
    found = [c for group in (candidates or {}).values() for c in group]
    numbers = [value for c in found for value in values_in(f"{c.title} {c.unique_id}")]
    numbers += [value for words in quoted for value in values_in(words)]
    return Answer(**base, status=status, text=text, written_by="template", grounded=_grounded(text, numbers),
                  numbers=numbers, notes=notes, candidates=candidates or {})


def _ask_back(base: dict, waiting: list[Resolution], notes: list[str]) -> Answer:
    parts = []
    for r in waiting:
        listed = ", ".join(f"{c.title} ({c.unique_id})" for c in r.candidates)
        parts.append(f"{r.text!r} could be all of {r.group.name} (its best sellers: {listed})" if r.group
                     else f"{r.text!r} could be {listed}")
    text = ("Which did you mean? " + "; ".join(parts)
            + ". Ask again with a product id, or with --yes to take the first reading.")
    return _reply(base, "ask_back", text, notes, candidates={r.text: r.candidates for r in waiting},
                  quoted=[r.group.name for r in waiting if r.group] + [r.text for r in waiting])


def _total(forecast: Forecast) -> float:
    return float(sum(forecast.point))


def _span(count: float, freq: str) -> str:
    """A count of the data's periods in words: '4 weeks', '1 day', '3 months' (the data contract allows all three)."""
    name = period_name(freq)
    return f"{count:g} {name}" + ("" if count == 1 else "s")


def _units_sentence(forecast: Forecast, factor: float = 1.0) -> str:
    """'Title (id): about N units over the next 4 weeks (80% interval a to b)'; per-period bounds summed (conservative)."""
    who = f"{forecast.title} ({forecast.unique_id})" if forecast.unique_id else forecast.title
    return (f"{who}: about {_total(forecast) * factor:,.0f} unit(s) over the next {_span(forecast.horizon, forecast.freq)} "
            f"(80% interval {sum(forecast.lower) * factor:,.0f} to {sum(forecast.upper) * factor:,.0f})")


class _Answered:
    """One resolved text and its forecast: a product (chain) or a catalog group (AutoETS on the summed units)."""

    def __init__(self, scope: Shelfcast, resolution: Resolution, horizon: int) -> None:
        self.resolution = resolution
        self.group = resolution.group if resolution.status == "group" else None
        if self.group is not None:
            self.forecast = group_forecast(scope.dataset, self.group, horizon, scope.settings.ceiling_factor)
            self.history = group_series(scope.dataset, self.group.unique_ids)
            self.price = revenue_per_unit(scope.dataset, self.group.unique_ids)
        else:
            self.forecast = tool(scope, "forecast_product").invoke({"unique_id": resolution.unique_id,
                                                                    "horizon": horizon})
            self.history = scope.dataset.history(resolution.unique_id)
            self.price = recent_price(scope, resolution.unique_id)
        self.total = _total(self.forecast)

    @property
    def chart(self) -> tuple[Forecast, pd.Series, str]:
        """What to draw, and what it is: the product's id, or the group's sum."""
        what = f"sum of {len(self.group.unique_ids):,} products" if self.group else str(self.forecast.unique_id)
        return self.forecast, self.history, what

    @property
    def subjects(self) -> list[str]:
        names = [self.forecast.title, self.resolution.text]
        return names + ([self.forecast.unique_id] if self.forecast.unique_id else [])

    def sentence(self) -> tuple[str, list[float]]:
        """The units sentence (a group adds its size and best sellers, split top-down) and its numbers."""
        numbers = forecast_numbers(self.forecast)
        text = _units_sentence(self.forecast)
        if self.group is None:
            return text + f", answered by {self.forecast.path}", numbers
        g = self.group
        top = "; ".join(f"{p.title} ({p.unique_id}) about {p.share * self.total:,.0f}" for p in g.top[:3])
        numbers += [len(g.unique_ids), RECENT_PERIODS, *(p.share * self.total for p in g.top),
                    *(float(p.unique_id) for p in g.top if p.unique_id.isdigit()),
                    *(v for p in g.top for v in values_in(f"{p.title} {g.name}"))]
        text = text.replace(f"{g.name}:", f"All {g.label} ({g.name}, {len(g.unique_ids):,} products):", 1)
        period = period_name(self.forecast.freq)
        return (f"{text}, from AutoETS on their summed units per {period}; best sellers, split by their share of the "
                f"last {_span(RECENT_PERIODS, self.forecast.freq)}: {top}"), numbers

    def revenue(self, notes: list[str]) -> tuple[str, list[float]]:
        if self.price is None:
            notes.append(f"no price known for {self.forecast.title}: revenue cannot be computed, units shown")
            return "", []
        revenue = self.total * self.price
        low, high = sum(self.forecast.lower) * self.price, sum(self.forecast.upper) * self.price
        what = "the units-weighted recent price" if self.group is not None else "the recent price"
        return (f", about ${revenue:,.0f} in revenue (${low:,.0f} to ${high:,.0f}) at {what} of ${self.price:.2f}",
                [self.price, revenue, low, high])


def _facts(scope: Shelfcast, query: Query, resolutions: list[Resolution], question: str) -> Facts:
    """Run the tool the intent names on the resolved products or groups and state what it computed."""
    horizon = query.periods
    run = {t.name: t for t in tools(scope)}
    if query.intent in ("reorder", "what_if_price") and (query.intent == "reorder" or query.price is not None):
        uid, notes = _one_product(scope, resolutions[0], query.price if query.intent == "what_if_price" else None)
        if query.intent == "reorder":
            result_r: ReorderResult = run["reorder_suggestion"].invoke(
                {"unique_id": uid, "horizon": horizon, "lead_time": query.lead_time or 1,
                 **({"service_level": query.service_level} if query.service_level else {}),
                 **({"on_hand": query.on_hand} if query.on_hand is not None else {})})
            facts = _reorder_facts(scope, result_r, query)
        else:
            facts = _price_facts(scope, run["price_what_if"].invoke({"unique_id": uid, "new_price": query.price,
                                                                     "horizon": horizon}), question)
        return facts.model_copy(update={"notes": notes + facts.notes})
    notes = []
    if query.intent == "compare" and len(resolutions) < 2:
        notes.append("only one product was found, so there is nothing to compare; forecasting it")
    if query.intent == "what_if_price":
        notes.append("no new price was given; forecasting at the current price")
    answered = [_Answered(scope, r, horizon) for r in resolutions]
    if query.intent == "compare" and len(answered) >= 2:
        return _compare_facts(answered, query, notes)
    return _forecast_facts(answered, query, notes)


def _one_product(scope: Shelfcast, resolution: Resolution, price: float | None) -> tuple[str, list[str]]:
    """Reorders and price changes are per product: a group stands for its best seller (priced nearest `price`)."""
    if resolution.status != "group" or resolution.group is None:
        return str(resolution.unique_id), []
    group = resolution.group
    pick = group.top[0]
    how = f"its best seller over the last {RECENT_PERIODS} periods"
    if price is not None:
        priced = [(p, recent_price(scope, p.unique_id)) for p in group.top]
        priced = [(p, pr) for p, pr in priced if pr is not None]
        if priced:
            pick = min(priced, key=lambda pair: abs(pair[1] - price))[0]
            how = f"of its {len(group.top)} best sellers, the one whose recent price is nearest ${price:.2f}"
    return pick.unique_id, [f"{resolution.text!r} is {group.name}; this is per product, so it is {how}: "
                            f"{pick.title} ({pick.unique_id})"]


def _forecast_facts(answered: list[_Answered], query: Query, notes: list[str]) -> Facts:
    sentences, numbers, rows = [], [], []
    for item in answered:
        sentence, cited = item.sentence()
        numbers += cited
        rows += forecast_rows(item.forecast)
        if query.measure == "revenue":
            extra, cited = item.revenue(notes)
            sentence += extra
            numbers += cited
        sentences.append(sentence + ".")
    main = [item.total for item in answered]
    return Facts(sentence=" ".join(sentences), numbers=numbers, table=rows,
                 forecasts=[item.forecast for item in answered],
                 charts=[item.chart for item in answered], notes=notes,
                 subjects=[s for item in answered for s in item.subjects], main=main, horizon=query.periods)


def _new_product(app: Shelfcast, query: Query) -> Facts:
    forecast: Forecast = tool(app, "forecast_new_product").invoke(
        {"title": query.title, "horizon": query.periods, **({"price": query.price} if query.price else {}),
         **({"category": query.category} if query.category else {})})
    sentence = (_units_sentence(forecast).replace(forecast.title, f"The new product {forecast.title!r}", 1)
                .replace("over the next", "in its first")
                + f", from {len(forecast.analogs)} similar launches, answered by {forecast.path}")
    numbers = forecast_numbers(forecast) + [len(forecast.analogs)]
    notes = []
    if query.measure == "revenue":
        price = query.price or revenue_per_unit(app.dataset, forecast.analogs)
        if price is None:
            notes.append("no price given and none known for its analogs: revenue cannot be computed, units shown")
        else:
            revenue = _total(forecast) * price
            low, high = sum(forecast.lower) * price, sum(forecast.upper) * price
            source = "the given price" if query.price else "its analogs' units-weighted recent price"
            sentence += f", about ${revenue:,.0f} in revenue (${low:,.0f} to ${high:,.0f}) at {source} of ${price:.2f}"
            numbers += [price, revenue, low, high]
    return Facts(sentence=sentence + ".", numbers=numbers, table=forecast_rows(forecast), forecasts=[forecast],
                 charts=[(forecast, pd.Series(dtype=float), "new product")], notes=notes, subjects=[forecast.title],
                 main=[_total(forecast)], horizon=forecast.horizon)


def _compare_facts(answered: list[_Answered], query: Query, notes: list[str]) -> Facts:
    ranked = sorted(answered, key=lambda item: item.total, reverse=True)
    numbers = [v for item in answered for v in forecast_numbers(item.forecast)]
    lead, second = ranked[0], ranked[1]
    gap = lead.total - second.total
    numbers.append(gap)

    def name(item: _Answered) -> str:
        f = item.forecast
        return f"{f.title} ({f.unique_id})" if f.unique_id else f"{item.resolution.text} ({f.title})"

    parts = []
    for item in ranked:
        part = f"{name(item)} about {item.total:,.0f} units"
        if query.measure == "revenue":
            extra, cited = item.revenue(notes)
            part += extra
            numbers += cited
        parts.append(part)
    sentence = (f"Over the next {_span(lead.forecast.horizon, lead.forecast.freq)}: {'; '.join(parts)}. {name(lead)} sells the most, "
                f"about {gap:,.0f} units more than {name(second)}.")
    groups = [item for item in answered if item.group is not None]
    if groups:
        notes.append("groups are forecast as one summed series (AutoETS); products by the chain: "
                     + "; ".join(f"{item.resolution.text} = {item.group.name}" for item in groups if item.group))
    return Facts(sentence=sentence, numbers=numbers,
                 table=[row for item in answered for row in forecast_rows(item.forecast)],
                 forecasts=[item.forecast for item in answered],
                 charts=[item.chart for item in answered], notes=notes,
                 subjects=[s for s in lead.subjects], main=[item.total for item in answered] + [gap],
                 horizon=query.periods)


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
                 charts=[(forecast, scope.dataset.history(forecast.unique_id), str(forecast.unique_id))], notes=notes,
                 subjects=[forecast.title, str(forecast.unique_id)], main=[float(s.order_quantity)],
                 horizon=s.cover_periods)


LOWER_WORDS = re.compile(r"\b(drop|dropp?ed|cut|lower|lowered|reduce|reduced|discount|cheaper|markdown|mark down)\b")
HIGHER_WORDS = re.compile(r"\b(raise|raised|increase|increased|up|higher|more expensive|hike)\b")


def _price_facts(scope: Shelfcast, result: PriceResult, question: str) -> Facts:
    """The re-priced forecast, the change's real direction (from the recent price), and a product that sold nothing."""
    w, forecast = result.what_if, result.forecast
    before, after = _total(forecast), sum(w.point)
    numbers = forecast_numbers(forecast) + [w.old_price, w.new_price, before, after, w.factor,
                                            sum(w.quantiles[key(QUANTILES[0])]), sum(w.quantiles[key(QUANTILES[-1])])]
    notes = [f"price elasticity: {w.fit.note}"]
    change = "a cut" if w.new_price < w.old_price else "a rise" if w.new_price > w.old_price else "no change"
    said = normalize(question)
    if (change == "a rise" and LOWER_WORDS.search(said)) or (change == "a cut" and HIGHER_WORDS.search(said)):
        notes.append(f"the question speaks of the other direction, but ${w.new_price:.2f} against the recent price "
                     f"${w.old_price:.2f} is {change}")
    who = f"{forecast.title} ({forecast.unique_id})"
    history = scope.dataset.history(forecast.unique_id)
    recent = history.iloc[-RECENT_SOLD_PERIODS:].tolist()
    subjects, main = [forecast.title, str(forecast.unique_id)], [after]
    if recent and sum(recent) == 0:
        sentence = (f"{who} sold nothing in the last {_span(len(recent), forecast.freq)}, so a price of ${w.new_price:.2f} "
                    f"(recent price ${w.old_price:.2f}) has nothing to act on: the forecast stays about {after:,.0f} "
                    f"units over the next {_span(forecast.horizon, forecast.freq)}.")
        numbers.append(len(recent))
    elif w.fit.elasticity is None:
        sentence = (f"For {who}, {change} from the recent ${w.old_price:.2f} to ${w.new_price:.2f}: {w.fit.note}, so "
                    f"the forecast stays about {before:,.0f} units over the next {_span(forecast.horizon, forecast.freq)}.")
    else:
        numbers += [w.fit.elasticity, w.fit.r2 or 0.0, w.fit.weeks]
        sentence = (f"At ${w.new_price:.2f}, {change} from the recent ${w.old_price:.2f}, {who} would sell about "
                    f"{after:,.0f} units over the next {_span(forecast.horizon, forecast.freq)} instead of "
                    f"{before:,.0f} (price elasticity {w.fit.elasticity:.2f} from a {w.fit.source}-level fit over "
                    f"{_span(w.fit.weeks, forecast.freq)}, "
                    f"r2 {w.fit.r2:.2f}).")
    repriced = forecast.model_copy(update={"point": w.point, "quantiles": w.quantiles})
    return Facts(sentence=sentence, numbers=numbers, table=forecast_rows(forecast, w.factor), forecasts=[forecast],
                 charts=[(repriced, history, f"{forecast.unique_id} at ${w.new_price:.2f}")], notes=notes,
                 subjects=subjects,
                 main=main, horizon=forecast.horizon)


def _report(app: Shelfcast, query: Query, base: dict, notes: list[str], chart_dir: Path | None) -> Answer:
    group = resolve_group(scoped(app, query.store), query.category) if query.category else None
    if group is not None and group.note:
        notes.append(group.note)
    report = tool(app, "trend_report").invoke({
        "horizon": query.horizon or REPORT_HORIZON, **({"store": query.store} if query.store else {}),
        **(group.model_dump(exclude_none=True, exclude={"note"}) if group else {})})
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
