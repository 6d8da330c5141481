"""The answer every path returns: numbers plus how they were made."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from numeric.quantiles import QUANTILES, key

ForecastPath = Literal["llm-few-shot", "llm-zero-shot", "llm-new-product", "regression", "baseline", "combination"]
Mode = Literal["auto", "few-shot", "zero-shot", "regression", "baseline"]


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
