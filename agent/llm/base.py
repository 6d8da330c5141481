"""The one interface every LLM backend implements.

A request says what to sample and how to constrain it; a result carries every
sample with its finish reason, so the caller (the forecast chain) can parse each
sample as untrusted input and record why a fallback happened.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class GenerationRequest(BaseModel):
    prompt: str = Field(description="Raw completion prompt (chat templates are applied by the prompt renderer).")
    n: int = Field(20, ge=1, le=256, description="Number of independent samples.")
    max_tokens: int = Field(64, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    regex: str | None = Field(None, description="Constrain each sample to match this regex.")
    json_schema: dict[str, Any] | None = Field(None, description="Constrain each sample to this JSON schema.")
    timeout_s: float = Field(60.0, gt=0.0)


def check_constraint(request: GenerationRequest) -> None:
    """ValueError when a request sets both constraints: a backend enforces a regex or a JSON schema, never both."""
    if request.regex is not None and request.json_schema is not None:
        raise ValueError("a request may set regex or json_schema, not both")


class Generation(BaseModel):
    texts: list[str]
    finish_reasons: list[Literal["stop", "length", "error"] | str]
    backend: str = Field(description="'vllm-http' or 'embedded'.")
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


class BackendError(RuntimeError):
    """The backend could not answer at all (server down, timeout, engine died)."""


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    model_id: str

    def generate(self, request: GenerationRequest) -> Generation: ...

    def healthy(self) -> bool: ...
