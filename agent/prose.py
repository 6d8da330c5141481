"""LLM prose shown to a user only when it is grounded AND says the facts; else the template. One rule for all.

`ask` answers and report narratives both let the LLM rewrite a template
written from computed numbers. Grounding alone (`agent.grounding.check`: every
cited number was computed) is not enough: SmolLM2-135M answered "how many
bagels will sell in the next 4 weeks?" with "Eating 17-17.", whose only
number, 17, is a size in the product's title. So a draft is accepted only when
it is, after `clean`:

- grounded: every number it cites is a computed one, at the precision written
  and with the right sign (`agent.grounding.check`; ordinals count);
- complete: it names the subject (most words of the product, category or
  selection name, or its id), states the main figure (the total over the
  horizon, the order quantity, the selection's units: any one of
  `Spec.main`) and the horizon ("4 weeks", "next week");
- plain: no word outside the facts' own words and a small allowed vocabulary
  (ALLOWED_WORDS: function words and the words of sales and forecasts), so it
  cannot say what the facts do not ("Eating", invented group names);
- safe: no link, domain or e-mail address (`agent.safe_text.links_in`);
- sane: at least `min_sentences` sentences, none repeated (small models loop),
  and no sentence gives a named group the opposite direction of its growth
  (`Spec.growth`, e.g. "PASTRY is growing" of a department down 3.6%).

What it cannot check: that true numbers are attached to the right claims, so
LLM-written text stays labelled as such. The whole draft is judged, not
sentence by sentence (keeping the grounded sentences of a draft that invented
figures would keep the prose around an invention).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from agent.grounding import check, direction, matches, numbers_in, sentences
from agent.llm.base import BackendError, GenerationRequest, LLMBackend
from agent.safe_text import links_in

MAX_CHARS = 900
Source = Literal["llm", "template"]

ALLOWED_WORDS = frozenset("""
a an the and or but so as at by for from in into of on over per to up down with within between than then this that
these those it its is are was were be been being will would should could can may might expect expected expects
expecting forecast forecasts forecasted predict predicted projected likely about around roughly approximately
nearly almost some total totals overall each every all both more most less least fewer much many sell sells sold
selling sale sales unit units week weeks month months day days period periods next coming following last previous
recent recently before after now current currently during while which who what where when how we our you your
they their there here range ranging interval likely most between low high lower higher plausible chance percent
order orders ordered ordering reorder buy stock stocks on hand cover covers covering lead time service level
demand grow grew grown growing growth rise rose risen rising rises fall fell fallen falling falls drop dropped
dropping increase increased increasing decrease decreased decreasing gain gained gains lose lost loses share
shares point points change changed changes steady stable flat strong weak best worst top largest smallest
biggest big small strongly slightly same similar other others new product products item items category
categories department departments subcategory group groups store stores price prices priced revenue dollars
worth bring brings expect also still only just not no yes quarter year years launch launches launched
first second third half one two three four five six seven eight nine ten if instead compared versus vs
lead leads leading ahead behind against among led outsell outsells outsold make makes too again well
""".split())
_CHAT_TOKEN = re.compile(r"<\|[^|>]*\|>")
_TAG = re.compile(r"<[^>]*>")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#+)\s+", re.MULTILINE)
_NOT_PROSE = re.compile(r"[^\w\s.,;:!?%()'\"/&$+-]")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_WORD = re.compile(r"[A-Za-z]+")


class Spec(BaseModel):
    """What a draft must and may say: the facts' text and numbers, the subject, the main figure, the horizon."""

    facts: str = Field(description="The template's text: its words are allowed, and its numbers when `numbers` is empty.")
    numbers: list[float] = Field(description="Every number a draft may cite.")
    subjects: list[str] = Field(description="Names of what the text is about; a draft must name one.")
    main: list[float] = Field(description="A draft must state one of these (the total, the order quantity...).")
    horizon: int | None = Field(None, description="A draft must state it with its period word ('4 weeks').")
    period: str = "week"
    min_sentences: int = 1
    growth: dict[str, float] = Field(default_factory=dict, description="Group name -> growth; no draft may contradict it.")


class Prose(BaseModel):
    """The text shown, who wrote it, and why (the LLM's draft and the reason it was rejected, when it was)."""

    text: str
    source: Source
    reason: str
    draft: str | None = None
    ungrounded: list[str] = Field(default_factory=list, description="Numbers the LLM cited that nothing computed.")


def clean(draft: str) -> str:
    """Plain prose only: no chat tokens, tags, list or heading marks, code or odd symbols; at most MAX_CHARS."""
    text = _TAG.sub(" ", _CHAT_TOKEN.sub(" ", draft))
    text = _NOT_PROSE.sub(" ", _LIST_MARK.sub("", text))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        text = cut[: end + 1] if end > 0 else cut
    return _complete_sentences(text)


def _complete_sentences(text: str) -> str:
    """Drop an unfinished last sentence (a draft cut by the token limit)."""
    end = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
    return text[: end + 1] if end >= 0 else text


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text)}


def contradictions(text: str, growth: dict[str, float]) -> list[str]:
    """Sentences that give a group (name -> growth fraction) the wrong direction, as 'NAME rose/fell'."""
    found = []
    for sentence in sentences(text):
        named = [name for name in growth if re.search(rf"\b{re.escape(name)}\b", sentence, re.IGNORECASE)]
        said = direction(sentence)
        if len(named) == 1 and said is not None and growth[named[0]] * (1 if said == "up" else -1) < 0:
            found.append(f"{named[0]} {'rose' if said == 'up' else 'fell'}")
    return found


def _names_subject(text: str, subjects: Iterable[str]) -> bool:
    have = words(text)
    for subject in subjects:
        if subject.isdigit() and re.search(rf"\b{subject}\b", text):
            return True
        wanted = {w for w in words(subject) if len(w) >= 3}
        if wanted and len(wanted & have) * 2 >= len(wanted):
            return True
    return False


def _states_horizon(text: str, horizon: int, period: str) -> bool:
    if horizon == 1 and re.search(rf"\b(?:next|coming|1) {period}\b", text, re.IGNORECASE):
        return True
    return bool(re.search(rf"\b{horizon} {period}s?\b", text, re.IGNORECASE))


def judge(draft: str, spec: Spec) -> tuple[str, str | None, list[str]]:
    """(cleaned text, why it is rejected or None, ungrounded numbers)."""
    text = clean(draft)
    parts = sentences(text)
    if len(parts) < spec.min_sentences:
        return text, f"it had {len(parts)} sentence(s), fewer than {spec.min_sentences}", []
    seen = [s.lower().rstrip(".!? ") for s in parts]
    if len(set(seen)) < len(seen):
        return text, "it repeated a sentence", []
    if links := links_in(text):
        return text, f"it holds a link or address: {', '.join(links[:3])}", []
    plain = _ORDINAL.sub(r"\1", text)
    grounding = check(plain, spec.numbers)
    if not grounding.ok:
        return text, f"it cited numbers nothing computed: {', '.join(grounding.ungrounded)}", grounding.ungrounded
    allowed = ALLOWED_WORDS | words(spec.facts) | {w for s in spec.subjects for w in words(s)}
    foreign = sorted({w for w in _WORD.findall(plain) if _stem(w) not in allowed and w.lower() not in allowed})
    if foreign:
        return text, f"it used words the facts do not have: {', '.join(foreign[:6])}", []
    if not _names_subject(text, spec.subjects):
        return text, f"it does not name {' or '.join(repr(s) for s in spec.subjects[:2])}", []
    cited = numbers_in(text)
    if spec.main and not any(matches(token, value) for token in cited for value in spec.main):
        return text, "it does not state the main figure", []
    if spec.horizon is not None and not _states_horizon(text, spec.horizon, spec.period):
        return text, f"it does not state the horizon ({spec.horizon} {spec.period}s)", []
    wrong = contradictions(text, spec.growth)
    if wrong:
        return text, f"it says the opposite of the statistics: {', '.join(wrong)}", []
    return text, None, []


def write(backend: LLMBackend | None, request: GenerationRequest, spec: Spec, template: str,
          what: str = "sentence") -> Prose:
    """The first of the backend's drafts that `judge` accepts, else `template`, with the reason either way."""
    if backend is None:
        return Prose(text=template, source="template", reason=f"no LLM backend: template {what}")
    try:
        generation = backend.generate(request)
    except BackendError as exc:
        return Prose(text=template, source="template", reason=f"LLM unavailable for the {what} ({exc}): template {what}")
    reasons, ungrounded, drafts = [], [], []
    for i, draft in enumerate(generation.texts):
        finish = generation.finish_reasons[i] if i < len(generation.finish_reasons) else "stop"
        drafts.append(draft)
        if not draft.strip() or (finish != "stop" and request.regex):  # a regex-bound draft cut short is no sentence
            reasons.append(f"unfinished ({finish})")
            continue
        text, reason, bad = judge(draft, spec)
        if reason is None:
            return Prose(text=text, source="llm", draft=draft, reason=(
                f"{what} written by the LLM: grounded, names the subject, states the figures and the horizon"))
        reasons.append(reason)
        ungrounded += [token for token in bad if token not in ungrounded]
    return Prose(text=template, source="template", draft=drafts[0] if drafts else None, ungrounded=ungrounded,
                 reason=f"{len(reasons)} LLM draft(s) rejected: " + "; ".join(reasons) + f": template {what}")
