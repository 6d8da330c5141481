"""The answer every path returns: numbers plus how they were made, and its long-frame layout.

`forecasts_to_frame` is the library's one long-frame output (Nixtla's layout:
`unique_id, ds, <model>, <model>-lo-80, <model>-hi-80`, plus `path`,
`n_valid_samples` and `reason`): `Shelfcast.predict_df` and `shelfcast batch`
both write it, so a catalog forecast and a library call read back the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from numeric.quantiles import LEVEL, QUANTILES, key

ForecastPath = Literal["llm-few-shot", "llm-zero-shot", "llm-new-product", "llm-lora-few-shot", "llm-lora-zero-shot",
                       "llm-lora-new-product", "regression", "gbm", "baseline", "combination"]
Mode = Literal["auto", "few-shot", "zero-shot", "regression", "gbm", "baseline"]


class Attempt(BaseModel):
    """One path the chain tried (or skipped), and why it did not answer."""

    path: ForecastPath
    answered: bool
    reason: str | None = None
    latency_s: float = 0.0
    samples_total: int = 0
    samples_valid: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)


class Forecast(BaseModel):
    unique_id: str | None
    title: str
    freq: str
    horizon: int
    dates: list[date]
    point: list[float]
    quantiles: dict[str, list[float]] = Field(description="'0.1', '0.5', '0.9' -> values per date, in units. "
                                              "Read with quantile(q), lower and upper.")
    path: ForecastPath = Field(description="The path that answered.")
    attempts: list[Attempt] = Field(description="Every path tried in order, with the reason each earlier one gave way.")
    backend: str | None = Field(None, description="LLM backend that answered ('vllm-http', 'embedded'), if an LLM did.")
    model_ids: list[str] = Field(default_factory=list)
    prompt_id: str | None = None
    analogs: list[str] = Field(default_factory=list, description="unique_ids of the retrieved similar products used.")
    history_tail: list[float] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    route: str | None = Field(None, description="Which rule of which routing table chose the first path (auto), or why "
                              "the fixed order was used.")
    calibration: str | None = Field(None, description="How the 80% interval was calibrated on backtest residuals, if it was.")

    def quantile(self, q: float) -> list[float]:
        """Values per date of quantile level `q` (e.g. 0.1); KeyError names the levels there are."""
        try:
            return self.quantiles[key(q)]
        except KeyError:
            raise KeyError(f"no quantile {q:g} in this forecast; it has {', '.join(self.quantiles)}") from None

    @property
    def lower(self) -> list[float]:
        """The lowest quantile per date (0.1): the 80% interval's lower bound."""
        return self.quantile(QUANTILES[0])

    @property
    def upper(self) -> list[float]:
        """The highest quantile per date (0.9): the 80% interval's upper bound."""
        return self.quantile(QUANTILES[-1])

    @property
    def fallback_reasons(self) -> list[str]:
        return [f"{a.path}: {a.reason}" for a in self.attempts if not a.answered and a.reason]


MODEL_ALIAS = "shelfcast"


def frame_columns(model: str = MODEL_ALIAS) -> list[str]:
    return ["unique_id", "ds", model, f"{model}-lo-{LEVEL}", f"{model}-hi-{LEVEL}", "path", "n_valid_samples", "reason"]


def forecasts_to_frame(forecasts: list[Forecast], model: str = MODEL_ALIAS) -> pd.DataFrame:
    """One row per product and period: the median as `<model>`, the 80% interval, and how it was made.

    `n_valid_samples` counts the LLM samples behind the answer (0 when no LLM
    answered); `reason` joins why earlier paths gave way ('' when the first
    planned path answered).
    """
    steps = [len(f.dates) for f in forecasts]

    def per_step(values: list) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=object), steps) if forecasts else np.array([], dtype=object)

    def stacked(values: list[list[float]]) -> np.ndarray:
        return np.concatenate(values).astype(float) if forecasts else np.array([])

    frame = pd.DataFrame({
        "unique_id": per_step([f.unique_id for f in forecasts]).astype(str),
        "ds": pd.to_datetime([d for f in forecasts for d in f.dates]),
        model: stacked([f.point for f in forecasts]),
        f"{model}-lo-{LEVEL}": stacked([f.lower for f in forecasts]),
        f"{model}-hi-{LEVEL}": stacked([f.upper for f in forecasts]),
        "path": per_step([f.path for f in forecasts]).astype(str),
        "n_valid_samples": per_step([f.attempts[-1].samples_valid for f in forecasts]).astype("int64"),
        "reason": per_step(["; ".join(f.fallback_reasons) for f in forecasts]).astype(str),
    })
    return frame[frame_columns(model)]
