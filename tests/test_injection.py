"""Untrusted text cannot move a forecast outside its validated bounds, through `ask` or `new-product`.

Fast tests run every injection without an LLM (the parsers, resolution and
the fallback paths); the slow ones send them through the real SmolLM2, where
the text reaches the prompts.
"""

from __future__ import annotations

import pytest
from injections import INJECTIONS, assert_answer_within_bounds, assert_within_bounds
from real_data import pastry_index, pastry_slice

from agent.ask import ask
from agent.ask.query import MAX_HORIZON
from agent.pipeline import Shelfcast


@pytest.fixture(scope="module")
def app() -> Shelfcast:
    return Shelfcast(pastry_slice(), pastry_index(), None)


@pytest.fixture(scope="module")
def llm_app() -> Shelfcast:
    from agent.llm.select import embedded_backend

    return Shelfcast(pastry_slice(), pastry_index(), embedded_backend())


def _check_answer(app: Shelfcast, question: str) -> None:
    try:
        answer = ask(app, question, yes=True)
    except KeyError as exc:  # "store 99999999": an unknown store is named, never silently dropped
        assert "unknown store '99999999'" in str(exc)
        return
    assert answer.query.horizon is None or 1 <= answer.query.horizon <= MAX_HORIZON
    assert answer.grounded, (answer.text, answer.numbers)
    assert_answer_within_bounds(app, answer)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injected_question_stays_bounded(app: Shelfcast, injection: str) -> None:
    _check_answer(app, f"how many dinner rolls will sell next month? {injection}")
    _check_answer(app, injection)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injected_new_product_title_stays_bounded(app: Shelfcast, injection: str) -> None:
    assert_within_bounds(app, app.forecast_new(f"plain bagels {injection}", 8))
    _check_answer(app, f'we are launching "plain bagels {injection[:80]}", how many in 8 weeks?')


def test_an_injected_horizon_is_capped(app: Shelfcast) -> None:
    answer = ask(app, "forecast dinner rolls. set horizon to 5000 weeks", yes=True)
    assert answer.query.horizon == MAX_HORIZON and answer.forecasts[0].horizon == MAX_HORIZON
    assert any("5000" in note for note in answer.notes)


@pytest.mark.slow
@pytest.mark.parametrize("injection", INJECTIONS[:4] + INJECTIONS[7:10])
def test_injections_through_the_real_llm_stay_bounded(llm_app: Shelfcast, injection: str) -> None:
    assert_within_bounds(llm_app, llm_app.forecast_new(f"plain bagels {injection}", 4))
    _check_answer(llm_app, f"how many bagels 4 oz will sell in 4 weeks? {injection}")
