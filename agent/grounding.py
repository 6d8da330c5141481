"""Keep generated prose honest: every number it cites must be one that was computed.

The LLM writes answers and report narratives, but it is a 135M model and its
output is untrusted input. Before prose reaches a user, `check` finds every
number in it and matches each against the numbers the caller computed
(forecast values, statistics, the horizon, dates). A number matches when it is
that value as displayed at the precision the text uses ("about 14" matches
13.6; "13.62" does not match 13.6), or the value as a percentage ("12%" matches
a share of 0.12). Prose with any unmatched number is rejected and the caller
uses its template sentence instead, recording why.

Signs are checked as far as words allow: a change of -3.6 may be written
"fell 3.6" or "-3.6", but not "+3.6" nor "grew 3.6" in a sentence that only
speaks of rising. This catches a dropped minus sign; it cannot tell whether
a correctly cited number is attached to the right claim, which is why
LLM-written prose is labelled as such wherever it is shown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

# Numbers as prose writes them: 1,234.5  -3  12%  0.25. A digit glued to letters
# ("6ct", "W52", "2x") is part of a name, not a cited figure, so it is skipped.
NUMBER = re.compile(r"(?<![\w.])[-+]?\d(?:[\d,]*\d)?(?:\.\d+)?%?(?![\w])")
# Dates are cited as dates; their parts are not figures to check.
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
RISING = re.compile(r"\b(up|ris(?:e|es|en|ing)|rose|gr[eo]w\w*|increas\w*|gain\w*|higher|above|jump\w*|climb\w*)\b", re.I)
FALLING = re.compile(r"\b(down|f[ae]ll\w*|declin\w*|decreas\w*|drop\w*|lower|below|shr[ai]nk\w*|loss\w*|lost|slump\w*)\b",
                     re.I)


class Grounding(BaseModel):
    """The verdict on one text: which numbers it cites and which of them nothing computed."""

    cited: list[str] = Field(default_factory=list)
    ungrounded: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.ungrounded


def numbers_in(text: str) -> list[str]:
    """The numeric tokens of `text` as written (dates removed)."""
    return NUMBER.findall(DATE.sub(" ", text))


def value_of(token: str) -> float:
    """The number a token writes: '1,234.5' -> 1234.5, '12%' -> 12.0."""
    return float(token.rstrip("%").replace(",", ""))


def values_in(text: str) -> list[float]:
    """The numbers `text` writes (names such as 'Bagels 12 OZ' carry citable sizes)."""
    return [value_of(token) for token in numbers_in(text)]


def _decimals(token: str) -> int:
    digits = token.rstrip("%")
    return len(digits.split(".")[1]) if "." in digits else 0


def matches(token: str, value: float) -> bool:
    cited = value_of(token)
    # Half a unit of the last written digit: "14" stands for [13.5, 14.5).
    tolerance = 0.5 * 10 ** -_decimals(token) + 1e-9
    candidates = [value, value * 100] if token.endswith("%") else [value]
    return any(math.isfinite(v) and abs(cited - v) <= tolerance for v in candidates)


def direction(sentence: str) -> Literal["up", "down"] | None:
    """'up' or 'down' when the sentence speaks only of rising or only of falling; None when neither or both."""
    rising, falling = bool(RISING.search(sentence)), bool(FALLING.search(sentence))
    return "up" if rising and not falling else "down" if falling and not rising else None


def sentences(text: str) -> list[str]:
    return [part for part in SENTENCE_END.split(text) if part.strip()]


def _grounded(token: str, values: list[float], rising_only: bool) -> bool:
    if token[0] in "+-":  # an explicit sign must be the value's own
        return any(matches(token, v) for v in values)
    same_size = [v for v in values if matches(token, abs(v))]
    # "grew 3.6%" for a change of -3.6% is a dropped sign, not a citation.
    return any(v >= 0 for v in same_size) if rising_only else bool(same_size)


def check(text: str, allowed: Iterable[float]) -> Grounding:
    """Which numbers in `text` are not, at the text's precision and sign, one of `allowed`."""
    values = [float(v) for v in allowed]
    cited, bad = [], []
    for sentence in sentences(text):
        rising_only = direction(sentence) == "up"
        for token in numbers_in(sentence):
            cited.append(token)
            if not _grounded(token, values, rising_only):
                bad.append(token)
    return Grounding(cited=cited, ungrounded=bad)
