"""pytest plugin: a real vLLM server on the real SmolLM2 weights, shared by the session.

Register from tests/conftest.py with ``pytest_plugins = ["tests.conftest_vllm"]``
(or ``["conftest_vllm"]`` when tests/ is on sys.path). Tests using these
fixtures should be marked ``@pytest.mark.vllm``; deselect them with
``-m "not vllm"``.

- The vLLM virtualenv is installed on first use (~85 s) at a stable path,
  ``$SHELFCAST_VLLM_VENV`` or ``~/.cache/shelfcast/vllm-venv`` (not under a
  per-test $SHELFCAST_HOME), so later runs reuse it.
- The model folder is ``$SHELFCAST_TEST_MODEL_DIR`` if set, else
  ``agent.models.smollm2.prepare_smollm2()``; without either the tests skip.
- The server listens on a free port with its pid/state/log files in a
  session temp folder, and is stopped (its process group) at session end.
  It may take minutes to become healthy on a busy 2-core machine: the wait is
  ``$SHELFCAST_VLLM_WAIT_S`` (default 420 s).
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path

import pytest

from agent.config import ensure_offline


def vllm_venv_path() -> Path:
    env = os.environ.get("SHELFCAST_VLLM_VENV")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "shelfcast" / "vllm-venv"


@pytest.fixture(scope="session")
def vllm_venv() -> Path:
    from agent.llm.install import install_vllm

    ensure_offline()
    return install_vllm(vllm_venv_path()).venv


@pytest.fixture(scope="session")
def vllm_model_dir() -> Path:
    ensure_offline()
    env = os.environ.get("SHELFCAST_TEST_MODEL_DIR")
    if env:
        path = Path(env).expanduser()
        if not (path / "config.json").is_file():
            pytest.fail(f"SHELFCAST_TEST_MODEL_DIR={env} is not a prepared model folder (no config.json)")
        return path
    try:
        from agent.models.smollm2 import prepare_smollm2
    except ImportError:
        pytest.skip("no model for vLLM: agent.models.smollm2 missing and SHELFCAST_TEST_MODEL_DIR unset")
    return prepare_smollm2()


class _Started:
    """Servers started by this plugin, stopped at exit even if pytest's teardown is skipped."""

    run_dirs: list[Path] = []

    @classmethod
    def stop_all(cls) -> None:
        from agent.llm.server import stop

        for rd in cls.run_dirs:
            try:
                stop(rd)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass


atexit.register(_Started.stop_all)


def start_test_server(venv: Path, model_dir: Path, run_dir: Path, **kwargs):
    """Start a server on a free port with files in run_dir; returns its ServerState."""
    from agent.llm.server import free_port, serve

    _Started.run_dirs.append(run_dir)
    kwargs.setdefault("wait_s", float(os.environ.get("SHELFCAST_VLLM_WAIT_S", "420")))
    return serve(model_dir, port=free_port(), venv=venv, run_dir=run_dir, **kwargs)


@pytest.fixture(scope="session")
def vllm_server_state(vllm_venv, vllm_model_dir, tmp_path_factory):
    """The ServerState (pid, url, model, run files) of the session's vLLM server."""
    from agent.llm.server import stop

    run_dir = tmp_path_factory.mktemp("vllm-run")
    state = start_test_server(vllm_venv, vllm_model_dir, run_dir)
    try:
        yield state
    finally:
        stop(run_dir)


@pytest.fixture(scope="session")
def vllm_server(vllm_server_state) -> str:
    """Root URL (http://127.0.0.1:PORT) of a running vLLM server serving SmolLM2-135M-Instruct."""
    return vllm_server_state.url
