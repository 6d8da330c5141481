"""LLMTime-style number serialization, isolated so every prompt writes numbers the same way.

Each series is divided by its own scale (a high quantile of its history), so a
product selling 3 units a week and one selling 3,000 look alike to the model;
values are written as non-negative integers with a bounded number of digits
and one fixed separator. The regex that constrains the model's continuation is
derived from the same settings, so what is written and what is parsed agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SerializerSettings:
    # Sales are non-negative with many zeros, so unlike LLMTime there is no offset.
    scale_quantile: float = 0.9
    # The scale maps to this integer: 0..max_digits-wide values keep headroom above it.
    scale_to: int = 100
    max_digits: int = 3
    separator: str = ", "

    @property
    def max_value(self) -> int:
        return 10**self.max_digits - 1


DEFAULT = SerializerSettings()


def fit_scale(history: Sequence[float] | np.ndarray, settings: SerializerSettings = DEFAULT) -> float:
    """Units per `scale_to`: a high quantile of the history, never zero."""
    values = np.asarray(history, dtype=float)
    positive = values[values > 0]
    if positive.size == 0:
        return 1.0
    return float(max(np.quantile(values, settings.scale_quantile), positive.min()))


def serialize(values: Sequence[float] | np.ndarray, scale: float, settings: SerializerSettings = DEFAULT) -> str:
    scaled = np.clip(np.rint(np.asarray(values, dtype=float) / scale * settings.scale_to), 0, settings.max_value)
    return settings.separator.join(str(int(v)) for v in scaled)


def deserialize(text: str, scale: float, settings: SerializerSettings = DEFAULT) -> np.ndarray:
    """Parse a serialized sequence back to units; raises ValueError on anything malformed."""
    tokens = [token.strip() for token in text.strip().strip(settings.separator.strip()).split(settings.separator.strip())]
    if not tokens or any(not re.fullmatch(rf"\d{{1,{settings.max_digits}}}", token) for token in tokens):
        raise ValueError(f"not a serialized sequence: {text[:80]!r}")
    return np.array([int(token) for token in tokens], dtype=float) * scale / settings.scale_to


def continuation_regex(horizon: int, settings: SerializerSettings = DEFAULT) -> str:
    """Exactly `horizon` values with bounded digits, each followed by the separator.

    Ending on the separator matters: when the pattern ends on a digit, a sampler
    that cannot emit ", " after the last value pads it to the maximum number of
    digits instead (measured with vLLM: 64 became 646).
    """
    value = rf"\d{{1,{settings.max_digits}}}"
    # re.escape also escapes spaces, which some regex engines in structured-output backends reject.
    separator = re.escape(settings.separator).replace("\\ ", " ")
    return rf"(?:{value}{separator}){{{horizon}}}"
