"""The same new product gets the same analogs and numbers through every door: CLI, API, ask.

Real PASTRY slice of the built-in data, real MiniLM index, no LLM (the chain
answers from its floor, the launch curve of the analogs, so the numbers depend
on the analogs only). Before the product text was one function
(agent.product.product_text), the CLI, the API and ask each built their own text
and retrieved different analogs for the same launch.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from real_data import pastry_index, pastry_slice
from typer.testing import CliRunner

from agent.api import ApiSettings, create_app
from agent.ask import ask
from agent.ask.tools import tool
from agent.cli import app as cli
from agent.cli import forecast as forecast_cli
from agent.forecast.result import Forecast
from agent.pipeline import Shelfcast

LAUNCH = {"title": "cinnamon raisin bagels 6 ct", "department": "PASTRY", "category": "BAGELS",
          "description": "soft, pre-sliced"}
HORIZON = 4


@pytest.fixture(scope="module")
def app() -> Shelfcast:
    return Shelfcast(pastry_slice(), pastry_index(), None)


def _cli(app: Shelfcast, monkeypatch: pytest.MonkeyPatch, fields: dict[str, str]) -> Forecast:
    monkeypatch.setattr(forecast_cli, "_load", lambda *args: app)
    args = [arg for name, value in fields.items() for arg in (f"--{name}", value)]
    result = CliRunner().invoke(cli, ["new-product", *args, "-h", str(HORIZON), "--json"])
    assert result.exit_code == 0, result.output
    return Forecast.model_validate(json.loads(result.output[result.output.index("{"):]))


def _api(app: Shelfcast, fields: dict[str, str]) -> Forecast:
    with TestClient(create_app(app, ApiSettings(token=None)), base_url="http://127.0.0.1") as client:
        response = client.post("/new-product", json={**fields, "horizon": HORIZON})
    assert response.status_code == 200, response.text
    return Forecast.model_validate(response.json())


@pytest.mark.parametrize("fields", [LAUNCH, {"title": LAUNCH["title"], "category": "BAGELS"}],
                         ids=["all-fields", "title-and-category"])
def test_cli_api_and_ask_tool_retrieve_the_same_analogs(app: Shelfcast, monkeypatch: pytest.MonkeyPatch,
                                                         fields: dict[str, str]) -> None:
    via_cli = _cli(app, monkeypatch, fields)
    via_api = _api(app, fields)
    via_tool = tool(app, "forecast_new_product").invoke({**fields, "horizon": HORIZON})
    assert via_cli.analogs, "the launch found no analogs: the comparison would prove nothing"
    assert via_cli.analogs == via_api.analogs == via_tool.analogs
    assert via_cli.point == via_api.point == via_tool.point
    assert via_cli.quantiles == via_api.quantiles == via_tool.quantiles


def test_the_fields_change_the_analogs(app: Shelfcast) -> None:
    """The doors agree because they pass the same fields, not because the fields are ignored."""
    bare = app.forecast_new(LAUNCH["title"], HORIZON)
    described = app.forecast_new(LAUNCH["title"], HORIZON, department="PASTRY", category="BAGELS",
                                 description="frosted sheet cake for birthdays")
    assert bare.analogs != described.analogs


def test_a_question_gets_the_analogs_of_the_same_title(app: Shelfcast, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = ask(app, f'we are launching "{LAUNCH["title"]}", how many in {HORIZON} weeks?')
    assert answer.intent == "new_product"
    via_cli = _cli(app, monkeypatch, {"title": LAUNCH["title"]})
    assert via_cli.analogs and answer.forecasts[0].analogs == via_cli.analogs
