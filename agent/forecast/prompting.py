"""Render a ForecastContext into a prompt from the versioned files in `prompts/`.

One renderer (langchain-core's Jinja2 PromptTemplate) for every prompt; the
scale used to serialize the numbers travels with the rendered prompt so the
answer can be read back in units.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Literal

import numpy as np
from langchain_core.prompts import PromptTemplate
from pydantic import BaseModel

from agent.forecast.context import ContextSettings, ForecastContext
from agent.forecast.serialize import DEFAULT, SerializerSettings, continuation_regex, fit_scale, serialize

PromptKind = Literal["zero_shot", "few_shot", "new_product"]
PROMPT_VERSION = "v1"
LAUNCH_EXAMPLES = ContextSettings.k_analogs  # launches shown in the new-product prompt, as many as few-shot analogs
_PERIOD_NAMES = {"D": "day", "W": "week", "MS": "month", "M": "month"}


class RenderedPrompt(BaseModel):
    kind: PromptKind
    prompt_id: str
    text: str
    scale: float
    regex: str


@lru_cache(maxsize=None)
def load_template(name: str, version: str = PROMPT_VERSION) -> PromptTemplate:
    """`prompts/<name>.<version>.txt` as a Jinja2 template: forecast prompts and other prose prompts alike."""
    source = files("prompts").joinpath(f"{name}.{version}.txt").read_text(encoding="utf-8")
    return PromptTemplate.from_template(source, template_format="jinja2")


def period_name(freq: str) -> str:
    return _PERIOD_NAMES.get(freq.split("-")[0].upper(), "period")


def render(context: ForecastContext, kind: PromptKind, settings: SerializerSettings = DEFAULT) -> RenderedPrompt:
    """Serialize every series with its own scale (the target's scale reads the answer back)."""
    if kind != "new_product" and context.is_new_product:
        raise ValueError(f"{kind} needs sales history; use the new_product prompt for {context.product.title!r}")
    if kind == "few_shot" and not context.analogs:
        raise ValueError("few_shot needs at least one analog")
    if kind == "new_product":
        if not context.analogs:
            raise ValueError("new_product needs at least one analog")
        # The most similar launches (the floor averages all k_launch_analogs; a longer prompt was never
        # measured); their curves share one scale, so the answer is directly in the analogs' units.
        shown = context.analogs[:LAUNCH_EXAMPLES]
        scale = fit_scale(np.concatenate([a.next for a in shown]), settings)
        examples = [{"title": a.title, "next": serialize(a.next, scale, settings)} for a in shown]
        history = ""
    else:
        scale = fit_scale(context.history, settings)
        history = serialize(context.history, scale, settings)
        examples = []
        for analog in context.analogs if kind == "few_shot" else []:
            own = fit_scale(analog.history, settings)
            examples.append({"title": analog.title, "history": serialize(analog.history, own, settings),
                             "next": serialize(analog.next, own, settings)})
    text = load_template(kind).format(period=period_name(context.freq), product=context.product.model_dump(),
                                      history=history, horizon=context.horizon, examples=examples,
                                      scale_to=settings.scale_to)
    return RenderedPrompt(kind=kind, prompt_id=f"{kind}.{PROMPT_VERSION}", text=text, scale=scale,
                          regex=continuation_regex(context.horizon, settings))
