"""The LLM reads the question into a Query; the rules check it and take over when it cannot be trusted.

Only without a trained question tagger: with one, `understand` combines the
tagger's reading with the rules' (agent/ask/tagger.py) and never asks the
LLM, which read 13/99 questions of set D fully right where the tagger and
rules read 86/99, at 2-30 s per question against ~5-15 ms.

The model writes a fixed line format (prompts/query.v1.txt), constrained by
FORM_REGEX, which both backends enforce (the embedded automaton's regex subset;
vLLM's structured outputs take the same regex). The lines are parsed into a
`Query` by pydantic, so every field is bounded whatever the model wrote.

Policy: the rules' reading is used instead, with the reason recorded, when
- no backend is configured, or it fails (BackendError);
- the output does not match the form or does not validate as a Query;
- the LLM's reading contradicts what the question literally says, i.e.
  * the rules found an intent keyword ("compare", "reorder", ...) and the LLM
    chose another intent;
  * the rules read a horizon, store or price from the text and the LLM's value
    differs; the LLM gives a store or price where the rules found no marker
    ("store", "$", "dollars", "price"); or a horizon that appears nowhere in the
    question;
  * a product the LLM names has a word the question does not (invented or
    paraphrased: a retrieval query must be the user's words), or the rules
    split the question into products ("bagels and donuts") and the LLM's list
    differs in number, or drops words of the rules' product at its place.
Decision parameters (lead time, service level, stock on hand) always come from
the rules: they are literal numbers with their own patterns, and the form does
not ask a 135M model for them.

The LLM is not asked at all when the rules are sure (`sure`): an intent
keyword, what the intent is about (products, a title or a category), and a
horizon read literally (or none needed). An LLM reading of such a question is
accepted only if it agrees on every one of those, so asking cannot change the
answer, and it costs 10-30 s of embedded SmolLM2 per question. Measured on the
development set: the LLM's readings were accepted for 7/46 questions and the
final Query was right for 44/46 with them, 46/46 from the rules alone
(eval/results/bench_ask.txt).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ValidationError

from agent.ask.query import INTENTS, ParsedBy, Query
from agent.ask.rules import Lexicon, RuleParse, normalize, parse
from agent.ask.tagger import Tagged, Tagger, combine
from agent.forecast.prompting import load_template
from agent.safe_text import for_prompt
from agent.llm.base import BackendError, GenerationRequest, LLMBackend

PROMPT = "query"
PROMPT_ID = "query.v1"
MAX_QUESTION_CHARS = 300
_PRODUCT = r"[a-z0-9 .&'-]{1,40}"
FORM_REGEX = (
    rf" ({'|'.join(INTENTS)})\n"
    rf"products: (none|{_PRODUCT}(; {_PRODUCT}){{0,3}})\n"
    r"horizon: (none|[1-9]\d?)\n"
    r"store: (none|\d{1,6})\n"
    r"price: (none|\d{1,4}(\.\d{1,2})?)\n"
    r"measure: (quantity|revenue)\n"
)


class Understood(BaseModel):
    """The Query used, who produced it, and why the other reader was not used."""

    query: Query
    parsed_by: ParsedBy
    parse_note: str
    rules: RuleParse
    tagged: Tagged | None = None
    llm_query: Query | None = None
    raw: str | None = None


def render(question: str) -> str:
    # One line, bounded: a question cannot add lines that look like filled-in form fields.
    return load_template(PROMPT).format(question=for_prompt(question, MAX_QUESTION_CHARS))


def read_form(text: str) -> Query:
    """The model's lines -> Query (ValueError when the form is broken or a value is out of bounds)."""
    match = re.fullmatch(FORM_REGEX, " " + text.strip() + "\n")
    if not match:
        raise ValueError(f"output does not follow the form: {text[:120]!r}")
    # The prompt ends with "intent:", so the first line is the intent's value alone.
    first, *rest = text.strip().split("\n")
    fields = {"intent": first.strip(), **{key: value.strip() for key, value in (line.split(": ", 1) for line in rest)}}
    none = {key: value == "none" for key, value in fields.items()}
    products = [] if none["products"] else [p.strip() for p in fields["products"].split(";") if p.strip()]
    query: dict[str, object] = {"intent": fields["intent"], "measure": fields["measure"],
                                "horizon": None if none["horizon"] else int(fields["horizon"]),
                                "store": None if none["store"] else fields["store"],
                                "price": None if none["price"] else float(fields["price"])}
    if fields["intent"] == "new_product":
        query["title"] = products[0] if products else None
    elif fields["intent"] == "trend_report":
        query["category"] = " ".join(products)[:60] or None
    else:
        query["products"] = products
    try:
        return Query(**query)
    except ValidationError as exc:
        raise ValueError(f"output is out of bounds: {exc.errors()[0]['msg']}") from exc


def contradiction(llm: Query, rules: RuleParse, question: str) -> str | None:
    """Why the LLM's reading cannot be right given the question's literal evidence, or None."""
    text = normalize(question)
    if rules.intent_keyword and llm.intent != rules.query.intent:
        return f"intent {llm.intent} contradicts the keyword {rules.intent_keyword!r} ({rules.query.intent})"
    numbers = set(re.findall(r"\d+(?:\.\d+)?", text))
    for name in ("horizon", "store", "price"):
        mine, theirs = getattr(llm, name), getattr(rules.query, name)
        if name in rules.literals and mine != theirs:
            return f"{name} {mine} contradicts {rules.literals[name]!r} in the question"
        if name in ("store", "price") and name not in rules.literals and mine is not None:
            # Stores and prices are always written with their marker ("store 367", "$2.50", "5 dollars"),
            # which the rules read; without one, the model took some other number of the question.
            return f"{name} {_plain(mine)} but the question names no {name}"
        if name not in rules.literals and mine is not None and _plain(mine) not in numbers:
            return f"{name} {mine} appears nowhere in the question"
    words = _words(text)
    for product in llm.products + ([llm.title] if llm.title else []):
        if not _words(product) <= words:
            return f"product {product!r} has words the question does not ({', '.join(sorted(_words(product) - words))})"
    found = rules.query.products
    if found and llm.intent not in ("new_product", "trend_report"):
        if len(llm.products) != len(found):
            return f"{len(llm.products)} product(s) {llm.products} where the question names {len(found)} {found}"
        for mine, theirs in zip(llm.products, found, strict=True):
            if not _words(theirs) <= _words(mine):
                return f"product {mine!r} drops words of the question's {theirs!r}"
    return None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


def _plain(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sure(rules: RuleParse) -> bool:
    """The rules read the intent from a keyword, what it is about, and the horizon (when one is needed) literally."""
    q = rules.query
    about = bool(q.products or q.title or q.category or q.intent == "trend_report")
    return bool(rules.intent_keyword) and about and ("horizon" in rules.literals or q.intent in ("reorder", "trend_report"))


def understand(question: str, backend: LLMBackend | None, lexicon: Lexicon | None = None,
               timeout_s: float = 60.0, force_llm: bool = False, tagger: Tagger | None = None) -> Understood:
    """The question's Query. With a trained `tagger`: its reading combined with the rules' (tagger.combine; the
    LLM is not asked: on set D it was right for 13/99, the tagger for far more, agent/ask/tagger.py). Without
    one: the LLM's reading when it holds up, else the rules' (see the module notes). `force_llm` asks the LLM
    even when the rules are sure or a tagger is given (to measure it)."""
    rules = parse(question, lexicon)
    if tagger is not None and not force_llm:
        tagged = tagger.read([question])[0]
        name = tagger.path.name if tagger.path else "unsaved"
        return Understood(query=combine(tagged, rules, lexicon), parsed_by="tagger", rules=rules, tagged=tagged,
                          parse_note=f"parsed by the question tagger ({name}), with the values the rules read literally")
    if backend is None:
        return Understood(query=rules.query, parsed_by="rules", parse_note="no LLM backend: parsed by rules", rules=rules)
    if sure(rules) and not force_llm:
        return Understood(query=rules.query, parsed_by="rules", rules=rules, parse_note=(
            f"parsed by rules (keyword {rules.intent_keyword!r}, every field read literally); the LLM was not asked, "
            "its reading could only agree"))
    request = GenerationRequest(prompt=render(question), n=1, temperature=0.0, max_tokens=96, regex=FORM_REGEX,
                                timeout_s=timeout_s)
    try:
        generation = backend.generate(request)
    except BackendError as exc:
        return Understood(query=rules.query, parsed_by="rules", parse_note=f"LLM unavailable ({exc}): parsed by rules",
                          rules=rules)
    raw = generation.texts[0] if generation.texts else ""
    try:
        llm = read_form(raw)
    except ValueError as exc:
        return Understood(query=rules.query, parsed_by="rules", parse_note=f"LLM {exc}: parsed by rules", rules=rules,
                          raw=raw)
    why = contradiction(llm, rules, question)
    if why:
        return Understood(query=rules.query, parsed_by="rules", parse_note=f"LLM reading rejected: {why}; parsed by rules",
                          rules=rules, llm_query=llm, raw=raw)
    decisions = rules.query.model_dump(include={"lead_time", "service_level", "on_hand"})
    if rules.query.title and llm.intent == "new_product":
        decisions["title"] = rules.query.title  # a quoted title is the user's exact wording
    query = llm.model_copy(update=decisions)
    return Understood(query=query, parsed_by="llm", parse_note=f"parsed by the LLM ({generation.model}, {PROMPT_ID})",
                      rules=rules, llm_query=llm, raw=raw)
