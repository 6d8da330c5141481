"""Pick the LLM backend for this process, and say why.

A vLLM server, when one is configured ($SHELFCAST_LLM_URL) and answers its health
check, is used; otherwise the prepared SmolLM2 runs in-process. One exception,
measured: on a machine with 2 CPUs or fewer, a server on this same machine
(a loopback URL) is a CPU server, and the embedded decode engine beat it there
(eval/results/bench_llm.txt: vLLM at its best settings vs the engine, back to
back), so `auto` keeps the embedded backend and says why; asking for "http"
(or passing a URL to `load_backend`) still uses the server. The reason is kept
(and logged) because a forecast must be able to say which model answered and
why that one.

Two sets of weights can answer: the base model and the LoRA-tuned forecaster
(`shelfcast finetune llm`). A server serves the tuned one under the model name
`lora` (`shelfcast llm serve --lora`); in-process, the adapter is merged into
the base weights on load. A routing table may send a segment to the tuned weights
(on the built-in launches they beat the analog floor, held out: WAPE 0.512 vs
0.709); they are then chosen here on first use (agent/pipeline.TunedOnDemand),
and only an adapter whose as-of date is known may answer (`adapter_as_of`):
only then can its backtests be shown never to have seen a forecast week.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from agent.config import get_settings
from agent.llm.base import BackendError, LLMBackend

if TYPE_CHECKING:  # torch and transformers load only when the embedded backend is chosen
    from agent.llm.embedded import EmbeddedBackend

log = logging.getLogger(__name__)

Preference = Literal["auto", "http", "embedded"]
Weights = Literal["base", "lora"]
LORA_SERVED_NAME = "lora"  # the model name a server gives the tuned forecaster
# At or below this many CPUs a local (CPU) vLLM server was measured slower than the embedded engine.
EMBEDDED_WINS_AT_CPUS = 2
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

_embedded: dict[Path | None, EmbeddedBackend] = {}  # one per adapter (None: the base model)
_embedded_lock = threading.Lock()


class TunedUnavailable(BackendError):
    """The tuned forecaster cannot answer here (no adapter, its as-of unknown, a server without it); says why."""


@dataclass(frozen=True)
class Tuned:
    """The tuned forecaster as loaded: its backend, which adapter, and the first period its training never saw."""

    backend: LLMBackend
    adapter_id: str
    as_of: date


class BackendChoice(BaseModel):
    """The chosen backend and the reason, for logs and for each forecast's provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: LLMBackend = Field(exclude=True)
    name: str
    reason: str


def lora_adapter_dir(which: str = "latest") -> Path:
    """The adapter folder: 'latest' under $SHELFCAST_HOME/models/llm-lora, an adapter id there, or a path."""
    from finetune.llm.artifact import resolve_adapter

    return resolve_adapter(get_settings().models_dir / "llm-lora", which)


def adapter_as_of(backend: LLMBackend) -> tuple[str, date | None]:
    """(adapter id, first period its training never saw, or None when not recorded) of a backend on tuned weights.

    In-process the backend knows its adapter folder; a server's answers name the
    adapter folder ('lora:<id>', agent/llm/http.py), looked up under this machine's
    adapters. None also when that folder is not here (a server elsewhere).
    """
    from finetune.llm.artifact import AdapterMissing, read_config

    folder = getattr(backend, "adapter_dir", None)
    adapter_id = folder.name if folder is not None else backend.model_id.partition(":")[2]
    if folder is None and adapter_id:
        try:
            folder = lora_adapter_dir(adapter_id)
        except AdapterMissing:
            folder = None
    if folder is None:
        return adapter_id or backend.model_id, None
    as_of = read_config(folder).data.get("as_of")
    return adapter_id, date.fromisoformat(str(as_of)) if as_of else None


def choose_backend(prefer: Preference = "auto", weights: Weights = "base", adapter: str = "latest",
                   url: str | None = None) -> BackendChoice:
    """HTTP when configured and healthy (and, for the tuned weights, serving them), else embedded.

    The server is `url`, else $SHELFCAST_LLM_URL. `auto` keeps the embedded
    backend when the server runs on this machine and it has 2 CPUs or fewer
    (measured faster there; see the module docstring). An explicit preference never
    falls back. Raises BackendError when "http" is asked for and the server is
    not configured, not healthy or does not serve the weights asked for, and when
    the embedded model cannot be loaded
    (ModelNotAvailable when its weights package is missing; AdapterMissing when
    the tuned weights are asked for and none were trained).
    """
    url = url or get_settings().llm_url
    adapter_dir = lora_adapter_dir(adapter) if weights == "lora" and prefer != "http" else None
    if prefer == "embedded":
        choice = _embedded_choice("embedded backend requested", adapter_dir)
    elif prefer == "auto" and url is not None and is_local(url) and local_cpus() <= EMBEDDED_WINS_AT_CPUS:
        choice = _embedded_choice(f"the server at {url} shares this machine's {local_cpus()} CPUs, where the embedded "
                                  "engine was measured faster than vLLM (eval/results/bench_llm.txt); "
                                  "--backend http uses the server", adapter_dir)
    elif url is None:
        if prefer == "http":
            raise BackendError("HTTP backend requested but SHELFCAST_LLM_URL is not set")
        choice = _embedded_choice("SHELFCAST_LLM_URL is not set", adapter_dir)
    else:
        from agent.llm.http import HttpBackend  # needs openai/httpx only when a server is configured

        http = HttpBackend(url, model_id=LORA_SERVED_NAME if weights == "lora" else None)
        problem = serving_problem(http, weights)
        if problem is None:
            choice = BackendChoice(backend=http, name=http.name, reason=f"server at {url} is healthy"
                                   + (f" and serves {LORA_SERVED_NAME!r}" if weights == "lora" else ""))
        elif prefer == "http":
            raise BackendError(f"HTTP backend requested but the server at {url} {problem}")
        else:
            http.close()
            choice = _embedded_choice(f"server at {url} {problem}", adapter_dir)
    log.info("LLM backend: %s (%s)", choice.name, choice.reason)
    return choice


def local_cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


def serving_problem(http: LLMBackend, weights: Weights) -> str | None:
    """Why the server cannot answer for these weights (None: it can)."""
    if not http.healthy():
        return "failed its health check"
    if weights == "lora":
        try:
            http.resolve_model_id()  # type: ignore[attr-defined]
        except BackendError as exc:
            return f"does not serve the tuned weights ({exc}); start it with `shelfcast llm serve --lora latest`"
    return None


def _embedded_choice(why: str, adapter_dir: Path | None = None) -> BackendChoice:
    backend = embedded_backend(adapter_dir)
    return BackendChoice(backend=backend, name=backend.name, reason=f"{why}; using {backend.model_id} in-process")


def embedded_backend(adapter_dir: Path | None = None) -> EmbeddedBackend:
    """The process's embedded backend on the prepared SmolLM2, with or without an adapter (loaded once, cached).

    Its dtype is the one measured fastest on this machine (agent.llm.precision).
    """
    with _embedded_lock:
        if adapter_dir not in _embedded:
            import torch

            from agent.llm.embedded import EmbeddedBackend
            from agent.llm.precision import choose_precision
            from agent.models.smollm2 import prepare_smollm2

            model_dir = prepare_smollm2()
            precision = choose_precision(model_dir)
            log.info("embedded precision: %s (%s)", precision.dtype, precision.reason)
            _embedded[adapter_dir] = EmbeddedBackend(model_dir, dtype=getattr(torch, precision.dtype),
                                                     adapter_dir=adapter_dir)
        return _embedded[adapter_dir]
