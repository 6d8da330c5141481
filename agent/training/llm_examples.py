"""Training pairs for the LoRA forecaster: the chain's exact prompts and the true continuation.

Windows come from `agent.training.windows` (train < validation < test < as_of,
strictly in time). Each window is turned into the contexts the chain would
build at its cutoff with the chain's own settings (the same `ContextBuilder`,
the same retriever, analogs ending before the cutoff) and rendered by the
chain's renderer, so the tuned model is trained on exactly what it will be
asked. A window with history gives a zero-shot pair and, when analogs are
found, a few-shot pair; a launch window gives a new-product pair, its analogs
retrieved as the evaluation retrieves them (the product itself excluded).
The answer is the true next `horizon` values in the prompt's serialization
and scale, ending the way the sampler's constraint regex ends.

Only data strictly before `as_of` reaches the builder: nothing a pair shows
or asks for lies at or after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from agent.data.dataset import Dataset
from agent.forecast.context import ContextBuilder, Retriever
from agent.forecast.prompting import PromptKind, render
from agent.forecast.serialize import DEFAULT, SerializerSettings, serialize
from agent.training.windows import Window, WindowSplit

KINDS: tuple[PromptKind, ...] = ("zero_shot", "few_shot", "new_product")


class PromptPair(BaseModel):
    kind: PromptKind
    unique_id: str
    cutoff: date = Field(description="First forecast period of the window.")
    prompt: str
    answer: str
    scale: float


@dataclass
class PairSplit:
    train: list[PromptPair]
    val: list[PromptPair]
    test: list[PromptPair]
    skipped: dict[str, int]  # why windows gave no pair, e.g. no analogs before the cutoff

    def counts(self) -> dict[str, dict[str, int]]:
        return {region: {kind: sum(p.kind == kind for p in pairs) for kind in KINDS}
                for region, pairs in (("train", self.train), ("val", self.val), ("test", self.test))}


def answer_text(target: np.ndarray, scale: float, settings: SerializerSettings = DEFAULT) -> str:
    """The values as the prompt writes them, each followed by the separator (as the constraint regex ends)."""
    return serialize(target, scale, settings) + settings.separator


def visible_dataset(dataset: Dataset, as_of: pd.Timestamp) -> Dataset:
    """The dataset cut at `as_of`: the only data the pair builder may see."""
    return Dataset(name=dataset.name, sales=dataset.sales[dataset.sales["ds"] < as_of], catalog=dataset.catalog,
                   freq=dataset.freq)


def window_pairs(builder: ContextBuilder, window: Window, horizon: int) -> tuple[list[PromptPair], str | None]:
    """The pairs of one window, or none and the reason."""
    uid, cutoff, target = window.unique_id, window.cutoff, window.example.target
    if window.example.history.size == 0:
        context = builder.for_catalog_launch(uid, horizon, cutoff)
        if not context.analogs:
            return [], "launch without launch analogs before it"
        kinds: list[PromptKind] = ["new_product"]
    else:
        context = builder.for_product(uid, horizon, cutoff, with_analogs=True)
        if not any(context.history):
            return [], "history all zeros (the chain never prompts it)"
        kinds = ["zero_shot"] + (["few_shot"] if context.analogs else [])
    pairs = []
    for kind in kinds:
        rendered = render(context, kind)
        pairs.append(PromptPair(kind=kind, unique_id=uid, cutoff=cutoff.date(), prompt=rendered.text,
                                answer=answer_text(target, rendered.scale), scale=rendered.scale))
    return pairs, None


def build_pairs(dataset: Dataset, split: WindowSplit, retriever: Retriever) -> PairSplit:
    """Every window of the split as prompt pairs, seen through the chain's context builder."""
    builder = ContextBuilder(visible_dataset(dataset, split.as_of), retriever)
    regions: dict[str, list[PromptPair]] = {"train": [], "val": [], "test": []}
    skipped: dict[str, int] = {}
    for region, windows in (("train", split.train), ("val", split.val), ("test", split.test)):
        for window in windows:
            pairs, reason = window_pairs(builder, window, split.spec.horizon)
            regions[region].extend(pairs)
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
    return PairSplit(**regions, skipped=skipped)


def balanced_sample(pairs: list[PromptPair], n: int, seed: int) -> list[PromptPair]:
    """Up to `n` pairs, as even across prompt kinds as the pairs allow; a pure function of the seed.

    The evaluation asks each kind as often, so no kind should dominate training
    just because its windows are more numerous.
    """
    rng = np.random.default_rng(seed)
    by_kind = {kind: [p for p in pairs if p.kind == kind] for kind in KINDS}
    order = {kind: [items[i] for i in rng.permutation(len(items))] for kind, items in by_kind.items()}
    chosen: list[PromptPair] = []
    while len(chosen) < n and any(order.values()):
        for kind in KINDS:
            if order[kind] and len(chosen) < n:
                chosen.append(order[kind].pop())
    return sorted(chosen, key=lambda p: (p.unique_id, p.cutoff, p.kind))
