"""Test session set-up: offline always, and one Shelfcast home shared by the session.

The home defaults to a stable folder (not the user's) so prepared models, the
cached built-in dataset and the vLLM virtualenv survive between local runs; CI
starts from nothing and builds them once.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("SHELFCAST_HOME", str(Path.home() / ".cache" / "shelfcast-test"))
os.environ.setdefault("SHELFCAST_TORCH_THREADS", "1")

from agent.config import ensure_offline  # noqa: E402

ensure_offline()

# The real vLLM server fixture (installs its virtualenv on first use, then caches it).
pytest_plugins = ["conftest_vllm"]
