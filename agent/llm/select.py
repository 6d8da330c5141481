"""Pick the LLM backend for this process, and say why.

A vLLM server, when one is configured ($SHELFCAST_LLM_URL) and answers its health
check, is faster and batches across callers; otherwise the prepared SmolLM2 runs
in-process. The reason is kept (and logged) because a forecast must be able to
say which model answered and why that one.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.config import get_settings
from agent.llm.base import BackendError, LLMBackend

if TYPE_CHECKING:  # torch and transformers load only when the embedded backend is chosen
    from agent.llm.embedded import EmbeddedBackend

log = logging.getLogger(__name__)

Preference = Literal["auto", "http", "embedded"]

_embedded: EmbeddedBackend | None = None
_embedded_lock = threading.Lock()


class BackendChoice(BaseModel):
    """The chosen backend and the reason, for logs and for each forecast's provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: LLMBackend = Field(exclude=True)
    name: str
    reason: str


def get_backend(prefer: Preference = "auto") -> LLMBackend:
    """The backend to use; see choose_backend for the rules."""
    return choose_backend(prefer).backend


def choose_backend(prefer: Preference = "auto") -> BackendChoice:
    """HTTP when configured and healthy, else embedded; an explicit preference never falls back.

    Raises BackendError when "http" is asked for and the server is not configured or
    not healthy, and when the embedded model cannot be loaded (ModelNotAvailable
    when its weights package is missing).
    """
    url = get_settings().llm_url
    if prefer == "embedded":
        choice = _embedded_choice("embedded backend requested")
    elif url is None:
        if prefer == "http":
            raise BackendError("HTTP backend requested but SHELFCAST_LLM_URL is not set")
        choice = _embedded_choice("SHELFCAST_LLM_URL is not set")
    else:
        from agent.llm.http import HttpBackend  # needs openai/httpx only when a server is configured

        http = HttpBackend(url)
        if http.healthy():
            choice = BackendChoice(backend=http, name=http.name, reason=f"server at {url} is healthy")
        elif prefer == "http":
            raise BackendError(f"HTTP backend requested but the server at {url} failed its health check")
        else:
            http.close()
            choice = _embedded_choice(f"server at {url} failed its health check")
    log.info("LLM backend: %s (%s)", choice.name, choice.reason)
    return choice


def _embedded_choice(why: str) -> BackendChoice:
    backend = embedded_backend()
    return BackendChoice(backend=backend, name=backend.name, reason=f"{why}; using {backend.model_id} in-process")


def embedded_backend() -> EmbeddedBackend:
    """The process's one embedded backend on the prepared SmolLM2 (prepared on first use, then cached)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            from agent.llm.embedded import EmbeddedBackend
            from agent.models.smollm2 import prepare_smollm2

            _embedded = EmbeddedBackend(prepare_smollm2())
        return _embedded
