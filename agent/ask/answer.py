"""The reply: a sentence written from the computed numbers, a table, a chart, and how each was made.

Each intent's facts are a template sentence plus every number it may cite
(forecast values and totals, horizon, prices, ids), what it is about and its
main figure. The LLM may rewrite the sentence (prompts/answer.v1.txt,
regex-constrained to one sentence), but its text is shown only when
`agent.prose` accepts it: grounded, naming the product or category, stating
the main figure and the horizon, in the facts' words. Otherwise the template
sentence is used and the reason is recorded in the notes.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from agent.ask.query import Intent, ParsedBy, Query
from agent.ask.resolve import Candidate
from agent.forecast.prompting import load_template, period_name
from agent.forecast.result import Forecast
from agent.grounding import values_in
from agent.llm.base import GenerationRequest, LLMBackend
from agent.plots import fan_chart
from agent.prose import Prose, Spec, write
from agent.safe_text import for_prompt

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
    subjects: list[str] = Field(description="What the sentence is about (names, ids): an LLM sentence must name one.")
    main: list[float] = Field(description="The main figure(s): an LLM sentence must state one.")
    horizon: int | None = Field(None, description="Periods the figures cover: an LLM sentence must state them.")
    table: list[dict[str, str | float]] = Field(default_factory=list)
    forecasts: list[Forecast] = Field(default_factory=list)
    charts: list[tuple[Forecast, pd.Series, str]] = Field(
        default_factory=list, description="(forecast, history, what it is: an id, 'sum of 12 products') to draw.")
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
             "low (10%)": round(forecast.lower[i] * factor, 2),
             "high (90%)": round(forecast.upper[i] * factor, 2)} for i, day in enumerate(forecast.dates)]


def narrate(facts: Facts, backend: LLMBackend | None, timeout_s: float = 30.0) -> Prose:
    """The LLM's sentence when `agent.prose` accepts it, else the template's; why, either way."""
    request = GenerationRequest(prompt=load_template(ANSWER_PROMPT).format(facts=for_prompt(facts.sentence, FACTS_CHARS)), n=1,
                                temperature=0.0, max_tokens=64, regex=SENTENCE_REGEX, timeout_s=timeout_s)
    period = period_name(facts.forecasts[0].freq) if facts.forecasts else "week"
    spec = Spec(facts=facts.sentence, numbers=facts.numbers, subjects=facts.subjects, main=facts.main,
                horizon=facts.horizon, period=period)
    return write(backend, request, spec, facts.sentence)


def draw(charts: list[tuple[Forecast, pd.Series, str]], chart_dir: Path | None) -> list[str]:
    """Fan charts into `chart_dir` under unique names (concurrent requests never overwrite each other)."""
    if chart_dir is None:
        return []
    paths = []
    for forecast, history, what in charts:
        label = forecast.unique_id or re.sub(r"[^a-z0-9]+", "-", forecast.title.lower()).strip("-")[:40] or "new"
        name = f"ask-{label}-{uuid.uuid4().hex[:8]}.png"
        paths.append(str(fan_chart(forecast, history, Path(chart_dir) / name, what)))
    return paths
