"""The forecast chain: LLM few-shot -> LLM zero-shot -> regression model -> global gbm -> statistical floor.

Each path either answers or says why it gave way; the first that answers wins
and every attempt is recorded in the Forecast. LLM output is untrusted: each
sample is parsed and bounded, and too few valid samples is a reason to fall
through, never a reason to fail. The global gbm (agent/forecast/gbm.py) is its
own mode and comes after regression in `auto`'s fixed order; a routing table
can put it first or give it a weight in a combination.

With a routing table (agent/forecast/routing.py, written by `shelfcast eval`),
`auto` first tries the path or weighted combination that backtested best for
the product's segment, then the other paths in the order of their backtest
score in that segment (paths the rule did not score in the fixed order). The
fixed order after a routed choice cost what the evidence had saved: with the
shipped table and no tuned adapter on the machine, the tuned routes fell to
the base LLM and held-out `auto` scored WAPE 0.818 on launches and 0.744 on
existing products, against 0.709 and 0.712 in score order (the same as a
table without the tuned candidates; eval/results/routing-completejourney.txt).
The table's conformal step
calibrates the answer's 80% interval on any mode, and the Forecast records the
rule (`route`) and the calibration.

Only a route reaches the tuned LLM's paths (`llm-lora-few-shot`, `-zero-shot`,
`-new-product`: the same prompts answered by the LoRA weights). On the built-in
launches they backtested WAPE 0.512 against the analog floor's 0.709, so the
shipped table sends launches there. The tuned weights load on the first such
route (`TunedLLM`); with no adapter on the machine, an adapter whose as-of date
is unknown, or one trained on periods at or after the forecast's cutoff, the
path gives way to the next path and its attempt says why.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from rich.progress import Progress

from agent.data.dataset import season_length
from agent.forecast.context import ContextBuilder, ForecastContext
from agent.forecast.floor import floor_forecast
from agent.forecast.gbm import GbmUnavailable
from agent.forecast.prompting import PromptKind, render
from agent.forecast.result import Attempt, Forecast, ForecastPath, Mode
from agent.forecast.routing import RoutingTable, Rule, calibrate_interval, combine_quantiles, segment_of
from agent.forecast.samples import parse_samples, sample_quantiles
from agent.forecast.serialize import DEFAULT, SerializerSettings
from agent.llm.base import BackendError, GenerationRequest, LLMBackend
from agent.llm.select import Tuned, Weights
from numeric.quantiles import MEDIAN, QUANTILES, key


@dataclass(frozen=True)
class ChainSettings:
    samples: int = 20
    temperature: float = 0.7
    top_p: float = 0.95
    min_valid_share: float = 0.5
    # Any single value above this multiple of the series' recent peak is not a forecast.
    ceiling_factor: float = 5.0
    timeout_s: float = 60.0
    max_workers: int = 8  # concurrent requests to a server backend (vLLM batches them); embedded: one at a time
    seed: int | None = 0
    serializer: SerializerSettings = DEFAULT  # digits per value and separator, in the prompt and the answer


class Regressor(Protocol):
    """What the chain needs from finetune.regression.predict.RegressionForecaster."""

    artifact_id: str
    note: str  # which artifact, trained on this data or transferred: recorded with each answer

    def predict(self, texts: list[str], histories: list[np.ndarray], horizon: int) -> np.ndarray: ...


class GlobalModel(Protocol):
    """What the chain needs from agent.forecast.gbm.GbmForecaster: a model fitted across the dataset's products."""

    def predict(self, context: ForecastContext) -> tuple[np.ndarray, str]: ...


class PathFailed(Exception):
    """A path could not give a trustworthy answer; the message is the recorded reason."""

    def __init__(self, reason: str, stats: dict | None = None):
        super().__init__(reason)
        self.stats = stats or {}


class TunedLLM(Protocol):
    """What the chain needs for the tuned paths (agent.pipeline.TunedOnDemand): the tuned backend, loaded on first
    use; BackendError (TunedUnavailable) says why there is none."""

    def load(self) -> Tuned: ...


_PROMPTS: dict[ForecastPath, PromptKind] = {"llm-few-shot": "few_shot", "llm-zero-shot": "zero_shot",
                                            "llm-new-product": "new_product"}
# The same prompt answered by the LoRA-tuned weights; only a routing rule puts these in a plan.
TUNED: dict[ForecastPath, ForecastPath] = {"llm-few-shot": "llm-lora-few-shot", "llm-zero-shot": "llm-lora-zero-shot",
                                           "llm-new-product": "llm-lora-new-product"}
_LLM_PATHS: dict[ForecastPath, tuple[PromptKind, Weights]] = {
    **{path: (kind, "base") for path, kind in _PROMPTS.items()},
    **{TUNED[path]: (kind, "lora") for path, kind in _PROMPTS.items()}}
_DOWN: dict[Weights, str] = {"base": "LLM backend unavailable", "lora": "tuned LLM unavailable"}


def _weights(path: str) -> Weights | None:
    """The LLM weights an LLM path asks (None: not an LLM path)."""
    return _LLM_PATHS[path][1] if path in _LLM_PATHS else None  # type: ignore[index]


class ForecastChain:
    """`builder` makes contexts from ids (`forecast`, `forecast_new`, `forecast_many`); `run` needs none.

    A chain without a builder runs contexts packed elsewhere: `agent.batch` ships
    each product's context to Ray workers that never load the dataset.
    """

    def __init__(self, builder: ContextBuilder | None, backend: LLMBackend | None = None, regressor: Regressor | None = None,
                 settings: ChainSettings = ChainSettings(), routing: RoutingTable | None = None, routing_note: str = "",
                 gbm: GlobalModel | None = None, tuned: TunedLLM | None = None):
        """`routing`: the table for this dataset (agent.forecast.routing.load_routing); `routing_note` says where
        it came from, or why there is none. `gbm`: the global model of the served data (None: the path says so).
        `tuned`: the LoRA-tuned LLM for routes naming a tuned path (None: those paths give way and say so)."""
        self.builder = builder
        self.backend = backend
        self.tuned = tuned
        self.regressor = regressor
        self.gbm = gbm
        self.settings = settings
        self.routing = routing
        self.routing_note = routing_note or ("no routing table loaded" if routing is None else "")

    @property
    def workers(self) -> int:
        """Forecasts to run at once: a vLLM server and the embedded decode engine both batch concurrent requests."""
        return self.settings.max_workers

    # --- public entry points -------------------------------------------------
    def forecast(self, unique_id: str, horizon: int, mode: Mode = "auto", cutoff: pd.Timestamp | None = None) -> Forecast:
        context = self._builder().for_product(unique_id, horizon, cutoff, with_analogs=mode in ("auto", "few-shot"))
        return self.run(context, mode)

    def forecast_new(self, title: str, horizon: int, mode: Mode = "auto", **product: object) -> Forecast:
        return self.run(self._builder().for_new_product(title, horizon, **product), mode)

    def forecast_many(self, unique_ids: list[str], horizon: int, mode: Mode = "auto",
                      cutoff: pd.Timestamp | None = None, show_progress: bool = True) -> list[Forecast]:
        """Concurrent requests so a vLLM server batches them; order of results = order of ids."""
        workers = self.workers
        results: list[Forecast | None] = [None] * len(unique_ids)
        with Progress(disable=not show_progress, transient=True) as progress, ThreadPoolExecutor(workers) as pool:
            task = progress.add_task(f"Forecasting {len(unique_ids)} products", total=len(unique_ids))
            futures = {pool.submit(self.forecast, uid, horizon, mode, cutoff): i for i, uid in enumerate(unique_ids)}
            for future in futures:
                results[futures[future]] = future.result()
                progress.advance(task)
        return [r for r in results if r is not None]

    def _builder(self) -> ContextBuilder:
        if self.builder is None:
            raise RuntimeError("this chain has no ContextBuilder: it only runs contexts given to `run`")
        return self.builder

    def plan(self, context: ForecastContext, mode: Mode) -> list[ForecastPath]:
        """The paths to try, in order; the floor always closes the list."""
        return self.route(context, mode)[0]

    def route(self, context: ForecastContext, mode: Mode) -> tuple[list[ForecastPath], Rule | None, str | None]:
        """(paths in order, the routing rule that put its choice first, what the record says about routing)."""
        fixed = self._fixed_plan(context, mode)
        if mode != "auto":
            return fixed, None, None
        if self.routing is None:
            return fixed, None, f"fixed order: {self.routing_note}"
        segment = segment_of(context.history, context.freq)
        rule = self.routing.route(segment)
        if rule is None:
            return fixed, None, f"fixed order: routing table {self.routing.table_id} has no rule for {segment.key}"
        applicable = [*fixed, *(TUNED[p] for p in fixed if p in TUNED)]
        inapplicable = [p for p in rule.weights if p not in applicable]
        if inapplicable:
            return fixed, None, (f"fixed order: {rule.describe()} names {inapplicable}, which cannot answer "
                                 f"{'a new' if context.is_new_product else 'an existing'} product")
        first: ForecastPath = "combination" if rule.is_combination else next(iter(rule.weights))
        note = f"{rule.describe()}, table {self.routing.table_id}, segment {segment.key}"
        rest = [p for p in fixed if p != first]
        if rule.scores:  # the rule's own evidence orders what follows; paths it did not score keep the fixed order
            rest.sort(key=lambda p: rule.scores.get(p, math.inf))
            rest = rest[:rest.index("baseline") + 1] if first != "baseline" else []  # nothing after the floor runs
            note += f"; then by backtest {rule.metric} in the segment: {', '.join(rest)}" if rest else ""
        return [first, *rest], rule, note

    def _fixed_plan(self, context: ForecastContext, mode: Mode) -> list[ForecastPath]:
        if mode == "baseline":
            return ["baseline"]
        if mode in ("regression", "gbm"):
            return [mode, "baseline"]
        if context.is_new_product:
            llm: list[ForecastPath] = ["llm-new-product"] if mode in ("auto", "few-shot", "zero-shot") else []
        elif mode == "few-shot":
            llm = ["llm-few-shot"]
        elif mode == "zero-shot":
            llm = ["llm-zero-shot"]
        else:
            llm = ["llm-few-shot", "llm-zero-shot"]
        return llm + (["regression", "gbm"] if mode == "auto" else []) + ["baseline"]

    def run(self, context: ForecastContext, mode: Mode = "auto") -> Forecast:
        started = time.perf_counter()
        attempts: list[Attempt] = []
        down: dict[Weights, str] = {}  # LLM weights whose backend failed in this forecast, and why
        plan, rule, route_note = self.route(context, mode)
        for path in plan:
            tic = time.perf_counter()
            weights = _weights(path)
            if weights is not None and weights in down:
                attempts.append(Attempt(path=path, answered=False, reason=f"skipped: {down[weights]}"))
                continue
            try:
                if path == "combination":
                    quantiles, details = self._combination(context, rule, down)
                else:
                    quantiles, details = self._answer(path, context)
            except BackendError as exc:
                weights = weights or "base"  # only LLM paths raise it
                down[weights] = f"{_DOWN[weights]} ({exc})"
                attempts.append(Attempt(path=path, answered=False, reason=down[weights],
                                        latency_s=time.perf_counter() - tic))
                continue
            except PathFailed as exc:
                attempts.append(Attempt(path=path, answered=False, reason=str(exc), latency_s=time.perf_counter() - tic,
                                        **exc.stats))
                continue
            attempts.append(Attempt(path=path, answered=True, reason=details.get("method"),
                                    latency_s=time.perf_counter() - tic, **details.get("stats", {})))
            details["route"] = route_note
            return self._result(context, path, quantiles, attempts, details, time.perf_counter() - started)
        raise AssertionError("the baseline path always answers")  # pragma: no cover

    # --- the paths -------------------------------------------------------------
    def _answer(self, path: ForecastPath, context: ForecastContext) -> tuple[np.ndarray, dict]:
        if path in _LLM_PATHS:
            return self._llm(path, context)
        if path == "regression":
            return self._regression(context)
        if path == "gbm":
            return self._gbm(context)
        quantiles, method = floor_forecast(context, season_length(context.freq))
        return quantiles, {"method": method}

    def _combination(self, context: ForecastContext, rule: Rule | None,
                     down: dict[Weights, str]) -> tuple[np.ndarray, dict]:
        """The rule's weighted quantile average over the components that answer (weights renormalised).

        A component whose LLM backend fails marks those weights down in `down`, as a path of its own would."""
        assert rule is not None
        parts: dict[str, np.ndarray] = {}
        missing: list[str] = []
        details: dict = {}
        for path in rule.weights:
            weights = _weights(path)
            if weights is not None and weights in down:
                missing.append(f"{path} skipped ({down[weights]})")
                continue
            try:
                parts[path], part = self._answer(path, context)  # type: ignore[arg-type]
            except BackendError as exc:
                weights = weights or "base"  # only LLM paths raise it
                down[weights] = f"{_DOWN[weights]} ({exc})"
                missing.append(f"{path}: {down[weights]}")
                continue
            except PathFailed as exc:
                missing.append(f"{path}: {exc}")
                continue
            for field in ("generation", "prompt_id", "model_id"):  # the first component that has one
                if details.get(field) is None:
                    details[field] = part.get(field)
        if not parts:
            raise PathFailed("no component of the combination answered: " + "; ".join(missing))
        used = {p: w for p, w in rule.weights.items() if p in parts}
        total = sum(used.values())
        method = "quantile average of " + ", ".join(f"{p} {w / total:.2f}" for p, w in used.items())
        if missing:
            method += " (without " + "; ".join(missing) + ")"
        details = {k: v for k, v in details.items() if v is not None}
        if len(used) == 1:  # one component left: its answer, so its calibration
            details["calibrate_as"] = next(iter(used))
        return combine_quantiles(parts, used), details | {"method": method}

    def _llm(self, path: ForecastPath, context: ForecastContext) -> tuple[np.ndarray, dict]:
        kind, weights = _LLM_PATHS[path]
        backend, method = self._llm_backend(weights, context)
        if kind in ("few_shot", "new_product") and not context.analogs:
            raise PathFailed("no similar products with enough history before the cutoff")
        if kind != "new_product" and not any(context.history):
            raise PathFailed("history is all zeros: nothing for the LLM to continue")
        serializer = self.settings.serializer
        rendered = render(context, kind, serializer)
        # each digit is one token in SmolLM2's vocabulary, each separator character at most one
        max_tokens = context.horizon * (serializer.max_digits + len(serializer.separator)) + 4
        request = GenerationRequest(prompt=rendered.text, n=self.settings.samples, regex=rendered.regex,
                                    max_tokens=max_tokens, temperature=self.settings.temperature,
                                    top_p=self.settings.top_p, seed=self.settings.seed, timeout_s=self.settings.timeout_s)
        generation = backend.generate(request)
        reference = context.history if kind != "new_product" else [v for a in context.analogs for v in a.next]
        ceiling = self.settings.ceiling_factor * max(max(reference, default=0.0), rendered.scale)
        samples, summary = parse_samples(generation.texts, generation.finish_reasons, rendered.scale,
                                         context.horizon, ceiling, serializer)
        stats = {"samples_total": summary.total, "samples_valid": summary.valid, "rejected": summary.rejected}
        if summary.valid < self.settings.min_valid_share * summary.total:
            raise PathFailed(f"too few valid samples ({summary.valid}/{summary.total}; rejected: {summary.rejected})", stats)
        return sample_quantiles(samples), {"generation": generation, "prompt_id": rendered.prompt_id, "stats": stats,
                                           "method": method}

    def _llm_backend(self, weights: Weights, context: ForecastContext) -> tuple[LLMBackend, str | None]:
        """The backend for these weights and, for the tuned ones, which adapter answers (the attempt's reason).

        The tuned weights load on first use (BackendError when there are none); an
        adapter trained on periods at or after the cutoff may have seen the weeks
        it would forecast, so it gives way."""
        if weights == "base":
            if self.backend is None:
                raise PathFailed("no LLM backend configured")
            return self.backend, None
        if self.tuned is None:
            raise PathFailed("no tuned LLM here (the CLI and the API load one on demand; `shelfcast finetune llm` "
                             "trains it)")
        tuned = self.tuned.load()
        cutoff = context.cutoff.date()
        if tuned.as_of > cutoff:
            raise PathFailed(f"the tuned adapter {tuned.adapter_id} was trained on data up to {tuned.as_of} (exclusive), "
                             f"past this forecast's first period {cutoff}: it may have seen the weeks it would forecast")
        return tuned.backend, f"tuned weights: adapter {tuned.adapter_id}, trained on data before {tuned.as_of}"

    def _regression(self, context: ForecastContext) -> tuple[np.ndarray, dict]:
        """The regression model for products with history; launches go to the analog launch curve.

        On launches the model is biased and loses to the analogs: on the built-in
        evaluation (20 launches) WAPE 1.105 vs the floor's analog curve 0.860 and
        kNN 0.779; on its own test launch windows the h=13 artifact's bias is in
        eval/results/bench_finetune.txt. So it declines them and says why.
        """
        if self.regressor is None:
            raise PathFailed("no trained regression model (run `shelfcast finetune regression`)")
        if context.is_new_product:
            raise PathFailed("the regression model does not answer launches (biased on new products; the analog "
                             "launch curve of similar products is more accurate)")
        text, history = context.regressor_input()
        try:
            quantiles = self.regressor.predict([text], [history], context.horizon)[0]
        except ValueError as exc:  # e.g. a horizon past MAX_HORIZON
            raise PathFailed(f"regression model cannot answer: {exc}") from exc
        if not np.all(np.isfinite(quantiles)):
            raise PathFailed("regression model returned non-finite values")
        return quantiles, {"model_id": self.regressor.artifact_id, "method": self.regressor.note or None}

    def _gbm(self, context: ForecastContext) -> tuple[np.ndarray, dict]:
        """The global gbm fitted on the served data's panel as of the cutoff (cached per data, origin, horizon)."""
        if self.gbm is None:
            raise PathFailed("no global gbm here (it needs the dataset's panel: the CLI, the API and the harness have "
                             "it; batch workers see packed contexts only)")
        try:
            quantiles, method = self.gbm.predict(context)
        except GbmUnavailable as exc:
            raise PathFailed(f"gbm cannot answer: {exc}") from exc
        if quantiles.shape != (len(QUANTILES), context.horizon) or not np.all(np.isfinite(quantiles)):
            raise PathFailed(f"gbm returned {quantiles.shape} values or non-finite ones")
        return quantiles, {"method": method}

    # --- assembling the answer -------------------------------------------------
    def _result(self, context: ForecastContext, path: ForecastPath, quantiles: np.ndarray, attempts: list[Attempt],
                details: dict, latency: float) -> Forecast:
        quantiles = np.maximum.accumulate(np.clip(quantiles, 0, None), axis=0)  # non-negative, no crossing
        calibration = self._calibrate(context, details.get("calibrate_as", path), quantiles)
        generation = details.get("generation")
        model_ids = ([generation.model] if generation else []) + ([details["model_id"]] if "model_id" in details else [])
        return Forecast(
            unique_id=context.product.unique_id, title=context.product.title, freq=context.freq,
            horizon=context.horizon, dates=[d.date() for d in context.future_dates()],
            point=quantiles[MEDIAN].round(3).tolist(),
            quantiles={key(q): quantiles[i].round(3).tolist() for i, q in enumerate(QUANTILES)},
            path=path, attempts=attempts, backend=generation.backend if generation else None, model_ids=model_ids,
            prompt_id=details.get("prompt_id"), analogs=[a.unique_id for a in context.analogs],
            history_tail=context.history[-8:],
            prompt_tokens=generation.prompt_tokens if generation else 0,
            completion_tokens=generation.completion_tokens if generation else 0,
            latency_s=round(latency, 4), route=details.get("route"), calibration=calibration,
        )

    def _calibrate(self, context: ForecastContext, path: str, quantiles: np.ndarray) -> str | None:
        """Move the 0.1/0.9 rows (in place) by the table's conformal q for this path and segment; say how."""
        if self.routing is None:
            return None
        segment = segment_of(context.history, context.freq)
        found = self.routing.calibration_for(segment, path)
        if found is None:
            return f"not calibrated: routing table {self.routing.table_id} has no calibration for {path} in {segment.key}"
        lo, mid, hi = QUANTILES.index(0.1), QUANTILES.index(0.5), QUANTILES.index(0.9)
        quantiles[lo], quantiles[hi] = calibrate_interval(quantiles[lo], quantiles[mid], quantiles[hi], found.q)
        return (f"80% interval moved by q={found.q:+.3f} widths (split conformal on {found.n} backtest values of "
                f"{path} in {found.segment.key}; held-out coverage {found.coverage_before:.2f} -> "
                f"{found.coverage_after:.2f}), table {self.routing.table_id}")
