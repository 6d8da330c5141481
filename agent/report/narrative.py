"""The report's narrative: the LLM's paragraph when it is sound, else the template's, and why.

The LLM (any backend) is given the template's sentences as facts and asked
for a short paragraph. Its draft is untrusted text, so it is cleaned to prose
(markup, chat tokens and list markers removed, length bounded at a sentence
end, an unfinished last sentence dropped) and accepted only when it

- has at least MIN_SENTENCES sentences and repeats none (small models loop),
- cites no number outside the statistics (`agent.grounding.check` against
  every figure of `TrendStats`; chart series excluded, see stats.CHART_DATA;
  ordinals such as "21st" count as the number 21),
- names no group the facts do not name: catalog names are upper case
  ("BREAKFAST SWEETS"), and SmolLM2-135M was seen inventing some
  ("POPULAR SALES"), so every upper-case word must occur in the facts.

- says no group rose that fell, or fell that rose: a sentence naming one group
  (or the whole selection) and speaking only of rising or only of falling must
  agree with that group's growth over the previous window (SmolLM2-135M wrote
  "PASTRY is growing" of a department down 3.6%).

These checks bound what the draft may cite and the direction of what it says
of each group, not every claim: a grounded draft can still relate true numbers
wrongly, so the report labels the narrative with its source and says so.

The whole draft is judged, not sentence by sentence: keeping the grounded
sentences of a draft that invented figures would keep the prose around an
invention. The first of N_SAMPLES drafts that passes is used; otherwise the
template narrative, with the reason recorded and shown in the report.
"""

from __future__ import annotations

import re

from agent.forecast.prompting import PROMPT_VERSION, load_template
from agent.grounding import check, direction, sentences
from agent.llm.base import BackendError, GenerationRequest, LLMBackend
from agent.report.model import Narrative, TrendStats
from agent.report.wording import facts, template_narrative
from agent.safe_text import for_prompt, links_in

PROMPT = "report_narrative"
N_SAMPLES = 2
# 4 short sentences fit in ~100 tokens; a blank line ends the paragraph (the model otherwise starts a
# list and loops). On 2 shared cores the embedded model takes about a minute for 2 such drafts.
MAX_TOKENS = 120
TEMPERATURE = 0.5
STOP = ["<|im_end|>", "\n\n"]
TIMEOUT_S = 180.0
MAX_CHARS = 900
FACT_CHARS = 600  # one fact names a few groups; a catalog name cannot make it longer than this
MIN_SENTENCES = 2
SENTENCES_ASKED = 4

_CHAT_TOKEN = re.compile(r"<\|[^|>]*\|>")
_TAG = re.compile(r"<[^>]*>")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#+)\s+", re.MULTILINE)
_NOT_PROSE = re.compile(r"[^\w\s.,;:!?%()'\"/&+-]")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_NAME_WORD = re.compile(r"\b[A-Z][A-Z&'-]{2,}\b")


def clean(draft: str) -> str:
    """Plain prose only: no chat tokens, tags, list or heading marks, code or odd symbols; at most MAX_CHARS."""
    text = _TAG.sub(" ", _CHAT_TOKEN.sub(" ", draft))
    text = _NOT_PROSE.sub(" ", _LIST_MARK.sub("", text))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        text = cut[: end + 1] if end > 0 else cut
    return text


def _complete_sentences(text: str) -> str:
    """Drop an unfinished last sentence (a draft cut by the token limit)."""
    end = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
    return text[: end + 1] if end >= 0 else text


def contradictions(text: str, growth: dict[str, float]) -> list[str]:
    """Sentences that give a group (name -> growth fraction) the wrong direction, as 'NAME rose/fell'."""
    found = []
    for sentence in sentences(text):
        named = [name for name in growth if re.search(rf"\b{re.escape(name)}\b", sentence, re.IGNORECASE)]
        said = direction(sentence)
        if len(named) == 1 and said is not None and growth[named[0]] * (1 if said == "up" else -1) < 0:
            found.append(f"{named[0]} {'rose' if said == 'up' else 'fell'}")
    return found


def judge(draft: str, allowed: list[float], known: str,
          growth: dict[str, float] | None = None) -> tuple[str, str | None, list[str]]:
    """(cleaned text, why it is rejected or None, ungrounded numbers); `known` is the facts' text, `growth` each
    group's (and the selection's) growth over the previous window."""
    text = _complete_sentences(clean(draft))
    parts = sentences(text)
    if len(parts) < MIN_SENTENCES:
        return text, f"the draft had {len(parts)} sentence(s), fewer than {MIN_SENTENCES}", []
    seen = [s.lower().rstrip(".!? ") for s in parts]
    if len(set(seen)) < len(seen):
        return text, "the draft repeated a sentence", []
    if links := links_in(text):
        return text, f"the draft holds a link or address: {', '.join(links[:3])}", []
    grounding = check(_ORDINAL.sub(r"\1", text), allowed)
    if not grounding.ok:
        return text, f"the draft cited numbers no statistic holds: {', '.join(grounding.ungrounded)}", grounding.ungrounded
    unknown = sorted({word for word in _NAME_WORD.findall(text) if word not in known})
    if unknown:
        return text, f"the draft named groups the statistics do not have: {', '.join(unknown)}", []
    wrong = contradictions(text, growth or {})
    if wrong:
        return text, f"the draft says the opposite of the statistics: {', '.join(wrong)}", []
    return text, None, []


def group_growth(stats: TrendStats) -> dict[str, float]:
    """The selection's and each group's growth against the previous window (groups without one left out)."""
    rows = [stats.growth.total.model_copy(update={"name": stats.scope.selection}), *stats.growth.groups]
    return {row.name: row.growth_vs_previous for row in rows if row.growth_vs_previous is not None}


def template(stats: TrendStats, reason: str, ungrounded: list[str] | None = None,
             backend: LLMBackend | None = None) -> Narrative:
    return Narrative(text=template_narrative(stats), source="template", reason=reason,
                     backend=backend.name if backend else None, model=backend.model_id if backend else None,
                     prompt_id=f"{PROMPT}.{PROMPT_VERSION}" if backend else None, ungrounded=ungrounded or [])


def write_narrative(stats: TrendStats, backend: LLMBackend | None) -> Narrative:
    if backend is None:
        return template(stats, "no LLM backend (--backend none or none available)")
    given = facts(stats)
    # Group and selection names come from the catalog: each fact is one bounded line (agent.safe_text).
    prompt = load_template(PROMPT).format(selection=for_prompt(stats.scope.selection), period=stats.scope.period,
                                          facts=[for_prompt(fact, FACT_CHARS) for fact in given],
                                          sentences=SENTENCES_ASKED)
    request = GenerationRequest(prompt=prompt, n=N_SAMPLES, max_tokens=MAX_TOKENS, temperature=TEMPERATURE,
                                stop=STOP, timeout_s=TIMEOUT_S)
    try:
        generation = backend.generate(request)
    except BackendError as exc:
        return template(stats, f"the LLM did not answer: {exc}", backend=backend)
    allowed = stats.citable()
    reasons, ungrounded = [], []
    for draft in generation.texts:
        text, reason, bad = judge(draft, allowed, " ".join(given), group_growth(stats))
        if reason is None:
            return Narrative(text=text, source="llm", reason=f"LLM draft passed the checks ({len(sentences(text))} "
                             "sentences, every number found in the statistics)", backend=generation.backend,
                             model=generation.model, prompt_id=f"{PROMPT}.{PROMPT_VERSION}")
        reasons.append(reason)
        ungrounded += [token for token in bad if token not in ungrounded]
    return template(stats, f"{len(reasons)} LLM draft(s) rejected: " + "; ".join(reasons), ungrounded, backend)
