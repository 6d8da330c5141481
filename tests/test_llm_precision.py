"""The embedded model's precision: measured once per machine and model, remembered, overridable."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import get_settings
from agent.llm import precision
from tiny_models import make_tiny_llama


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHELFCAST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHELFCAST_LLM_DTYPE", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_measures_once_then_remembers(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_tiny_llama(home / "tiny")
    timings = {"float32": 1.0, "bfloat16": 0.5}
    calls: list[str] = []

    def fake_measure(model_dir: Path, dtype: str, repeats: int = 2) -> float:
        calls.append(dtype)
        return timings[dtype]

    monkeypatch.setattr(precision, "measure", fake_measure)
    first = precision.choose_precision(model)
    assert first.dtype == "bfloat16" and "the fastest" in first.reason and calls == ["float32", "bfloat16"]
    again = precision.choose_precision(model)
    assert again == first and len(calls) == 2  # remembered under $SHELFCAST_HOME/cache
    assert precision.cached_choice(model) == first
    assert precision.cached_choice(home / "another-model") is None


def test_float32_kept_unless_clearly_faster(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "measure", lambda model_dir, dtype, repeats=2: {"float32": 1.0, "bfloat16": 0.95}[dtype])
    choice = precision.choose_precision(make_tiny_llama(home / "tiny"))
    assert choice.dtype == "float32" and "not 10% faster" in choice.reason


def test_real_measurement_on_a_tiny_model(home: Path) -> None:
    seconds = precision.measure(make_tiny_llama(home / "tiny"), "float32", repeats=1)
    assert 0 < seconds < 60


def test_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFCAST_LLM_DTYPE", "float32")
    assert precision.choose_precision(home).reason == "set by $SHELFCAST_LLM_DTYPE"
    monkeypatch.setenv("SHELFCAST_LLM_DTYPE", "float16")
    with pytest.raises(ValueError, match="SHELFCAST_LLM_DTYPE"):
        precision.choose_precision(home)
