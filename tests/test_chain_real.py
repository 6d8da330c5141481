"""The forecast chain with real parts: real data, real MiniLM, real SmolLM2, a real vLLM server.

These are the tests the LLM chain issue names: structured output is honoured,
n samples arrive, unparseable or out-of-bounds answers and timeouts fall back
with their reason, a server killed in the middle of a batch loses no product,
and both backends give results of the same shape.
"""

from __future__ import annotations

import threading

import pytest
from real_data import BAGELS_4OZ, pastry_index, pastry_slice

from agent.forecast.chain import ChainSettings, ForecastChain
from agent.forecast.context import ContextBuilder
from agent.llm.base import Generation, GenerationRequest

pytestmark = pytest.mark.slow
H = 4


@pytest.fixture(scope="module")
def builder() -> ContextBuilder:
    return ContextBuilder(pastry_slice(), pastry_index())


@pytest.fixture(scope="module")
def embedded():
    from agent.llm.select import embedded_backend

    return embedded_backend()


@pytest.fixture(scope="module")
def http(vllm_server):
    from agent.llm.http import HttpBackend

    backend = HttpBackend(vllm_server, timeout_s=120)
    yield backend
    backend.close()


def shape(forecast) -> tuple:
    return (len(forecast.dates), len(forecast.point), sorted(forecast.quantiles), [len(v) for v in forecast.quantiles.values()])


def test_bagel_neighbours_come_from_the_real_index(builder: ContextBuilder) -> None:
    product = builder.dataset.product(BAGELS_4OZ)
    nearest = builder.retriever.search(product["text"], k=5, exclude_ids=(BAGELS_4OZ,))
    assert nearest["title"].str.contains("Bagel").all(), nearest["title"].tolist()
    context = builder.for_product(BAGELS_4OZ, H)
    assert len(context.analogs) == builder.settings.k_analogs
    # Most bagels sell rarely; the examples shown must sell in at least half their weeks.
    for analog in context.analogs:
        shown = analog.history + analog.next
        assert sum(v > 0 for v in shown) >= builder.settings.min_active_share * len(shown)


def test_embedded_backend_answers_with_samples(builder: ContextBuilder, embedded) -> None:
    forecast = ForecastChain(builder, embedded).forecast(BAGELS_4OZ, H, mode="few-shot")
    llm = forecast.attempts[0]
    assert llm.samples_total == 20, forecast.attempts
    assert forecast.path == "llm-few-shot", forecast.fallback_reasons
    assert forecast.backend == "embedded" and forecast.completion_tokens > 0
    assert 0 < forecast.point[0] < 5 * max(forecast.history_tail)


@pytest.mark.vllm
def test_vllm_answers_and_matches_embedded_shape(builder: ContextBuilder, http, embedded) -> None:
    served = ForecastChain(builder, http).forecast(BAGELS_4OZ, H, mode="few-shot")
    assert served.path == "llm-few-shot", served.fallback_reasons
    assert served.backend == "vllm-http" and served.attempts[0].samples_valid == served.attempts[0].samples_total == 20
    local = ForecastChain(builder, embedded).forecast(BAGELS_4OZ, H, mode="few-shot")
    assert shape(served) == shape(local)
    assert set(served.model_dump()) == set(local.model_dump())


class ForcedRegex:
    """A real backend whose structured-output constraint is replaced: letters instead of numbers."""

    def __init__(self, inner, regex: str):
        self.inner, self.regex = inner, regex
        self.name, self.model_id = inner.name, inner.model_id

    def generate(self, request: GenerationRequest) -> Generation:
        return self.inner.generate(request.model_copy(update={"regex": self.regex}))

    def healthy(self) -> bool:
        return self.inner.healthy()


@pytest.mark.vllm
def test_structured_output_is_honoured_and_unparseable_falls_back(builder: ContextBuilder, http) -> None:
    forecast = ForecastChain(builder, ForcedRegex(http, r"[a-z]{3,6}")).forecast(BAGELS_4OZ, H, mode="zero-shot")
    assert forecast.path == "baseline"
    assert forecast.attempts[0].rejected == {"unparseable": 20}  # every sample obeyed the letters-only regex
    assert "too few valid samples (0/20" in forecast.attempts[0].reason


@pytest.mark.vllm
def test_out_of_bounds_answers_fall_back(builder: ContextBuilder, http) -> None:
    strict = ChainSettings(ceiling_factor=1e-6)  # any positive value is "implausible" now
    forecast = ForecastChain(builder, http, settings=strict).forecast(BAGELS_4OZ, H, mode="zero-shot")
    assert forecast.path == "baseline"
    rejected = forecast.attempts[0].rejected
    assert rejected.get("above plausible bound", 0) > 10, rejected


@pytest.mark.vllm
def test_timeout_falls_back_with_reason(builder: ContextBuilder, vllm_server) -> None:
    from agent.llm.http import HttpBackend

    slow = HttpBackend(vllm_server, timeout_s=0.01, max_retries=0)
    forecast = ForecastChain(builder, slow, settings=ChainSettings(timeout_s=0.01)).forecast(BAGELS_4OZ, H)
    assert forecast.path == "baseline"
    assert "LLM backend unavailable" in forecast.attempts[0].reason
    assert forecast.attempts[1].reason.startswith("skipped: LLM backend unavailable")


@pytest.mark.vllm
def test_killing_the_server_mid_batch_loses_no_product(builder: ContextBuilder, vllm_venv, vllm_model_dir, tmp_path) -> None:
    from conftest_vllm import start_test_server

    from agent.llm.http import HttpBackend
    from agent.llm.server import stop

    state = start_test_server(vllm_venv, vllm_model_dir, tmp_path)
    backend = HttpBackend(state.url, timeout_s=120, max_retries=1, backoff_s=0.2)
    answered = threading.Event()

    class KillAfterFirst:
        name, model_id = backend.name, backend.model_id

        def generate(self, request):
            result = backend.generate(request)
            if not answered.is_set():
                answered.set()
                stop(tmp_path)  # the server dies while the rest of the batch is in flight
            return result

        def healthy(self):
            return backend.healthy()

    ids = builder.dataset.sales.groupby("unique_id")["y"].sum().nlargest(8).index.tolist()
    try:
        chain = ForecastChain(builder, KillAfterFirst(), settings=ChainSettings(max_workers=4))
        forecasts = chain.forecast_many(ids, H, mode="zero-shot", show_progress=False)
    finally:
        stop(tmp_path)
    assert [f.unique_id for f in forecasts] == ids  # nobody lost, order kept
    assert all(len(f.point) == H for f in forecasts)
    fell_back = [f for f in forecasts if f.path == "baseline"]
    assert fell_back, "the server was killed, some products must have fallen back"
    assert all("LLM backend unavailable" in f.attempts[0].reason for f in fell_back)
