"""The deterministic question parser: regexes and a keyword vocabulary, always available, fast.

Its roles: the reader of literal values for every other reader (one reader
per field, `_READERS`; `span_value` reads a span the question tagger marked
with the same readers), the parser `ask` uses alone when no question tagger is
trained (agent/ask/tagger.py), and the evidence the LLM's reading is checked
against (llm_parse.py). Alone it does not generalize: each blind question set
landed at about two thirds fully right (set C 65%, set D 68%, below); the
tagger combined with these readers read set D 86/99 (tagger.combine).
The steps, in order:

1. normalize: lower case, number words to digits ("two weeks" -> "2 weeks");
2. take out the literal parameters, each with its own pattern, removing the
   matched text so its words do not end up in a product name: lead time,
   service level, stock on hand, store, product id, price, horizon;
3. intent from keywords (exact phrases, then misspellings of single keywords:
   letters added, dropped, changed or swapped, one in a word of up to six
   letters, two in a longer one, first letter kept, so "forcast" and "reoder"
   still count but "salsa" is not "sales"; a word the catalog uses, such as
   "lunch", is never "corrected" into a keyword, like "launch");
4. what is left, minus question words, is the product text; it is split into
   several products on "and", "vs", commas, etc., and at clause ends ("?",
   ":", " - ", a full stop), except an "and" inside a catalog name ("mac and
   cheese": Macaroni & Cheese);
5. framing words are trimmed from the end of each product text by frequency
   (Lexicon.framing: common English, rare in the catalog's texts), so "go out
   the door" or "we're down to" need no word list.

Question words are closed classes, not a list of sentences: STOPWORDS (function
words, periods, units), FRAMING (words that frame a request, with every
inflection of its verbs: "raising", "summarize", "suggestion", "typical"; none
of them is a word of the built-in catalog's texts, tests/test_ask_rules.py
checks it, so no product word is lost), and a measure before "of" ("pounds of
ground beef", "cases of water"). Set B (60 questions written after the rules
and scored blind) lost 9 questions to these classes and to a period after
"first" or a misspelled "next" ("nxt month"). Set C (93, written blind) then
scored 60/93 fully right, 83/93 intents: word lists did not generalize. Its
misses were fixed as mechanisms (step 5, clause ends, cue classes such as
"which ..., X or Y", field phrasings): 93/93 replayed, on data now seen.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, Field
from rapidfuzz import process
from rapidfuzz.distance import OSA
from wordfreq import zipf_frequency

from agent.ask.query import MAX_HORIZON, MAX_PRODUCTS, Intent, Measure, Query

# Intent keywords, checked in this order of precedence: a question that mentions a
# launch and a price is about the new product; a reorder question names a lead time
# and a horizon; "what if the price..." beats a plain comparison.
INTENT_PHRASES: dict[Intent, tuple[str, ...]] = {
    "new_product": ("new product", "new item", "brand new", "a new", "launch", "launching", "launched", "introduce",
                    "introducing", "never sold", "not sold yet", "debut", "roll out", "start selling", "start carrying",
                    "never carried", "never stocked", "never had", "new sku", "adding", "start stocking"),
    "reorder": ("reorder", "re-order", "restock", "replenish", "how much should we order", "how many should we order",
                "how much should i order", "how many should i order", "how much to order", "how many to order",
                "order quantity", "stock up", "safety stock", "lead time", "service level", "purchase order",
                "should we order", "should i order", "need to order", "order more", "to order", "replenishment",
                "should my order be", "should our order be", "should the order be", "order size"),
    "what_if_price": ("what if the price", "price", "priced", "pricing", "discount", "markdown", "mark down",
                      "cheaper", "more expensive", "elasticity", "raise the price", "cut the price", "charge", "charged",
                      "charging"),
    "compare": ("compare", "comparison", "versus", "vs", "which sells more", "which will sell more",
                "which one sells more", "difference between", "outsell", "side by side", "sells better",
                "sell better", "sells best", "move more", "moves more", "bring in more", "brings in more",
                "make more", "stack up", "stacks up", "head to head", "rank", "ranking", "outsells"),
    "trend_report": ("trend", "trends", "trending", "report", "overview", "risers", "fallers", "top sellers",
                     "movers", "what is selling", "growing", "declining", "summary", "doing", "rising", "falling", "slipping",
                     "sliding", "what hot", "what is hot"),
    "forecast": ("forecast", "predict", "prediction", "projection", "how many", "how much", "demand", "expect",
                 "sell", "sales", "outlook"),
}
REVENUE_WORDS = ("revenue", "dollars", "dollar sales", "money", "turnover", "takings", "sales value", "income", "earn",
                 "dollar-wise", "dollarwise", "dollar value",
                 "dollar forecast", "ring up", "rings up", "in $", "$ value", "$ sales")
# "which will move more, pretzels or popcorn?": a "which" question between alternatives compares them.
_WHICH_OR = re.compile(r"\bwhich\b.*\bor\b")
# Single keywords that close misspellings may stand for (phrases must be written out).
_FUZZY_KEYWORDS = sorted({p for phrases in INTENT_PHRASES.values() for p in phrases if " " not in p and len(p) >= 5}
                         | {w for w in REVENUE_WORDS if " " not in w and len(w) >= 5})

STOPWORDS = frozenset("""
how many much what whats which who will would could can should shall do does did is are was were be been being am
the a an of for in on at to by from over during within into next coming following upcoming this these those that
our we i my me you your us they them please give show tell let know estimate estimated expect expected expecting
sell sold selling sells sales sale units unit forecast forecasts forecasting predict predicted prediction demand
quantity volume weeks week months month days day quarter year years period periods horizon store total about
approximately roughly around get need want like going gonna there their it its per each every buy bought move
moving ahead future later then than up if when shop location approx likely probably going some any all also just
only do you think thinking lot lots kind sort type product products item items sku id help tell me forecasted
set change make cost costs drop dropped raise raised lower lowered increase cut charge charged goes go went new
instead rather now currently today happens happen happened first initial
put suppose supposing assume assuming imagine number figure look looks looking through end bring brings brought
effect effects impact write doing lately recently target aim goal shelf shelves please projected projection
gallons gallon loaves loaf cases case cartons carton boxes box bags bag bottles cans packs jars dozen units
more better best worse make made go goes going take takes took deliveries delivery supplier needs arrive
have has had having been out
""".split())


def inflections(verb: str) -> set[str]:
    """A regular verb's forms: 'raise' -> raises, raised, raising; 'cut' -> cuts, cutting; 'summarize' -> ..."""
    stem = verb[:-1] if verb.endswith("e") else verb
    doubled = verb + verb[-1] if re.search(r"(?:^|[^aeiou])[aeiou][^aeiouwxy]$", verb) and len(verb) <= 4 else verb
    plural = verb + "es" if verb.endswith(("s", "sh", "ch", "x", "z")) else verb[:-1] + "ies" if re.search(
        r"[^aeiou]y$", verb) else verb + "s"
    past = verb + "d" if verb.endswith("e") else verb[:-1] + "ied" if re.search(r"[^aeiou]y$", verb) else doubled + "ed"
    return {verb, plural, past, (stem if verb.endswith("e") else doubled) + "ing"}


# Words that frame a request and never name a product (none is a catalog word; see the module notes).
_FRAMING_VERBS = """raise lower increase decrease reduce hike bump slash adjust change sell buy expect predict
forecast estimate project summarize summarise suggest recommend advise hurt affect impact help want think show give
tell compare rank list happen look check order carry""".split()
FRAMING = frozenset({form for verb in _FRAMING_VERBS for form in inflections(verb)} | set("""
typical usual normal average ordinary suggestion suggestions recommendation recommendations advice estimates
outlook numbers figures guess idea picture breakdown rundown update way top biggest largest overall possible
expected projected anticipated needed required""".split()))
# A measure before "of" is how the amount is counted, not the product: "pounds of ground beef", "cases of water".
_MEASURE_OF = re.compile(r"\b(?:pounds?|lbs?|kilos?|kg|ounces?|oz|grams?|liters?|litres?|gallons?|pieces?|servings?|"
                         r"portions?|bunch(?:es)?|heads?|cases?|boxe?s?|bags?|bottles?|cans?|packs?|jars?|cartons?|tubs?|tins?|"
                         r"containers?|packages?|pints?|quarts?|sticks?|sacks?|pouch(?:es)?|"
                         r"loa(?:f|ves)|crates?|pallets?|trays?|units?|dozens?|worth)\s+of\b")
_NEXT_WORDS = ("next", "coming", "following", "upcoming")


def misspelling(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` misspells (None: none; the word itself is no misspelling): edits are letters added,
    dropped, changed or two swapped; a word of up to six letters may have one, a longer word two. difflib's
    ratio cutoff of 0.8 took "salsa" for "sales"; two edits in six letters took "bagles" and "sliced" for "sales"
    and "priced", and one edit in seven missed "foracst". The first letter must agree (typing slips rarely hit
    it; "honey" is no misspelled "money")."""
    same_start = [choice for choice in choices if choice[:1] == word[:1]]
    found = process.extractOne(word, same_start, scorer=OSA.distance, score_cutoff=1 if len(word) <= 6 else 2)
    return found[0] if found is not None and found[0] != word else None


class Lexicon:
    """The catalog's words, counted, and its texts: the evidence of what a product word is.

    A word at the edge of a product text is framing, not product, when it is common English (Zipf frequency
    >= 4.5 in wordfreq, i.e. at least ~30 per million words: "door", "truck", "head", "down", "start") and at
    least five times rarer in the catalog's texts than in English. Measured on the built-in catalog: "door",
    "head", "stock" and "down" occur 2-4 times in its 143k words (0.8-1.4 Zipf below English) and are trimmed;
    "snow" (0.5 below, "snow peas") and every word of "unicorn steaks", "snow tires", "lavender candles" are
    kept, so unknown products stay as written and the answer can say nothing matched. Without a catalog
    (`Lexicon()`) nothing is trimmed on frequency."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.text = " | ".join(texts).lower()
        self.counts = Counter(re.findall(r"[a-z]+", self.text))
        self.total = sum(self.counts.values())
        self.words = frozenset(word for word in self.counts if len(word) >= 3)

    def framing(self, word: str) -> bool:
        """A common English word the catalog hardly uses (see the class notes); False without a catalog."""
        if not self.total or not word.isalpha():
            return False
        english = zipf_frequency(word, "en")
        # The catalog may use another number of the word ("beers", "tomato"): count the word's forms.
        count = sum(self.counts.get(form, 0) for form in {word, word + "s", word + "es", word.removesuffix("s"),
                                                            word.removesuffix("es")})
        catalog = math.log10(count / self.total * 1e9) if count else 0.0
        return english >= 4.5 and catalog < english - math.log10(5)

    def has_phrase(self, words: list[str], abbreviated: bool = True) -> bool:
        """The catalog has these words in a row, each possibly abbreviated ("mac and cheese": macaroni & cheese)."""
        if not self.text or not words:
            return False
        tail = "[a-z]*" if abbreviated else r"(?![a-z])"
        pattern = " ".join(r"(?:and|&)" if word in ("and", "&") else re.escape(word) + tail for word in words)
        return re.search(r"(?<![a-z])" + pattern.replace(" (?:and|&) ", r"\s*(?:and|&)\s*"), self.text) is not None


_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "zero": 0,
    "a couple of": 2, "a couple": 2, "couple of": 2,
}
_UNIT_WEEKS = {"day": 1 / 7, "d": 1 / 7, "week": 1, "wk": 1, "w": 1, "fortnight": 2, "month": 4, "mo": 4, "quarter": 13, "year": 52}
_QUALIFIER = r"(?:a|the|next|this|coming|following|upcoming|first)"
_PERIOD_PHRASES = {  # periods without a number: "next month" is 4 weekly periods, "its first quarter" 13
    r"\bfortnight\b": 2, rf"\b{_QUALIFIER} quarter\b": 13,
    rf"\b{_QUALIFIER} year\b": 52, rf"\b{_QUALIFIER} (?:month|mo)\b": 4,
    rf"\b{_QUALIFIER} (?:week|wk)\b": 1, r"\btomorrow\b": 1,
}
NUMBER = r"(\d+(?:\.\d+)?)"
_LEAD_UNIT = r"(days?|weeks?|wks?|w|d|fortnights?|months?)"
_AFTER_ORDER = r" after (?:we |i |you )?(?:order|plac)\w*"
_PATTERNS = {
    "lead_time": re.compile(rf"\b(?:lead[ -]?times?|lt|turnaround)\s*(?:of|is|=|:)?\s*{NUMBER}\s*{_LEAD_UNIT}?"
                            rf"|\b{NUMBER}[ -]?{_LEAD_UNIT}[ -]lead[ -]?times?\b"
                            # "deliveries take 3 days", "the supplier needs 2 weeks", "the truck shows up 1 week"
                            rf"|\b(?:deliver\w*|supplier\w*|vendors?|shipping|shipment\w*|arriv\w*|takes?|trucks?|vans?)\b"
                            rf"[a-z ]{{0,20}}?{NUMBER}\s*{_LEAD_UNIT}\b(?:{_AFTER_ORDER})?"
                            # "9 days after ordering", "1 week after we order"
                            rf"|\b{NUMBER}\s*{_LEAD_UNIT}{_AFTER_ORDER}"),
    "service_level": re.compile(rf"(?:\b{NUMBER}\s*%\s*(?:service(?: level)?|fill rate|in[- ]stock)|"
                                rf"\b(?:service level|sl)\s*(?:of|is|=|:)?\s*(\d+(?:\.\d+)?\s*%|0?\.\d+)"
                                rf"|\bsl\s*[:=]?\s*(\d\d(?:\.\d+)?)\b)"),
    # A stock-out risk is the complement of a service level: "a 5% stock-out risk is acceptable" is 95%.
    "stockout_risk": re.compile(rf"\b{NUMBER}\s*%\s*(?:stock[- ]?outs?|out[- ]of[- ]stock)\s*(?:risk|chance|probability)"
                                rf"(?:\s+is\s+(?:acceptable|ok|okay|fine))?|\b{NUMBER}\s*%\s*(?:risk|chance|probability) of "
                                rf"(?:a |running |being )?(?:stock(?:ing)?[- ]?outs?|out[- ]of[- ]stock|running out)"),
    "on_hand": re.compile(rf"(?:\b(?:have|holding|hold|with|got)\s+)?{NUMBER}\s*(?:units?\s*)?"
                          rf"(?:on hand|in stock|left|in (?:the )?(?:back(?: ?room)?|stock ?room|storage|warehouse))\b"
                          rf"(?: on the shel(?:f|ves))?|\b(?:have|holding|hold|got)\s+{NUMBER}\s+units?\b"
                          # "we're down to 8", "we have 60 tubs of ...": stock owned, with or without its unit
                          rf"|\bdown to (\d+)\b(?!\.\d)|\b(?:have|holding|hold|got)\s+{NUMBER}\b(?!\s*(?:%|days?|weeks?))"
                          # shorthand: "soh 75", "on hand: 40"
                          rf"|\b(?:soh|on hand)\s*[:=]?\s*{NUMBER}\b"),
    "nothing_on_hand": re.compile(r"\b(?:none|nothing)\s+(?:on hand|in stock|left)\b"),
    # What is left of a stock phrase once the number was read away from it ("60 tubs of sour cream in stock").
    "stock_words": re.compile(r"\b(?:on hand|in stock|on the shel(?:f|ves))\b"),
    "store": re.compile(r"\b(?:store|shop|location)\s*(?:#|no\.?|number)?\s*(\d{1,12})\b"),
    "product_id": re.compile(r"\b(?:product|item|sku|id)\s*(?:#|id)?\s*(\d{5,12})\b"),
    "price": re.compile(rf"(?:\$\s*{NUMBER}|\b{NUMBER}\s*(?:dollars|usd|bucks)\b|\b{NUMBER}\s*(cents?|¢)|"
                        rf"\bprice\s*(?:of|to|at|=|is|becomes|goes to)?\s*{NUMBER}(?:\s*(?:cents?\b|¢)|\b)|"
                        # "to 1.99", "is 1.99", "@ 1.99": a two-decimal amount after a preposition reads as a price.
                        rf"\b(?:to|at|for|of|is|=)\s+(\d+\.\d{{2}})\b|@\s*\$?\s*{NUMBER})"),
    "horizon": re.compile(rf"\b{NUMBER}\s*[- ]?(days?|weeks?|wks?|w|months?|mos?|quarters?|years?)\b"),
    "horizon_word": re.compile(r"\bhorizon\s*(?:of|to|=|:|is)?\s*(\d+)\b"),
    # "the floral department", "in the bakery section": the words between "the" and the word naming the level.
    "category": re.compile(r"\bthe ((?:(?!\bthe\b)[a-z &/-]){2,40}?) (?:category|department|dept|aisle|section)\b"
                           r"|\b(?:category|department|dept)\s*:?\s*([a-z][a-z &/-]{1,40})"),
    "quoted": re.compile(r"[\"“]([^\"”]{1,120})[\"”]|(?<![a-z])'([^']{3,120})'(?![a-z])"),
}
_BARE_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.%]|\s*(?:oz|ct|lb|lbs|pk|pack|g|kg|ml|l|gal|in)\b)")
# Separators between products, and clause ends ("?", ":", " - ", a full stop): a product name spans neither.
_SPLIT = re.compile(r"\s*(?:,|;|\bvs\.?(?=\s)|\bversus\b|\bagainst\b|\bcompared (?:to|with)\b|\band\b|\bor\b|&|"
                    r"\bwith\b|\bthan\b|\boutsells?\b|[?!:]|\s-+\s|\.(?=\s|$))\s*")


class RuleParse(BaseModel):
    """The rules' Query, the literal evidence behind it, and what they changed (for the answer's notes)."""

    query: Query
    intent_keyword: str | None = Field(None, description="The keyword that decided the intent (None: default).")
    literals: dict[str, str] = Field(default_factory=dict, description="Field -> the text it was read from.")
    notes: list[str] = Field(default_factory=list)


def normalize(question: str) -> str:
    """Lower case, straight quotes, one space, number words as digits ('twenty six' -> '26')."""
    text = question.replace("’", "'").replace("‘", "'").lower()
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"n't\b", " not", text)
    text = re.sub(r"(?<=[a-z])'(?:s|re|ll|ve|d|m)\b", "", text)  # "what's" -> "what", "bagel's" -> "bagel"
    for words, value in sorted(_WORD_NUMBERS.items(), key=lambda item: -len(item[0])):
        text = re.sub(rf"\b{words}\b", str(value), text)
    # "20 6" and "20-6" came from "twenty six", "twenty-six": join tens and units; then dozens.
    text = re.sub(r"\b([2-9]0)[ -]([1-9])\b", lambda m: str(int(m.group(1)) + int(m.group(2))), text)
    text = re.sub(r"\bhalf (?:an? )?dozen\b", "6", text)
    text = re.sub(r"\b(\d+) dozen\b", lambda m: str(int(m.group(1)) * 12), text)
    text = re.sub(r"\b(?:an? )?dozen\b", "12", text)
    text = re.sub(r"\b(\d{1,3}),(\d{3})\b", r"\1\2", text)  # thousands: "1,200" -> "1200"
    text = re.sub(r"nite\b", "night", text)  # informal spelling: "fortnite", "tonite"
    text = re.sub(r"(\d)\s*(?:percent|per cent|pct)\b", r"\1%", text)  # after the number words: "ninety five percent"
    text = re.sub(r"\bhalf (?:a )?year\b", "26 weeks", text)
    for short, word in _SHORTHAND.items():  # "next qtr", "trend rpt", "order qty"
        text = re.sub(rf"\b{short}\b", word, text)
    # Money words, after the number words: "a buck 99" ("a buck ninety-nine") is $1.99, "2 bucks 50" $2.50.
    text = re.sub(r"\b(?:a|1) buck(?: and)? (\d{1,2})\b(?! cents?\b)", lambda m: f"$1.{int(m.group(1)):02d}", text)
    text = re.sub(r"\b(\d+) bucks(?: and)? (\d{2})\b(?! cents?\b)", r"$\1.\2", text)
    text = re.sub(r"\b(?:a|1) buck\b", "$1", text)
    text = _SPOKEN_PRICE.sub(r"\1 $\2.\3", text)
    text = _UNIT_TYPO.sub(lambda m: m.group(1) + _unit_word(m.group(2)), text)
    text = _NEXT_TYPO.sub(lambda m: (misspelling(m.group(1), _NEXT_WORDS) or m.group(1)) + m.group(2), text)
    return re.sub(r"\ban? (day|week|month|quarter|year)\b", r"1 \1", text)


# Spoken prices after a price cue: "a price of two forty-nine" ("2 49"), "priced at three-fifty" ("3-50").
_SPOKEN_PRICE = re.compile(r"\b(priced?(?: of| to| at)?|costs?|charg(?:e|ing)) (\d{1,2})[ -]([1-9]\d)\b"
                           r"(?![.%]|\s*(?:packs?|pk|ct|count|oz|lbs?|cans?|bottles?)\b)")
_SHORTHAND = {"qtrs?": "quarter", "rpt": "report", "qty": "quantity", "whatif": "what if"}
_UNIT_WORDS = ("day", "days", "week", "weeks", "month", "months", "quarter", "quarters", "year", "years", "fortnight")
# A misspelled period after a number or "next": "next wek", "3 weks", "a mnth".
_UNIT_TYPO = re.compile(r"(\b(?:\d+\s*|next |coming |this |an? ))([a-z]{3,9})\b")
# A misspelled "next" before a period or a number of them: "nxt month", "netx 3 weeks".
_NEXT_TYPO = re.compile(r"\b([a-z]{3,9})( (?:\d+ )?(?:days?|weeks?|wks?|months?|quarters?|years?|fortnight)\b)")


def _unit_word(word: str) -> str:
    if word in _UNIT_WORDS or word in ("wk", "wks", "mo", "mos"):
        return word
    return misspelling(word, _UNIT_WORDS) or word


def _weeks(amount: float, unit: str) -> int:
    return max(1, math.ceil(amount * _UNIT_WEEKS.get(unit.rstrip("s"), 1) - 1e-9))


class _Scanner:
    """Takes matches out of the text as it goes, so later steps only see what is left."""

    def __init__(self, text: str) -> None:
        self.text = text

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.search(self.text)
        if match:
            self.text = f"{self.text[:match.start()]} {self.text[match.end():]}"
        return match


def _first(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None)


def _read_lead_time(scan: _Scanner) -> tuple[int, str] | None:
    """'lead time 10 days', 'a 2 week lead time', 'deliveries take 3 days' -> weekly periods (unbounded)."""
    if not (match := scan.take(_PATTERNS["lead_time"])):
        return None
    groups = match.groups()
    at = next(i for i in range(0, len(groups), 2) if groups[i] is not None)
    return _weeks(float(groups[at]), groups[at + 1] or "week"), match.group(0).strip()


def _level(raw: str) -> float:
    """A service level as written -> a fraction: '95%', '95' and '.95' are all 0.95."""
    raw = raw.replace(" ", "")
    number = float(raw.rstrip("%"))
    return number / 100 if raw.endswith("%") or number > 1 else number


def _read_service_level(scan: _Scanner) -> tuple[float, str] | None:
    """'95% service level', 'service level .97', or a stock-out risk ('a 5% chance of a stockout': 0.95)."""
    if match := scan.take(_PATTERNS["service_level"]):
        return _level(_first(match)), match.group(0).strip()
    if match := scan.take(_PATTERNS["stockout_risk"]):
        return 1 - float(_first(match)) / 100, match.group(0).strip()
    return None


def _read_on_hand(scan: _Scanner) -> tuple[float, str] | None:
    """'40 units on hand', 'we have 60', 'down to 8', 'none on hand' -> units in stock."""
    if match := scan.take(_PATTERNS["nothing_on_hand"]):
        return 0.0, match.group(0).strip()
    if not (match := scan.take(_PATTERNS["on_hand"])):
        return None
    scan.take(_PATTERNS["stock_words"])
    return float(_first(match)), match.group(0).strip()


def _read_store(scan: _Scanner) -> tuple[str, str] | None:
    return (match.group(1), match.group(0).strip()) if (match := scan.take(_PATTERNS["store"])) else None


def _read_price(scan: _Scanner) -> tuple[float, str] | None:
    """'$2.50', '5 dollars', '99 cents', 'price to 1.99' -> dollars (unbounded)."""
    if not (match := scan.take(_PATTERNS["price"])):
        return None
    return float(_first(match)) / (100 if re.search(r"cents?\b|¢", match.group(0)) else 1), match.group(0).strip()


def _read_horizon(scan: _Scanner) -> tuple[int, str] | None:
    """Periods asked for: '6 weeks', '2 months' (4 weeks each), 'next quarter', 'horizon 8' (unbounded)."""
    if match := scan.take(_PATTERNS["horizon_word"]):
        return int(match.group(1)), match.group(0).strip()
    if match := scan.take(_PATTERNS["horizon"]):
        return _weeks(float(match.group(1)), match.group(2)), match.group(0).strip()
    for pattern, periods in _PERIOD_PHRASES.items():
        if match := scan.take(re.compile(pattern)):
            return periods, match.group(0).strip()
    return None


# The literal fields in the order the rules take them out of the question: a lead time's "10 days" is read
# before a horizon can be, a service level's "95%" before a price.
_READERS = {"lead_time": _read_lead_time, "service_level": _read_service_level, "on_hand": _read_on_hand,
            "store": _read_store, "price": _read_price, "horizon": _read_horizon}


def bounded(name: str, value: float | int | str, notes: list[str]) -> float | int | str | None:
    """A field's value within the Query's bounds, with a note when it was changed (None: dropped, said why)."""
    if name == "lead_time":
        return min(26, int(value))
    if name == "service_level":
        level = min(0.999, max(0.5, float(value)))
        if level != value:
            notes.append(f"service level {float(value):.1%} is outside 50%..99.9%; using {level:.1%}")
        return level
    if name == "on_hand":
        return min(1_000_000.0, float(value))
    if name == "price":
        if 0 < float(value) <= 10_000:
            return float(value)
        notes.append(f"price {float(value):g} is outside 0..10,000; ignored")
        return None
    if name == "horizon":
        if int(value) > MAX_HORIZON:
            notes.append(f"horizon of {value} periods is beyond the limit; using {MAX_HORIZON}")
            return MAX_HORIZON
        return max(1, int(value))
    if name == "store" and not re.fullmatch(r"\d{1,12}", str(value)):
        notes.append(f"store {str(value)[:20]} is not a store number of 1-12 digits; ignored")
        return None
    return value


_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(dozen)?")
_OUT_OF_STOCK = re.compile(r"\b(?:out of stock|sold out|completely out|none|nothing(?: left)?|empty|out)\b")
_ONE_IN = re.compile(r"\b(\d+)\s*(?:times?\s*)?(?:in|out of)\s*(\d+)\b")


def span_value(name: str, span: str) -> float | int | str | None:
    """The value of one field from a span of the (normalized) question that a reader, e.g. the tagger, marked
    as that field: the rules' own reader of the field first, then the span read without its cue words (a lead
    time's '10 days', a service level's '97', a stock's '36' or 'sold out'), since the marking says what it is.
    Unbounded; `bounded` applies the Query's limits. None: no value in the span."""
    scan = _Scanner(span)
    reader = _READERS.get(name)
    if reader is not None and (read := reader(scan)) is not None:
        return read[0]
    if name == "lead_time":
        if re.search(r"\b(?:next[- ]day|overnight)\b", span):  # "next-day delivery": one day, one weekly period
            return 1
        return read[0] if (read := _read_horizon(_Scanner(span))) else None
    if name == "service_level":
        if match := _ONE_IN.search(span):  # "running out 1 time in 20": 0.95
            return 1 - int(match.group(1)) / max(1, int(match.group(2)))
        match = re.search(r"(\d*\.\d+|\d+(?:\.\d+)?)\s*(%?)", span)
        if not match:
            return None
        level = _level(match.group(1) + match.group(2))
        return 1 - level if re.search(r"stock(?:ing)?[- ]?out|out of stock|running out|run out|risk|chance", span) \
            else level
    if name == "on_hand":
        if match := _COUNT.search(span):
            return float(match.group(1)) * (12 if match.group(2) else 1)
        return 0.0 if _OUT_OF_STOCK.search(span) else None
    if name == "price":
        if match := re.search(r"\b(\d{1,2})[- ](\d{2})\b", span):  # "two-fifty" (normalized "2-50"): $2.50
            return int(match.group(1)) + int(match.group(2)) / 100
        match = re.search(r"\d+(?:\.\d+)?|\.\d+", span)
        return float(match.group(0)) if match else None
    if name == "store":
        match = re.search(r"\d+", span)
        return match.group(0) if match else None
    return None


def find_intent(text: str, vocabulary: Iterable[str] = ()) -> tuple[Intent, str | None]:
    """(intent, the keyword that decided it); exact phrases first, then "which ..., X or Y" (a comparison),
    then close misspellings of single keywords."""
    for intent, phrases in INTENT_PHRASES.items():
        if intent == "forecast" and (match := _WHICH_OR.search(text)):
            return "compare", match.group(0)  # before "sell", "how many": "which will sell more, X or Y?"
        for phrase in phrases:
            if re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", text):
                return intent, phrase
    known = set(vocabulary)
    for token in re.findall(r"[a-z]{5,}", text):
        if token in STOPWORDS or token in known:
            continue
        if close := misspelling(token, _FUZZY_KEYWORDS):
            for intent, phrases in INTENT_PHRASES.items():
                if close in phrases:
                    return intent, f"{close} (read from {token!r})"
    return "forecast", None


def _has(word: str, text: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text) is not None


def _measure(text: str, vocabulary: Iterable[str]) -> Measure:
    if any(_has(word, text) for word in REVENUE_WORDS):
        return "revenue"
    known = set(vocabulary)
    singles = [w for w in REVENUE_WORDS if " " not in w and len(w) >= 5]
    tokens = [t for t in re.findall(r"[a-z]{5,}", text) if t not in known and t not in STOPWORDS]
    return "revenue" if any(misspelling(t, singles) for t in tokens) else "quantity"


# Every keyword phrase, longest first, so "sales value" goes before "sales" does.
_KEYWORDS = sorted({p for phrases in INTENT_PHRASES.values() for p in phrases} | set(REVENUE_WORDS), key=len,
                   reverse=True)
# Question words of four letters or more, which a typo may hide ("waht", "whihc").
_LONG_STOPWORDS = sorted(w for w in STOPWORDS if len(w) >= 4)


def _strip_keywords(text: str) -> str:
    for phrase in _KEYWORDS:
        text = re.sub(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", " ", text)
    return text


def _question_word(word: str, known: frozenset[str]) -> bool:
    """A word of the question's frame, not of a product: a stopword or framing word, a misspelled keyword
    ("forcast"), or a misspelled question word that is rare as English ("waht"); catalog words never are."""
    bare = word.strip("'.")
    if bare in STOPWORDS or bare in FRAMING:
        return True
    if bare in known or len(bare) < 4:
        return False
    if len(bare) >= 5 and misspelling(bare, _FUZZY_KEYWORDS):
        return True
    return zipf_frequency(bare, "en") < 3 and misspelling(bare, _LONG_STOPWORDS) is not None


def _trim_framing_end(words: list[str], lexicon: Lexicon) -> list[str]:
    """Framing words (Lexicon.framing) off the end of a product's words. Only the end: a product's head noun comes
    last, and what follows it is the question's frame ("pretzels out the door"); words before it are modifiers,
    common English or not ("black beans", "rock salt": the catalog writes "BEANS ... BLACK"). A pair the catalog
    has stays together."""
    words = list(words)
    while len(words) > 1 and lexicon.framing(words[-1]) and not lexicon.has_phrase(words[-2:], abbreviated=False):
        words.pop()
    return words


LEVEL_WORDS = ("department", "dept", "category", "aisle", "section")


def trim_level_word(text: str) -> str:
    """A report subject without the word naming its level at its end, misspelled or not ("nutrition departmnet")."""
    words = text.split()
    if len(words) > 1 and (words[-1] in LEVEL_WORDS or misspelling(words[-1], LEVEL_WORDS)):
        words.pop()
    return " ".join(words)


def trim_question_words(text: str, lexicon: Lexicon | None = None) -> str:
    """`text` without the question words at its edges (_question_word: stopwords, framing words, misspelled
    keywords such as "forcast"; never a catalog word) and framing words at its end ("frozen vegetables left"),
    as product_texts trims its own: for product texts another reader marked."""
    lexicon = lexicon or Lexicon()
    known = lexicon.words
    words = text.split()
    # A question word that begins a catalog phrase is the product's ("all family cereal"), as in product_texts.
    while words and _question_word(words[0], known) and not lexicon.has_phrase(words[:2], abbreviated=False):
        words.pop(0)
    # A counting word that ends a catalog phrase is the product's head noun too ("tea bags", "trash bags").
    while words and _question_word(words[-1], known) and not (
            len(words) > 1 and lexicon.has_phrase(words[-2:], abbreviated=False)):
        words.pop()
    return " ".join(_trim_framing_end(words, lexicon))


def _split(text: str, lexicon: Lexicon) -> list[str]:
    """Split on product separators, except an "and" inside a catalog name ("mac and cheese": macaroni & cheese)."""
    pieces, start = [], 0
    for match in _SPLIT.finditer(text):
        if match.group(0).strip() in ("and", "&"):
            before, after = re.findall(r"[a-z]+", text[start:match.start()]), re.findall(r"[a-z]+", text[match.end():])
            if before and after and lexicon.has_phrase([before[-1], "and", after[0]]):
                continue
        pieces.append(text[start:match.start()])
        start = match.end()
    return pieces + [text[start:]]


def product_texts(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """The product phrases left in `text`: split on separators and clause ends, question words and keywords
    removed, framing words trimmed from the edges (Lexicon.framing). A piece that is only a number of 5-12
    digits is a product id ("what will 1029743 sell"); a number next to product words is a quantity."""
    lexicon = lexicon or Lexicon()
    pieces, untrimmed = [], []
    for piece in _split(text, lexicon):
        piece = _strip_keywords(_MEASURE_OF.sub(" ", piece))
        tokens = re.findall(r"[a-z0-9][a-z0-9'./%-]*", piece)
        # A question word that begins a catalog phrase is the product's ("all family cereal").
        words = [w for i, w in enumerate(tokens) if not _question_word(w, lexicon.words) or (
            w.strip("'.") in STOPWORDS and i + 1 < len(tokens) and not _question_word(tokens[i + 1], lexicon.words)
            and lexicon.has_phrase([w.strip("'."), tokens[i + 1]], abbreviated=False))]
        if len(words) == 1 and re.fullmatch(r"\d{5,12}", words[0]):
            pieces.append(words[0])
            continue
        # Bare numbers are not product words ("forecast 1000000 bagels"); sizes ("6 ct") are.
        words = _BARE_NUMBER.sub(" ", " ".join(words)).split()
        words = [w[:-2] if w.endswith("'s") else w.strip("'.") for w in words]
        if not re.search(r"[a-z]", " ".join(words)):
            continue
        untrimmed.append(" ".join(words)[:80])
        words = _trim_framing_end(words, lexicon)
        if re.search(r"[a-z]", phrase := " ".join(words)) and not (len(words) == 1 and lexicon.framing(words[0])):
            pieces.append(phrase[:80])
    # Framing words alone are the question's frame ("if we start"), unless nothing else could be the product:
    # then they are taken as written, an unknown product ("how many books ...") that resolution can refuse.
    return pieces or untrimmed[:1]


def parse(question: str, lexicon: Lexicon | None = None) -> RuleParse:
    """Read a question into a Query. `lexicon`: the catalog's words and texts (Lexicon), which keep catalog words
    from being taken for misspelled keywords or framing words; without one, only the closed word classes apply."""
    lexicon = lexicon or Lexicon()
    vocabulary = lexicon.words
    scan = _Scanner(normalize(question))
    literals: dict[str, str] = {}
    notes: list[str] = []
    found: dict[str, object] = {}

    quoted = scan.take(_PATTERNS["quoted"])
    ids = []
    while match := scan.take(_PATTERNS["product_id"]):
        ids.append(match.group(1))
    for name, reader in _READERS.items():
        if (read := reader(scan)) is not None:
            value, literals[name] = read
            if (kept := bounded(name, value, notes)) is not None:
                found[name] = kept
    category = scan.take(_PATTERNS["category"])

    intent, keyword = find_intent(normalize(question), vocabulary)
    if intent == "forecast" and "price" in found:  # "sales at $0.99": a forecast at a stated price is a what-if
        intent, keyword = "what_if_price", literals["price"]
    products = ids + product_texts(scan.text, lexicon)
    query_fields: dict[str, object] = {"intent": intent, "measure": _measure(scan.text, vocabulary),
                                       **found}
    if category:
        query_fields["category"] = _first(category).strip()
    if intent == "new_product":
        title = _first(quoted).strip() if quoted else " ".join(products).strip()
        query_fields["title"] = title[:120] or None
        products = []
    elif intent == "trend_report":
        if products and "category" not in query_fields:
            query_fields["category"] = " ".join(products)[:60]
        products = []
    elif quoted:
        products.insert(0, _first(quoted).strip()[:80])
    if len(products) > MAX_PRODUCTS:
        notes.append(f"{len(products)} products named; answering for the first {MAX_PRODUCTS}")
        products = products[:MAX_PRODUCTS]
    query_fields["products"] = products
    return RuleParse(query=Query(**query_fields), intent_keyword=keyword, literals=literals, notes=notes)
