"""The reply: a sentence written from the computed numbers, a table, a chart, and how each was made.

Each intent's facts are a template sentence plus every number it may cite
(forecast values and totals, horizon, prices, ids). The LLM may rewrite the
sentence (prompts/answer.v1.txt, regex-constrained to one sentence), but its
text is shown only when `agent.grounding.check` finds every number it cites
among those numbers; otherwise the template sentence is used and the reason is
recorded in the notes.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from agent.ask.query import Intent, ParsedBy, Query
from agent.ask.resolve import Candidate
from agent.forecast.prompting import load_template
from agent.forecast.result import Forecast
from agent.grounding import check, values_in
from agent.llm.base import BackendError, GenerationRequest, LLMBackend
from agent.plots import fan_chart
from agent.safe_text import for_prompt, links_in

ANSWER_PROMPT = "answer"
ANSWER_PROMPT_ID = "answer.v1"
# One sentence of plain words, figures and light punctuation, ending with a period.
SENTENCE_REGEX = r"[A-Z][A-Za-z0-9 ,%/'()$:-]{10,200}\."
INTERVAL_COVERAGE = 0.8  # between the 10% and 90% quantiles
FACTS_CHARS = 1_000  # the facts sentence carries product titles: bounded like any data in a prompt

Status = Literal["answered", "ask_back", "no_match"]


class Facts(BaseModel):
    """What an intent computed, ready to say: the template sentence and every number it may cite."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    sentence: str
    numbers: list[float]
    table: list[dict[str, str | float]] = Field(default_factory=list)
    forecasts: list[Forecast] = Field(default_factory=list)
    charts: list[tuple[Forecast, pd.Series]] = Field(default_factory=list, description="(forecast, history) to draw.")
    notes: list[str] = Field(default_factory=list)


class Answer(BaseModel):
    question: str
    query: Query
    parsed_by: ParsedBy
    parse_note: str
    intent: Intent
    status: Status
    text: str
    written_by: Literal["llm", "template"]
    grounded: bool = Field(description="Every number in `text` is one of `numbers`.")
    numbers: list[float] = Field(description="The computed numbers the text may cite.")
    table: list[dict[str, str | float]] = Field(default_factory=list)
    chart: str | None = None
    charts: list[str] = Field(default_factory=list)
    report_html: str | None = None
    candidates: dict[str, list[Candidate]] = Field(default_factory=dict, description="Product text -> candidates, when asking back.")
    notes: list[str] = Field(default_factory=list)
    forecasts: list[Forecast] = Field(default_factory=list)


def forecast_numbers(forecast: Forecast) -> list[float]:
    """Every value a forecast carries that a sentence may cite: per-period values, totals, horizon, the
    interval's coverage (0.8, cited as 80%), the id and the sizes in the product's title."""
    values = [*forecast.point, *(v for q in forecast.quantiles.values() for v in q), forecast.horizon,
              *forecast.history_tail, sum(forecast.point), *(sum(q) for q in forecast.quantiles.values()),
              INTERVAL_COVERAGE, *values_in(forecast.title)]
    if forecast.unique_id and forecast.unique_id.isdigit():
        values.append(float(forecast.unique_id))
    return values


def forecast_rows(forecast: Forecast, factor: float = 1.0) -> list[dict[str, str | float]]:
    return [{"product": forecast.title, "period": str(day), "forecast": round(forecast.point[i] * factor, 2),
             "low (10%)": round(forecast.quantiles["0.1"][i] * factor, 2),
             "high (90%)": round(forecast.quantiles["0.9"][i] * factor, 2)} for i, day in enumerate(forecast.dates)]


def narrate(facts: Facts, backend: LLMBackend | None, timeout_s: float = 30.0) -> tuple[str, Literal["llm", "template"], str]:
    """(text, who wrote it, why): the LLM's sentence when every number in it is grounded, else the template's."""
    if backend is None:
        return facts.sentence, "template", "no LLM backend: template sentence"
    prompt = load_template(ANSWER_PROMPT).format(facts=for_prompt(facts.sentence, FACTS_CHARS))
    request = GenerationRequest(prompt=prompt, n=1, temperature=0.0, max_tokens=64, regex=SENTENCE_REGEX,
                                timeout_s=timeout_s)
    try:
        generation = backend.generate(request)
    except BackendError as exc:
        return facts.sentence, "template", f"LLM unavailable for the sentence ({exc}): template sentence"
    text = (generation.texts[0] if generation.texts else "").strip()
    if not text or (generation.finish_reasons and generation.finish_reasons[0] != "stop"):
        return facts.sentence, "template", f"LLM sentence unfinished ({generation.finish_reasons[:1]}): template sentence"
    if links := links_in(text):
        return facts.sentence, "template", f"LLM sentence held a link or address ({links[0]}): template sentence"
    grounding = check(text, facts.numbers)
    if not grounding.ok:
        return facts.sentence, "template", (f"LLM sentence cited numbers not computed ({', '.join(grounding.ungrounded)}):"
                                            " template sentence")
    return text, "llm", f"sentence written by the LLM ({ANSWER_PROMPT_ID}), numbers checked"


def draw(charts: list[tuple[Forecast, pd.Series]], chart_dir: Path | None) -> list[str]:
    """Fan charts into `chart_dir` under unique names (concurrent requests never overwrite each other)."""
    if chart_dir is None:
        return []
    paths = []
    for forecast, history in charts:
        name = f"ask-{forecast.unique_id or 'new'}-{uuid.uuid4().hex[:8]}.png"
        paths.append(str(fan_chart(forecast, history, Path(chart_dir) / name)))
    return paths
