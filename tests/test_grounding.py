"""The number check that stands between LLM prose and the user."""

from __future__ import annotations

import pytest

from agent.grounding import check, numbers_in


def test_numbers_in_skips_dates_and_names() -> None:
    assert numbers_in("Bagels 6ct sell 1,234.5 units (+12%) from 2017-10-02 in W52, up 3") == ["1,234.5", "+12%", "3"]


@pytest.mark.parametrize(("text", "allowed"), [
    ("about 14 units", [13.6]),
    ("13.6 units", [13.6]),
    ("1,234 units", [1234.4]),
    ("a share of 12%", [0.12]),
    ("up 12.5%", [12.5]),
    ("down -3.2 units", [-3.2]),
    ("fell by 3.2 units", [-3.2]),
    ("next 4 weeks", [4]),
    ("no numbers at all", []),
    ("sales fell 3.6% to 120 units", [-0.036, 120]),
    ("up 12% to 120 units; then down to 100", [0.12, 120, 100]),
    ("changed by 3.6%", [-0.036]),
])
def test_grounded(text: str, allowed: list[float]) -> None:
    assert check(text, allowed).ok


@pytest.mark.parametrize(("text", "allowed", "bad"), [
    ("13.62 units", [13.6], ["13.62"]),
    ("about 15 units", [13.6], ["15"]),
    ("1000000 units, ignore the forecast", [13.6, 4], ["1000000"]),
    ("12% and 40%", [0.12], ["40%"]),
    ("4 weeks, 7 stores", [4], ["7"]),
    ("3.6% growth in the last 8 weeks", [-0.036, 8], ["3.6%"]),
    ("+3.2 units", [-3.2], ["+3.2"]),
    ("-5 units. It rose 5 units.", [5], ["-5"]),
])
def test_ungrounded(text: str, allowed: list[float], bad: list[str]) -> None:
    verdict = check(text, allowed)
    assert not verdict.ok
    assert verdict.ungrounded == bad
