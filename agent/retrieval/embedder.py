"""Text embeddings for products and queries.

Retrieval only needs one thing from an encoder: unit-length float32 vectors, so
that cosine similarity is a plain dot product (the ANN index and every brute-force
fallback rely on that). The encoder is a small protocol so tests can swap in a
deterministic fake; the real one is all-MiniLM-L6-v2 from its PyPI package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from agent.config import get_settings
from agent.models.minilm import PACKAGE as MINILM_PACKAGE

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that turns a batch of texts into a (len(texts), dim) array."""

    @property
    def encoder_id(self) -> str:
        """Names the weights; part of every index fingerprint, so a new encoder forces a rebuild."""
        ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d). The weights load on first use, not on construction.

    Loading lazily lets `ProductIndex.load_or_build` check a fingerprint (which
    only needs `encoder_id`) and load a saved index without touching torch.
    Encoding runs on an explicit number of torch threads (default: the
    settings' torch_threads), restored afterwards: torch's thread count is
    process-global, and on a small shared machine two threads can be slower
    than one (measured in eval/bench_retrieval.py).
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or get_settings().torch_threads
        self._model: SentenceTransformer | None = None

    @property
    def encoder_id(self) -> str:
        return f"all-MiniLM-L6-v2 ({MINILM_PACKAGE}=={version(MINILM_PACKAGE)})"

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            from agent.models.minilm import load_encoder

            self._model = load_encoder()
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        model = self.model
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            # One call per batch: batching and progress are handled by `embed_texts`.
            return model.encode(
                texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False
            )
        finally:
            torch.set_num_threads(previous)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Float32 rows of unit length; an all-zero row stays zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def embed_texts(
    texts: Sequence[str],
    encoder: TextEncoder,
    batch_size: int = 256,
    progress: bool = True,
    description: str = "Embedding",
) -> np.ndarray:
    """Encode `texts` in batches into normalized float32 vectors, in input order.

    Texts are encoded shortest-first so each batch pads to similar lengths (the
    transformer's cost follows the longest text in a batch); the progress bar
    goes to stderr so a command's stdout stays machine-readable.
    """
    if not texts:
        raise ValueError("embed_texts needs at least one text")
    order = np.argsort([len(text) for text in texts], kind="stable")
    chunks: list[np.ndarray] = []
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=len(texts))
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            chunks.append(np.asarray(encoder.encode(batch), dtype=np.float32))
            bar.advance(task, len(batch))
    vectors = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
    vectors[order] = np.concatenate(chunks)
    return normalize(vectors)
