"""What runs inside the Ray workers: the chain over packed contexts, one batch of products at a time.

`ForecastBatch` is the class-based `map_batches` UDF (Ray runs it in an actor
pool, `compute=ActorPoolStrategy`): it loads the regression model once per
actor, holds one HTTP client per vLLM endpoint, and runs `ForecastChain.run`
on every product of a batch. The chain is the same object `shelfcast forecast`
uses, so prompts, sample parsing, bounds and fallback reasons are the chain's
own; nothing about forecasting is re-implemented here.

`__call__` is async (Ray runs several batches per actor at once) and sends a
batch's LLM requests concurrently: the chain is synchronous, so each product
runs in a thread of the actor's pool, `max_in_flight` at a time, and the
threads only wait on HTTP. A product whose chain raises anything unexpected is
answered by the floor with the error as its reason: one bad row never fails a
block, and no product is dropped.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent.forecast.chain import ChainSettings, ForecastChain, Regressor
from agent.forecast.context import ForecastContext
from agent.forecast.result import Attempt, Forecast, Mode, forecasts_to_frame
from agent.llm.base import BackendError, Generation, GenerationRequest
from agent.llm.http import BackendUnavailable, HttpBackend


class EndpointPool:
    """Several OpenAI-compatible servers (one vLLM per GPU or node) as one `LLMBackend`.

    Each request goes to the endpoint with the fewest requests in flight from
    this process; an endpoint that cannot be reached (after HttpBackend's own
    retries) hands the request to the next one, and only when every endpoint
    failed does the chain see the error and fall back.
    """

    name = "vllm-http"

    def __init__(self, urls: list[str], timeout_s: float, model_id: str | None = None) -> None:
        if not urls:
            raise ValueError("an endpoint pool needs at least one URL")
        self.endpoints = [HttpBackend(url, model_id=model_id, timeout_s=timeout_s) for url in urls]
        self._in_flight = [0] * len(urls)
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.endpoints[0].model_id

    def healthy(self) -> bool:
        return any(endpoint.healthy() for endpoint in self.endpoints)

    def _order(self) -> list[int]:
        with self._lock:
            return sorted(range(len(self.endpoints)), key=lambda i: self._in_flight[i])

    def generate(self, request: GenerationRequest) -> Generation:
        error: BackendError | None = None
        for i in self._order():
            with self._lock:
                self._in_flight[i] += 1
            try:
                return self.endpoints[i].generate(request)
            except BackendUnavailable as exc:  # down or 5xx: another server may answer
                error = exc
            finally:
                with self._lock:
                    self._in_flight[i] -= 1
        assert error is not None
        raise error

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.close()


class PrimedRegressor:
    """A regressor whose answers for a whole batch are computed in one call, then handed out per product.

    The chain asks the regressor one product at a time; the model is ~10x
    faster batched. `prime` runs the batch; `predict` returns the primed row
    when it has one and asks the model otherwise. A batch the model rejects
    (e.g. a horizon it was not trained for) is not primed, so each product
    gets the model's own error, which the chain records as its reason.
    """

    def __init__(self, model: Regressor) -> None:
        self.model = model
        self.artifact_id = model.artifact_id
        self.note = model.note
        self._primed: dict[tuple[str, bytes, int], np.ndarray] = {}

    @staticmethod
    def _key(text: str, history: np.ndarray, horizon: int) -> tuple[str, bytes, int]:
        return text, np.asarray(history, dtype=float).tobytes(), horizon

    def prime(self, contexts: list[ForecastContext]) -> None:
        self._primed.clear()
        groups: dict[int, list[ForecastContext]] = {}
        for context in contexts:
            groups.setdefault(context.horizon, []).append(context)
        for horizon, group in groups.items():
            inputs = [context.regressor_input() for context in group]
            try:
                predicted = self.model.predict([t for t, _ in inputs], [h for _, h in inputs], horizon)
            except ValueError:
                continue
            for (text, history), quantiles in zip(inputs, predicted, strict=True):
                self._primed[self._key(text, history, horizon)] = quantiles

    def predict(self, texts: list[str], histories: list[np.ndarray], horizon: int) -> np.ndarray:
        keys = [self._key(t, h, horizon) for t, h in zip(texts, histories, strict=True)]
        if all(key in self._primed for key in keys):
            return np.stack([self._primed[key] for key in keys])
        return self.model.predict(texts, histories, horizon)


class ForecastBatch:
    """Ray Data UDF: a pandas batch of packed rows (unique_id, context) -> the long forecast frame.

    `tally` is a Ray actor handle with `add(products, fallbacks)` (progress);
    None outside Ray.
    """

    def __init__(self, mode: Mode, llm_urls: list[str], settings: ChainSettings, artifact: dict | None,
                 max_in_flight: int, tally: Any = None, llm_model: str | None = None) -> None:
        """`artifact`: the regression artifact the driver chose for the data ({"path", "note"}; path None: none)."""
        backend = EndpointPool(llm_urls, settings.timeout_s, llm_model) if llm_urls else None
        regressor = None
        if artifact and artifact.get("path"):
            from finetune.regression.artifact import load_forecaster

            regressor = PrimedRegressor(load_forecaster(Path(artifact["path"]), note=artifact.get("note") or ""))
        self.mode = mode
        self.regressor = regressor
        self.chain = ForecastChain(None, backend, regressor, settings)
        self.pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="forecast") if backend else None
        self.tally = tally

    def forecast(self, context: ForecastContext) -> Forecast:
        """The chain's answer; if the chain itself breaks, the floor's, with the error as the reason."""
        try:
            return self.chain.run(context, self.mode)
        except Exception as exc:  # noqa: BLE001 - one product's failure must not fail the block
            floor = self.chain.run(context, "baseline")
            failed = Attempt(path=self.chain.plan(context, self.mode)[0], answered=False,
                             reason=f"batch worker error: {type(exc).__name__}: {exc}")
            return floor.model_copy(update={"attempts": [failed, *floor.attempts]})

    def _counted(self, context: ForecastContext) -> Forecast:
        """One LLM product, counted as soon as it is done: a block of slow LLM answers takes minutes."""
        forecast = self.forecast(context)
        self._tell(1, bool(forecast.fallback_reasons))
        return forecast

    def _tell(self, products: int, fallbacks: int) -> None:
        if self.tally is not None:
            self.tally.add.remote(products, fallbacks)

    async def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        contexts = [ForecastContext.model_validate_json(text) for text in batch["context"]]
        if self.pool is None:
            if self.regressor is not None:
                self.regressor.prime(contexts)
            forecasts = [self.forecast(context) for context in contexts]
            self._tell(len(forecasts), sum(bool(f.fallback_reasons) for f in forecasts))
        else:
            loop = asyncio.get_running_loop()
            forecasts = list(await asyncio.gather(*(loop.run_in_executor(self.pool, self._counted, context)
                                                    for context in contexts)))
        return forecasts_to_frame(forecasts)
