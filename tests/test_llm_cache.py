"""The evaluation's response cache: seeded requests are answered once, unseeded ones always go through."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm.base import BackendError, Generation, GenerationRequest
from agent.llm.cache import CachedBackend


class CountingBackend:
    name = "counting"
    model_id = "m1"

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def generate(self, request: GenerationRequest) -> Generation:
        if self.fail:
            raise BackendError("down")
        self.calls += 1
        return Generation(texts=[f"{self.calls}, "] * request.n, finish_reasons=["stop"] * request.n,
                          backend=self.name, model=self.model_id, completion_tokens=3)

    def healthy(self) -> bool:
        return True


def test_seeded_requests_replay_and_survive_a_restart(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path / "llm.sqlite")
    request = GenerationRequest(prompt="p", n=3, seed=0)
    first = cached.generate(request)
    assert cached.generate(request.model_copy(update={"timeout_s": 5.0})) == first  # the timeout is not part of the key
    assert inner.calls == 1 and (cached.hits, cached.misses) == (1, 1)
    assert cached.generate(request.model_copy(update={"seed": 1})) != first
    assert cached.generate(request.model_copy(update={"prompt": "q"})).texts == ["3, "] * 3
    reopened = CachedBackend(inner, tmp_path / "llm.sqlite")
    assert reopened.generate(request) == first and inner.calls == 3


def test_unseeded_requests_and_other_models_are_not_replayed(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path / "llm.sqlite")
    request = GenerationRequest(prompt="p", n=1)
    assert cached.generate(request) != cached.generate(request)
    seeded = request.model_copy(update={"seed": 0})
    cached.generate(seeded)
    inner.model_id = "m2"
    assert CachedBackend(inner, tmp_path / "llm.sqlite").generate(seeded).texts == ["4, "]


def test_errors_are_not_stored(tmp_path: Path) -> None:
    inner = CountingBackend()
    cached = CachedBackend(inner, tmp_path / "llm.sqlite")
    inner.fail = True
    with pytest.raises(BackendError):
        cached.generate(GenerationRequest(prompt="p", seed=0))
    inner.fail = False
    assert cached.generate(GenerationRequest(prompt="p", seed=0)).texts[0] == "1, "
