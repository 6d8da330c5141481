"""Read LLM samples as untrusted input: parse, bound, count what was rejected and why."""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import BaseModel, Field

from agent.forecast.serialize import DEFAULT, SerializerSettings, deserialize
from numeric.quantiles import QUANTILES


class SampleSummary(BaseModel):
    total: int
    valid: int
    rejected: dict[str, int] = Field(default_factory=dict, description="reason -> count")


def parse_samples(texts: list[str], finish_reasons: list[str], scale: float, horizon: int, ceiling: float,
                  settings: SerializerSettings = DEFAULT) -> tuple[np.ndarray, SampleSummary]:
    """Valid samples as an (n_valid, horizon) array in units, and why the others were dropped.

    `ceiling` bounds any single value in units (relative to the history's scale,
    set by the caller): a sample above it is implausible, not a forecast.
    """
    valid: list[np.ndarray] = []
    rejected: Counter[str] = Counter()
    for text, finish in zip(texts, finish_reasons, strict=True):
        if finish not in ("stop", "length"):
            rejected[f"finish_reason={finish}"] += 1
            continue
        try:
            values = deserialize(text, scale, settings)
        except ValueError:
            rejected["unparseable"] += 1
            continue
        if len(values) != horizon:
            rejected[f"wrong count ({len(values)} != {horizon})"] += 1
        elif values.max() > ceiling:
            rejected["above plausible bound"] += 1
        else:
            valid.append(values)
    array = np.vstack(valid) if valid else np.empty((0, horizon))
    return array, SampleSummary(total=len(texts), valid=len(valid), rejected=dict(rejected))


def sample_quantiles(samples: np.ndarray, quantiles: tuple[float, ...] = QUANTILES) -> np.ndarray:
    """Empirical quantiles per step, shape (len(quantiles), horizon) — LLMTime's estimator."""
    return np.quantile(samples, quantiles, axis=0)
