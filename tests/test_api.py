"""The HTTP API over a real slice of the built-in data (PASTRY, real MiniLM index).

Most tests run without an LLM (the chain then answers from its floor and says
why) or with a scripted backend that answers instantly; the tests marked slow
run the real embedded SmolLM2, and one starts `shelfcast serve` as a process
and talks to it over real HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from injections import INJECTIONS, assert_answer_within_bounds, assert_within_bounds
from real_data import BAGELS_4OZ, pastry_index, pastry_slice

from agent.api import ApiSettings, create_app
from agent.api.process import running_server
from agent.ask import Answer
from agent.ask.query import MAX_HORIZON
from agent.forecast.chain import ChainSettings
from agent.forecast.result import Forecast
from agent.llm.base import Generation, GenerationRequest
from agent.pipeline import Shelfcast
from agent.report import Report

TOKEN = "s3cret-token"


class ScriptedBackend:
    """Answers every request with `value` for each period at once, and records how it was used."""

    name = "scripted"
    model_id = "scripted-model"

    def __init__(self, value: int = 100, delay_s: float = 0.0, gate: threading.Event | None = None) -> None:
        self.value, self.delay_s, self.gate = value, delay_s, gate
        self.prompts: list[str] = []
        self.threads: set[int] = set()
        self.entered = threading.Event()
        self.active = self.max_active = 0
        self._lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            self.prompts.append(request.prompt)
            self.threads.add(threading.get_ident())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.entered.set()
        try:
            if self.gate is not None:
                self.gate.wait(30)
            time.sleep(self.delay_s)
            horizon = request.max_tokens // 5  # the chain asks for horizon * 5 + 4 tokens
            text = f"{self.value}, " * horizon
            return Generation(texts=[text] * request.n, finish_reasons=["stop"] * request.n, backend=self.name,
                              model=self.model_id)
        finally:
            with self._lock:
                self.active -= 1

    def healthy(self) -> bool:
        return True


def pipeline(backend=None) -> Shelfcast:
    return Shelfcast(pastry_slice(), pastry_index(), backend, backend_note="test pipeline",
                     settings=ChainSettings(samples=4))


@contextmanager
def client(shelfcast: Shelfcast | None = None, **settings) -> Iterator[TestClient]:
    with TestClient(create_app(shelfcast or pipeline(), ApiSettings(**settings)), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    with client(token=None) as test_client:
        yield test_client


def ceiling(forecast: Forecast) -> float:
    """The chain's plausibility bound, from the data: 5x the peak of the product and its analogs (at least 5)."""
    sales = pastry_slice().sales
    ids = [*forecast.analogs, *([forecast.unique_id] if forecast.unique_id else [])]
    peak = float(sales.loc[sales["unique_id"].isin(ids), "y"].max()) if ids else 0.0
    return ChainSettings().ceiling_factor * max(peak, 1.0)


def assert_well_formed(payload: dict, horizon: int) -> Forecast:
    forecast = Forecast.model_validate(payload)
    assert len(forecast.dates) == len(forecast.point) == horizon
    low, mid, high = (forecast.quantiles[q] for q in ("0.1", "0.5", "0.9"))
    assert all(0 <= a <= b <= c for a, b, c in zip(low, mid, high, strict=True))
    assert max(high) <= ceiling(forecast), (max(high), ceiling(forecast))
    return forecast


# --- the endpoints -------------------------------------------------------------------

def test_health_describes_what_is_loaded(api: TestClient) -> None:
    body = api.get("/health").json()
    data = pastry_slice()
    assert body["status"] == "ok" and body["dataset"] == data.name
    assert body["products"] == len(data.catalog) and body["series"] == data.sales["unique_id"].nunique()
    assert body["backend"] is None and body["llm_healthy"] is None and body["auth_required"] is False
    assert body["limits"]["max_horizon"] == 52 and "token" not in body["limits"]
    assert any("MiniLM" in model for model in body["model_ids"])


def test_forecast_matches_the_pipeline_and_names_its_path(api: TestClient) -> None:
    response = api.post("/forecast", json={"unique_id": BAGELS_4OZ, "horizon": 6})
    assert response.status_code == 200, response.text
    forecast = assert_well_formed(response.json(), 6)
    # Without an LLM or a regression model the global gbm answers, and every earlier path says why it gave way.
    assert forecast.path == "gbm"
    assert [a.path for a in forecast.attempts] == ["llm-few-shot", "llm-zero-shot", "regression", "gbm"]
    assert "no LLM backend configured" in forecast.attempts[0].reason
    direct = api.app.state.shelfcast.forecast(BAGELS_4OZ, 6)
    assert forecast.point == direct.point and forecast.dates == direct.dates


def test_new_product_uses_launch_analogs(api: TestClient) -> None:
    response = api.post("/new-product", json={"title": "cinnamon raisin bagels 6 ct", "department": "PASTRY",
                                              "price": 3.49, "horizon": 5})
    assert response.status_code == 200, response.text
    forecast = assert_well_formed(response.json(), 5)
    assert forecast.unique_id is None and forecast.analogs
    catalog = pastry_slice().catalog.set_index("unique_id")
    assert all(catalog.loc[uid, "department"] == "PASTRY" for uid in forecast.analogs)


def test_unknown_product_is_a_404_naming_it(api: TestClient) -> None:
    response = api.post("/forecast", json={"unique_id": "no-such-sku"})
    assert response.status_code == 404 and "'no-such-sku'" in response.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [
    ({"unique_id": BAGELS_4OZ, "horizon": 53}, "horizon"),  # over the server's max_horizon
    ({"unique_id": BAGELS_4OZ, "horizon": 0}, "horizon"),
    ({"unique_id": BAGELS_4OZ, "mode": "magic"}, "mode"),
    ({"unique_id": BAGELS_4OZ, "horizn": 4}, "horizn"),  # a typo is an error, not a default
    ({"horizon": 4}, "unique_id"),
])
def test_bad_forecast_requests_are_422_naming_the_field(api: TestClient, body: dict, field: str) -> None:
    response = api.post("/forecast", json=body)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


def test_limits_come_from_the_settings() -> None:
    with client(max_horizon=12, max_text_chars=20) as test_client:
        assert test_client.post("/forecast", json={"unique_id": BAGELS_4OZ, "horizon": 12}).status_code == 200
        over = test_client.post("/forecast", json={"unique_id": BAGELS_4OZ, "horizon": 13})
        assert over.status_code == 422 and "at most 12" in over.json()["detail"][0]["msg"]
        long_title = test_client.post("/new-product", json={"title": "bagels " * 5})
        assert long_title.status_code == 422 and long_title.json()["detail"][0]["loc"] == ["body", "title"]


def test_oversized_bodies_are_413_declared_or_streamed(api: TestClient) -> None:
    body = b'{"title": "' + b"x" * 20_000 + b'"}'
    declared = api.post("/new-product", content=body, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "16384" in declared.json()["detail"]
    # No Content-Length (chunked): the limit holds on the bytes actually received.
    streamed = api.post("/new-product", content=iter([body[:10_000], body[10_000:]]),
                        headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_docs_and_schema_are_served(api: TestClient) -> None:
    assert api.get("/docs").status_code == 200
    schema = api.get("/openapi.json").json()
    assert {"/forecast", "/new-product", "/health"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


# --- /ask and /report --------------------------------------------------------------

def test_ask_answers_with_grounded_numbers(api: TestClient) -> None:
    response = api.post("/ask", json={"question": "how many 4 oz bagels will we sell in the next 4 weeks?"})
    assert response.status_code == 200, response.text
    answer = Answer.model_validate(response.json())
    assert answer.status == "answered" and answer.intent == "forecast" and answer.grounded
    assert [f.unique_id for f in answer.forecasts] == [BAGELS_4OZ]
    assert_well_formed(answer.forecasts[0].model_dump(mode="json"), 4)
    assert answer.chart is None  # the API writes no chart files on the server


def test_ask_asks_back_unless_told_to_take_the_best_match(api: TestClient) -> None:
    question = "how many rolls 12 oz next month?"
    back = Answer.model_validate(api.post("/ask", json={"question": question}).json())
    assert back.status == "ask_back" and len(back.candidates["rolls 12 oz"]) >= 2 and not back.forecasts
    taken = Answer.model_validate(api.post("/ask", json={"question": question, "yes": True}).json())
    # "yes" takes the best seller among the close matches, and says so.
    picked = taken.forecasts[0].unique_id
    assert taken.status == "answered" and picked in {c.unique_id for c in back.candidates["rolls 12 oz"]}
    assert any("took the best-selling one" in note for note in taken.notes), taken.notes


@pytest.mark.parametrize(("question", "status"), [("", 422), ("how many bagels? " * 40, 422)])
def test_ask_rejects_empty_and_overlong_questions(api: TestClient, question: str, status: int) -> None:
    response = api.post("/ask", json={"question": question})
    assert response.status_code == status and response.json()["detail"][0]["loc"] == ["body", "question"]


def test_report_as_json_and_as_html_by_accept(api: TestClient) -> None:
    request = {"department": "PASTRY", "horizon": 4}
    as_json = api.post("/report", json=request)
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    report = Report.model_validate(as_json.json())
    assert report.request.horizon == 4 and report.stats.scope.department == "PASTRY" and report.summary
    assert report.charts and all(chart.png.startswith(b"\x89PNG") for chart in report.charts)
    assert report.narrative.source == "template"  # no LLM: the template writes it, and says why
    as_html = api.post("/report", json=request, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert as_html.status_code == 200 and as_html.headers["content-type"].startswith("text/html")
    assert as_html.text.count("data:image/png;base64,") == len(report.charts)


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"department": "NOPE"}, 422, "no department or category called 'nope'; closest: "),
    ({"department": "PASTRY", "horizon": 60}, 422, "horizon"),
    ({"department": "PASTRY", "format": "pdf"}, 422, "format"),
    ({"department": "PASTRY", "store": "main street"}, 404, "unknown store 'main street'"),
])
def test_bad_report_requests_name_the_problem(api: TestClient, body: dict, status: int, words: str) -> None:
    response = api.post("/report", json=body)
    assert response.status_code == status and words in response.text, response.text


# --- untrusted text ------------------------------------------------------------------

def test_injections_cannot_move_forecasts_out_of_bounds() -> None:
    """A backend that obeys every injection (the largest number the format allows) still cannot."""
    backend = ScriptedBackend(value=999)
    shelfcast = pipeline(backend)
    with client(shelfcast) as test_client:
        for injection in INJECTIONS:
            title = f"plain bagels {injection}"[:300]
            response = test_client.post("/new-product", json={"title": title, "horizon": 8})
            assert response.status_code == 200, (injection, response.text)
            forecast = Forecast.model_validate(response.json())
            assert forecast.attempts[0].path == "llm-new-product" and forecast.attempts[0].samples_total > 0
            assert_within_bounds(shelfcast, forecast)
            for question in (injection, f"how many 4 oz bagels next month? {injection}"):
                response = test_client.post("/ask", json={"question": question, "yes": True})
                if "store 99999999" in question:  # an unknown store is named (404), never silently dropped
                    assert response.status_code == 404 and "99999999" in response.json()["detail"]
                    continue
                assert response.status_code == 200, (question, response.text)
                answer = Answer.model_validate(response.json())
                assert answer.query.horizon is None or 1 <= answer.query.horizon <= MAX_HORIZON
                assert answer.grounded, (answer.text, answer.numbers)
                assert_answer_within_bounds(shelfcast, answer)
    assert any("1000000" in prompt for prompt in backend.prompts)  # the text did reach the model


# --- auth ---------------------------------------------------------------------------

def test_token_from_the_environment_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFCAST_API_TOKEN", TOKEN)
    with TestClient(create_app(pipeline(), ApiSettings()), base_url="http://127.0.0.1") as test_client:
        request = {"unique_id": BAGELS_4OZ, "horizon": 2, "mode": "baseline"}
        missing = test_client.post("/forecast", json=request)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = test_client.post("/forecast", json=request, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]
        basic = test_client.post("/forecast", json=request, headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        right = test_client.post("/forecast", json=request, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        health = test_client.get("/health")  # probes need no token, and learn that one is required
        assert health.status_code == 200 and health.json()["auth_required"] is True


def test_no_token_in_the_environment_means_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFCAST_API_TOKEN", "")  # empty counts as unset
    assert ApiSettings().token is None
    monkeypatch.delenv("SHELFCAST_API_TOKEN")
    with TestClient(create_app(pipeline(), ApiSettings()), base_url="http://127.0.0.1") as test_client:
        assert test_client.post("/forecast", json={"unique_id": BAGELS_4OZ, "mode": "baseline"}).status_code == 200


# --- concurrency --------------------------------------------------------------------

def test_concurrent_requests_share_one_backend_and_all_succeed() -> None:
    backend = ScriptedBackend(delay_s=0.2)
    ids = pastry_slice().sales.groupby("unique_id")["y"].sum().nlargest(8).index.tolist()
    responses: list[httpx.Response] = []
    with client(pipeline(backend), max_concurrent=8) as test_client:
        def two_requests(uid: str) -> None:  # one client: a request, then the next
            for _ in range(2):
                responses.append(test_client.post("/forecast", json={"unique_id": uid, "horizon": 4}))

        workers = [threading.Thread(target=two_requests, args=(uid,)) for uid in ids]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses if r.status_code != 200]
    forecasts = [assert_well_formed(r.json(), 4) for r in responses]
    assert {f.path for f in forecasts} == {"llm-few-shot"} and {f.backend for f in forecasts} == {"scripted"}
    assert len(backend.prompts) == 16  # one backend answered every request ...
    assert backend.max_active >= 2 and len(backend.threads) >= 2  # ... from several threads at once


def test_saturated_server_answers_503_and_still_its_health() -> None:
    gate = threading.Event()
    backend = ScriptedBackend(gate=gate)
    with client(pipeline(backend), max_concurrent=1) as test_client:
        first: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: first.append(
            test_client.post("/forecast", json={"unique_id": BAGELS_4OZ, "horizon": 2})))
        worker.start()
        assert backend.entered.wait(60)
        busy = test_client.post("/new-product", json={"title": "plain bagels"})
        health = test_client.get("/health")
        gate.set()
        worker.join(60)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
    assert health.status_code == 200 and first[0].status_code == 200


# --- the real embedded model, and a real server process ------------------------------

@pytest.mark.slow
def test_real_embedded_llm_answers_over_the_api() -> None:
    from agent.llm.select import embedded_backend

    with client(pipeline(embedded_backend())) as test_client:
        health = test_client.get("/health").json()
        assert health["backend"] == "embedded" and health["llm_healthy"] is True
        assert any("smollm2" in model.lower() for model in health["model_ids"])
        response = test_client.post("/forecast", json={"unique_id": BAGELS_4OZ, "horizon": 4, "mode": "few-shot"})
    assert response.status_code == 200, response.text
    forecast = assert_well_formed(response.json(), 4)
    first = forecast.attempts[0]
    assert first.path == "llm-few-shot" and first.samples_total == 4  # the request reached the model
    # The model answers, or the floor does and the recorded reason says why the model's samples were refused.
    assert (forecast.path, forecast.backend) == ("llm-few-shot", "embedded") if first.answered else first.reason


@pytest.mark.slow
def test_real_embedded_llm_keeps_injected_text_in_bounds() -> None:
    from agent.llm.select import embedded_backend

    shelfcast = pipeline(embedded_backend())
    with client(shelfcast) as test_client:
        product = test_client.post("/new-product", json={"title": f"plain bagels {INJECTIONS[0]}", "horizon": 4})
        question = test_client.post("/ask", json={"question": f"how many 4 oz bagels next month? {INJECTIONS[1]}",
                                                  "yes": True})
    assert product.status_code == 200 and question.status_code == 200, (product.text, question.text)
    forecast = Forecast.model_validate(product.json())
    assert forecast.attempts[0].path == "llm-new-product" and forecast.attempts[0].samples_total == 4
    assert_within_bounds(shelfcast, forecast)
    answer = Answer.model_validate(question.json())
    assert answer.status == "answered" and answer.grounded and answer.forecasts, answer.text
    assert answer.query.horizon is None or answer.query.horizon <= MAX_HORIZON
    for each in answer.forecasts:
        assert_within_bounds(shelfcast, each)


@pytest.mark.slow
def test_shelfcast_serve_over_real_http(tmp_path: Path) -> None:
    dates = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    pd.DataFrame([{"unique_id": uid, "ds": ds.date(), "y": (i % 4 + 1) * scale} for uid, scale in (("bagel", 10), ("milk", 30))
                  for i, ds in enumerate(dates)]).to_csv(tmp_path / "sales.csv", index=False)
    pd.DataFrame({"unique_id": ["bagel", "milk"], "title": ["Plain bagels 6 ct", "Whole milk 1 gal"]}).to_csv(
        tmp_path / "catalog.csv", index=False)
    files = ["--sales", str(tmp_path / "sales.csv"), "--catalog", str(tmp_path / "catalog.csv")]
    with running_server(["--backend", "none", "--log-level", "warning", *files], env={"SHELFCAST_API_TOKEN": TOKEN},
                        wait_s=180) as server:
        request = {"unique_id": "milk", "horizon": 3}
        assert httpx.post(f"{server.url}/forecast", json=request).status_code == 401
        response = httpx.post(f"{server.url}/forecast", json=request, headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=60)
        output = server.output()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["path"] == "gbm" and len(body["point"]) == 3 and max(body["quantiles"]["0.9"]) <= 5 * 120
    assert f"Shelfcast API on {server.url}" in output and "bearer token required" in output, output
