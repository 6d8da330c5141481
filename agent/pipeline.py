"""One object that holds everything a forecast needs, built once per process.

CLI commands, the HTTP API and the evaluation harness all go through
`Shelfcast`: the dataset, the product index, the LLM backend and the regression
model are loaded here and shared, never re-loaded per request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import pandas as pd

from agent.config import get_settings
from agent.data import Dataset, load_dataset
from agent.forecast.chain import ChainSettings, ForecastChain, Regressor
from agent.forecast.context import ContextBuilder
from agent.forecast.gbm import GbmForecaster
from agent.forecast.result import MODEL_ALIAS, Forecast, Mode, forecasts_to_frame
from agent.forecast.routing import load_routing
from agent.llm.base import LLMBackend
from agent.llm.select import Tuned, TunedUnavailable, Weights, adapter_as_of
from agent.retrieval.index import ProductIndex

if TYPE_CHECKING:  # finetune (torch, transformers) loads only when a regression artifact is used
    from finetune.regression.artifact import Choice

BackendPreference = Literal["auto", "http", "embedded", "none"]


@dataclass
class Shelfcast:
    dataset: Dataset
    index: ProductIndex
    backend: LLMBackend | None
    regressor: Regressor | None = None
    settings: ChainSettings = field(default_factory=ChainSettings)
    backend_note: str = ""
    regressor_note: str = ""
    tuned: TunedOnDemand | None = None  # the LoRA-tuned LLM for routes that name a tuned path (None: those give way)

    def __post_init__(self) -> None:
        self.builder = ContextBuilder(self.dataset, self.index)
        # auto routes by the backtests of these very data (matched by fingerprint), else keeps the fixed order.
        self.routing, self.routing_note = load_routing(self.dataset.sales, self.dataset.freq)
        # The global gbm is fitted lazily, on the first request that reaches it (then cached per origin).
        self.chain = ForecastChain(self.builder, self.backend, self.regressor, self.settings, self.routing,
                                   self.routing_note, GbmForecaster(self.dataset), self.tuned)
        self._stores: dict[str, Shelfcast] = {}
        self._stores_lock = threading.Lock()

    def for_store(self, store: str) -> Shelfcast:
        """The same pipeline on one store's sales of the built-in data, cached; index, LLM and regressor are shared.

        The shared index covers the whole catalog, so products a store never sold
        can be retrieved; they have no history there and are skipped as analogs.
        KeyError for a store the data do not have.
        """
        if not self.dataset.name.startswith("completejourney"):
            raise ValueError(f"a store can only be chosen in the built-in data, not in {self.dataset.name!r}")
        if not store.isdigit():
            raise KeyError(f"unknown store {store!r}: store ids are numbers, e.g. 367")
        store = str(int(store))  # "0367" and "367" are one store
        with self._stores_lock:  # one load per store even when concurrent requests ask for it
            if store not in self._stores:
                self._stores[store] = Shelfcast(load_dataset(None, None, store), self.index, self.backend,
                                                self.regressor, self.settings, self.backend_note, self.regressor_note,
                                                self.tuned)
            return self._stores[store]

    @classmethod
    def load(cls, sales: str | None = None, catalog: str | None = None, store: str | None = None,
             backend: BackendPreference = "auto", regression: bool = True, progress: bool = True,
             settings: ChainSettings | None = None, llm_model: Weights = "base") -> Shelfcast:
        """`llm_model` 'lora' answers with the newest LoRA-tuned forecaster (`shelfcast finetune llm`)."""
        dataset = load_dataset(sales, catalog, store)
        index = ProductIndex.load_or_build(dataset.catalog, name=dataset.name, sales=dataset.sales, progress=progress)
        llm, note = load_backend(backend, model=llm_model)
        tuned = TunedOnDemand(backend, loaded=(llm, note) if llm_model == "lora" else None)
        regressor, regressor_note = load_regressor(dataset) if regression else (None, "regression model not loaded")
        return cls(dataset, index, llm, regressor, settings or ChainSettings(), note, regressor_note, tuned)

    def forecast(self, unique_id: str, horizon: int, mode: Mode = "auto", cutoff: pd.Timestamp | None = None) -> Forecast:
        return self.chain.forecast(unique_id, horizon, mode, cutoff)

    def forecast_new(self, title: str, horizon: int, **product: object) -> Forecast:
        return self.chain.forecast_new(title, horizon, **product)

    def predict_df(self, unique_ids: list[str], horizon: int, mode: Mode = "auto",
                   cutoff: pd.Timestamp | None = None, model: str = MODEL_ALIAS) -> pd.DataFrame:
        """Nixtla's long frame: unique_id, ds, <model>, <model>-lo-80, <model>-hi-80, path, n_valid_samples, reason.

        Rows in the order of `unique_ids`, `horizon` rows each. `shelfcast batch`
        writes the same layout (agent.forecast.result.forecasts_to_frame).
        """
        return forecasts_to_frame(self.chain.forecast_many(unique_ids, horizon, mode, cutoff), model)


def load_backend(prefer: str = "auto", url: str | None = None, model: Weights = "base",
                 adapter: str = "latest") -> tuple[LLMBackend | None, str]:
    """(LLM backend or None, a sentence saying which and why); the one place a backend is chosen.

    'none' disables the LLM (chain paths then fall through and say so); a `url`
    forces that OpenAI-compatible server and, like 'http', never falls back to
    the embedded model: an unhealthy server is an error. `model` picks the
    weights: 'base' or 'lora' (the tuned forecaster; `adapter` 'latest', an
    adapter id or folder, used in-process; a server serves it as model `lora`).
    """
    from agent.llm.select import choose_backend

    if prefer not in get_args(BackendPreference):
        raise ValueError(f"unknown backend {prefer!r}: use {', '.join(get_args(BackendPreference))}")
    if model not in get_args(Weights):
        raise ValueError(f"unknown LLM model {model!r}: use {', '.join(get_args(Weights))}")
    if prefer == "none":
        return None, "LLM disabled (--backend none)"
    choice = choose_backend("http" if url else prefer, model, adapter, url=url)  # type: ignore[arg-type]
    return choice.backend, f"{choice.name}: {choice.reason}"


class TunedOnDemand:
    """The LoRA-tuned LLM, chosen by `load_backend` the first time a route names a tuned path, never before.

    Routing tables send launches to the tuned weights where they backtested best,
    but most processes never serve such a route, and loading (merging the adapter
    in-process) costs seconds and memory. The outcome, the backend or why there is
    none (no adapter on this machine: a fresh clone has none until `shelfcast
    finetune llm`; an adapter without a recorded as-of date; a server without
    'lora'), is kept: each tuned path then answers or gives way with that reason.
    `loaded`: the backend already chosen on the tuned weights (`--model lora`).
    """

    def __init__(self, prefer: str = "auto", url: str | None = None, adapter: str = "latest",
                 loaded: tuple[LLMBackend | None, str] | None = None):
        self.prefer, self.url, self.adapter, self._loaded = prefer, url, adapter, loaded
        self._tuned: Tuned | None = None
        self._problem: str | None = None
        self._lock = threading.Lock()

    def load(self) -> Tuned:
        """The tuned backend with its adapter and as-of date; TunedUnavailable says why there is none."""
        with self._lock:
            if self._tuned is None and self._problem is None:
                try:
                    self._tuned = self._choose()
                except (RuntimeError, FileNotFoundError) as exc:  # BackendError, ModelNotAvailable; AdapterMissing
                    self._problem = str(exc)
            if self._tuned is None:
                raise TunedUnavailable(self._problem or "tuned LLM not loaded")
            return self._tuned

    def _choose(self) -> Tuned:
        backend, note = self._loaded or load_backend(self.prefer, self.url, "lora", self.adapter)
        if backend is None:
            raise TunedUnavailable(note)
        adapter_id, as_of = adapter_as_of(backend)
        if as_of is None:
            raise TunedUnavailable(f"the tuned adapter {adapter_id} records no as-of date here, so its backtests cannot "
                                   "be shown to have never seen a forecast week (retrain with `shelfcast finetune llm`)")
        return Tuned(backend, adapter_id, as_of)


def regressor_choice(dataset: Dataset) -> tuple[Choice | None, str]:
    """(the regression artifact that should serve `dataset`, or None; a sentence saying which and why).

    `finetune.regression.artifact.choose_artifact` decides: same frequency, then
    trained on this data (fingerprint), then the longest horizon, then the newest.
    The sentence (trained here, or transferred with its own test scores) is also
    what every regression answer records as its method.
    """
    from finetune.regression.artifact import choose_artifact

    return choose_artifact(get_settings().models_dir / "regression", dataset.name, dataset.freq,
                           lambda as_of: dataset.fingerprint(pd.Timestamp(as_of)))


def load_regressor(dataset: Dataset) -> tuple[Regressor | None, str]:
    """The chosen artifact (`regressor_choice`) loaded, or None; and the sentence saying which and why."""
    from finetune.regression.artifact import load_forecaster

    choice, why = regressor_choice(dataset)
    if choice is None:
        return None, why
    return load_forecaster(choice.path, note=choice.note), choice.note
