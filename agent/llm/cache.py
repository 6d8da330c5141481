"""Replay stored generations for requests a backend has already answered (the evaluation's LLM cache).

The evaluation runs several chain modes over the same windows: `auto` tries
few-shot first, then zero-shot, with exactly the prompts and the seed that the
`llm-few-shot` and `llm-zero-shot` rows already sent. Sampling a seeded request
again would only redo minutes of CPU work per forecast for the same draw, so
the harness wraps its backend in `CachedBackend`: a request (everything but its
timeout) plus the backend's model id is hashed, and a hit returns the stored
generation. Unseeded requests are never cached: each is a fresh draw by intent.
Backend errors are not stored either, so a rerun retries them.

The store is one SQLite file, safe for the harness's worker threads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from agent.llm.base import Generation, GenerationRequest, LLMBackend


class CachedBackend:
    def __init__(self, inner: LLMBackend, path: Path | str):
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, generation TEXT NOT NULL)")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, attr: str):
        # Anything else (adapter ids, thread settings) is the wrapped backend's.
        return getattr(self.inner, attr)

    def key(self, request: GenerationRequest) -> str:
        payload = {"backend": self.name, "model": self.model_id, "request": request.model_dump(exclude={"timeout_s"})}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def generate(self, request: GenerationRequest) -> Generation:
        if request.seed is None:
            return self.inner.generate(request)
        key = self.key(request)
        with self._lock:
            row = self._db.execute("SELECT generation FROM generations WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return Generation.model_validate_json(row[0])
        generation = self.inner.generate(request)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?)", (key, generation.model_dump_json()))
            self._db.commit()
            self.misses += 1
        return generation

    def healthy(self) -> bool:
        return self.inner.healthy()
