"""Faults under load: `shelfcast serve` under 8 then 32 clients, a vLLM server killed mid-run, writers killed mid-write.

Three parts, each printing its figures (committed in eval/results/bench_faults.txt):

1. load: `shelfcast serve --backend none` on the built-in data (a real process
   on loopback). C client threads (8, then 32) each send requests back to back
   for a fixed time, drawn from a mix: /health, /forecast (real and unknown
   ids), /new-product, /ask, /report, and hostile requests (a `true` horizon, a
   NaN price, a foreign Host header). Beside them, slow-body sockets (declare
   1,000 bytes, send 5) keep arriving. Per status: counts; per phase: p50/p99
   latency; "lost" counts requests with no HTTP answer or an answer outside the
   statuses that request may get (503 is the intended concurrency limit).
2. vllm-kill (--vllm): a real vLLM server behind `shelfcast serve --backend
   http`; clients send /forecast while the vLLM process group is SIGKILLed
   mid-run. Every request must still be answered 200, by a later path, with
   the reason the LLM path gave way.
3. kill-write: a child process is SIGKILLed while it writes (a) a product index
   over a changed catalog and (b) a model folder (finetune/folders.py, the one
   writer of regression and LoRA artifacts). The child is paused inside the
   write (after the first file, before the rename) so the kill lands mid-write
   every time. A fresh process must then load the previous index unchanged, and
   list only the previous model folder.

    python eval/bench_faults.py [--seconds 20] [--clients 8,32] [--vllm] [--vllm-seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from pydantic import BaseModel

from agent.api.process import running_server
from agent.config import ensure_offline, get_settings
from agent.data import load_builtin
from eval.bench_api import machine


@dataclass
class Outcome:
    label: str
    status: int | None  # None: no HTTP answer (connection error, client timeout)
    latency_s: float
    expected: bool
    path: str | None = None
    reason: str | None = None  # why the first path gave way


@dataclass(frozen=True)
class Kind:
    label: str
    weight: int
    method: str
    path: str
    body: str | None
    allowed: frozenset[int]
    host: str | None = None


def request_mix(ids: list[str]) -> list[Kind]:
    busy = frozenset({503})  # the concurrency limit: intended under load
    rid = random.Random(0)
    mix = [Kind("health", 10, "GET", "/health", None, frozenset({200}))]
    mix += [Kind("forecast", 3, "POST", "/forecast", json.dumps({"unique_id": rid.choice(ids), "horizon": 4}),
                 frozenset({200}) | busy) for _ in range(10)]
    mix += [Kind("forecast unknown id", 3, "POST", "/forecast", '{"unique_id": "no-such-product"}', frozenset({404}) | busy),
            Kind("new-product", 15, "POST", "/new-product", '{"title": "cinnamon raisin bagels 6 ct", "horizon": 4}',
                 frozenset({200}) | busy),
            Kind("ask", 8, "POST", "/ask", '{"question": "how many dinner rolls in the next 2 weeks?", "yes": true}',
                 frozenset({200}) | busy),
            Kind("report", 2, "POST", "/report", '{"department": "PASTRY", "horizon": 4, "format": "json"}',
                 frozenset({200}) | busy),
            Kind("hostile: horizon true", 5, "POST", "/forecast", '{"unique_id": "1095275", "horizon": true}',
                 frozenset({422}) | busy),
            Kind("hostile: price NaN", 5, "POST", "/new-product", '{"title": "bagels", "price": NaN}',
                 frozenset({422}) | busy),
            Kind("hostile: foreign Host", 5, "GET", "/health", None, frozenset({400}), host="rebind.example")]
    return mix


def send(http: httpx.Client, kind: Kind) -> Outcome:
    headers = {"content-type": "application/json", **({"host": kind.host} if kind.host else {})}
    started = time.perf_counter()
    try:
        response = http.request(kind.method, kind.path, content=kind.body, headers=headers)
    except httpx.HTTPError:
        return Outcome(kind.label, None, time.perf_counter() - started, False)
    latency = time.perf_counter() - started
    path = reason = None
    if response.status_code == 200 and kind.path in ("/forecast", "/new-product"):
        forecast = response.json()
        path = forecast["path"]
        first = forecast["attempts"][0]
        reason = None if first["answered"] else first["reason"]
    return Outcome(kind.label, response.status_code, latency, response.status_code in kind.allowed, path, reason)


def slow_body(address: tuple[str, int], results: list[tuple[int | None, float]]) -> None:
    """Declare 1,000 bytes, send 5, and wait for the server to answer and close."""
    started = time.perf_counter()
    status = None
    try:
        with socket.create_connection(address, timeout=60) as sock:
            sock.sendall(b"POST /forecast HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"uni")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else None
    except OSError:
        pass
    results.append((status, time.perf_counter() - started))


def load_phase(url: str, mix: list[Kind], clients: int, seconds: float, timeout_s: float) -> tuple[list[Outcome], list, float]:
    deadline = time.monotonic() + seconds
    outcomes: list[Outcome] = []
    weights = [kind.weight for kind in mix]

    def client(seed: int) -> None:
        pick = random.Random(seed)
        with httpx.Client(base_url=url, timeout=timeout_s) as http:
            while time.monotonic() < deadline:
                outcomes.append(send(http, pick.choices(mix, weights)[0]))

    host, port = url.removeprefix("http://").split(":")
    slow: list[tuple[int | None, float]] = []
    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    slow_threads = []
    while time.monotonic() < deadline:  # a slow-body client every 2 s
        slow_threads.append(threading.Thread(target=slow_body, args=((host, int(port)), slow)))
        slow_threads[-1].start()
        time.sleep(2)
    for thread in threads + slow_threads:
        thread.join()
    return outcomes, slow, time.perf_counter() - started


def summarize(label: str, outcomes: list[Outcome], wall_s: float) -> None:
    latencies = np.array([o.latency_s for o in outcomes])
    statuses = Counter("none" if o.status is None else o.status for o in outcomes)
    lost = sum(not o.expected for o in outcomes)
    server_errors = sum(1 for o in outcomes if o.status is not None and o.status >= 500 and o.status != 503)
    print(f"| {label} | {len(outcomes)} | {len(outcomes) / wall_s:.1f} | "
          f"{', '.join(f'{s}: {n}' for s, n in sorted(statuses.items(), key=str))} | {lost} | {server_errors} | "
          f"{np.percentile(latencies, 50):.3f} | {np.percentile(latencies, 99):.3f} | {latencies.max():.2f} |")


def part_load(args: argparse.Namespace, ids: list[str]) -> None:
    print("## 1. load: shelfcast serve --backend none, mixed endpoints, hostile requests and slow-body sockets\n")
    mix = request_mix(ids)
    print("mix (weight): " + ", ".join(f"{k.label} ({k.weight})" for k in mix if k.label != "forecast")
          + f", forecast of 10 real products ({sum(k.weight for k in mix if k.label == 'forecast')})")
    started = time.perf_counter()
    with running_server(["--backend", "none", "--log-level", "warning"], wait_s=900) as server:
        health = httpx.get(f"{server.url}/health").json()
        print(f"server up in {time.perf_counter() - started:.0f} s: {health['dataset']} ({health['products']:,} "
              f"products), models {', '.join(health['model_ids'])}, limits {health['limits']}\n")
        print("| clients | requests | requests/s | by status | lost | 5xx but 503 | p50 s | p99 s | max s |")
        print("|---|---|---|---|---|---|---|---|---|")
        slow_rows = []
        all_outcomes = []
        for clients in args.clients:
            outcomes, slow, wall = load_phase(server.url, mix, clients, args.seconds, args.timeout)
            summarize(str(clients), outcomes, wall)
            slow_rows.append((clients, slow))
            all_outcomes += outcomes
        print()
        for clients, slow in slow_rows:
            answered = Counter("none" if s is None else s for s, _ in slow)
            print(f"slow-body sockets beside {clients} clients: {len(slow)}, answered {dict(answered)}, "
                  f"closed after at most {max(t for _, t in slow):.1f} s (body timeout 10 s)")
        by_label = Counter((o.label, "none" if o.status is None else o.status) for o in all_outcomes)
        print("\nby request kind (both phases): " + "; ".join(f"{label} {status}: {n}" for (label, status), n in
                                                            sorted(by_label.items(), key=str)))
        alive = server.process.poll() is None
        print(f"server still running after the load: {alive}\n")


def part_vllm(args: argparse.Namespace, ids: list[str]) -> None:
    from agent.llm.server import free_port, serve, stop
    from agent.models.smollm2 import prepare_smollm2

    print("## 2. vllm-kill: vLLM server SIGKILLed while shelfcast serve forwards forecasts to it\n")
    venv = Path(args.vllm_venv)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-faults-vllm-"))
    started = time.perf_counter()
    state = serve(prepare_smollm2(), port=free_port(), venv=venv, run_dir=run_dir, wait_s=900)
    print(f"vLLM up in {time.perf_counter() - started:.0f} s at {state.url} (pid {state.pid})")
    try:
        env = {"SHELFCAST_LLM_URL": state.url}
        with running_server(["--backend", "http", "--log-level", "warning"], env=env, wait_s=900) as server:
            kind = Kind("forecast", 1, "POST", "/forecast", None, frozenset({200}))
            outcomes: list[tuple[float, Outcome]] = []
            t0 = time.monotonic()
            deadline = t0 + args.vllm_seconds

            def client(seed: int) -> None:
                pick = random.Random(seed)
                with httpx.Client(base_url=server.url, timeout=600) as http:
                    while time.monotonic() < deadline:
                        body = json.dumps({"unique_id": pick.choice(ids), "horizon": 2})
                        sent = time.monotonic() - t0
                        outcomes.append((sent, send(http, Kind(kind.label, 1, "POST", "/forecast", body, kind.allowed))))

            threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.vllm_clients)]
            for thread in threads:
                thread.start()
            time.sleep(args.vllm_seconds / 3)
            killed_at = time.monotonic() - t0
            os.killpg(state.pid, signal.SIGKILL)
            print(f"vLLM process group SIGKILLed at t={killed_at:.0f} s; clients run until t={args.vllm_seconds:.0f} s")
            for thread in threads:
                thread.join()
            for label, rows in (("sent before the kill", [o for t, o in outcomes if t < killed_at]),
                                ("sent after the kill", [o for t, o in outcomes if t >= killed_at])):
                statuses = Counter("none" if o.status is None else o.status for o in rows)
                paths = Counter(o.path for o in rows if o.path)
                reasons = Counter((o.reason or "answered")[:90] for o in rows if o.status == 200)
                print(f"- {label}: {len(rows)} requests, status {dict(statuses)}, answered by {dict(paths)}; "
                      f"first path: " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common(4)))
            lost = sum(not o.expected for _, o in outcomes)
            print(f"lost (no 200): {lost} of {len(outcomes)}; server still running: {server.process.poll() is None}\n")
    finally:
        stop(run_dir)


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    marker, what, root = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def pause_after(write):
        def wrapped(*args, **kwargs):
            result = write(*args, **kwargs)
            marker.write_text("inside the write")
            time.sleep(600)  # the parent kills us here: first file written, nothing renamed yet
            return result
        return wrapped

    if what == "index":
        import numpy as np
        from agent.data import load_builtin
        from agent.retrieval.index import ProductIndex
        catalog = load_builtin().catalog.head(300).copy()
        catalog.loc[0, ["title", "text"]] = catalog.loc[0, ["title", "text"]] + " (changed)"
        np.save = pause_after(np.save)
        ProductIndex.load_or_build(catalog, name="faults", root=root, progress=False)
    else:
        from finetune.folders import write_folder
        from eval.bench_faults import ToyConfig
        def weights(folder):
            pause_after(lambda: (folder / "model.safetensors").write_bytes(b"x" * 1_000_000))()
        write_folder(root, "run-2", ToyConfig(created=2.0), [], "card", weights)
""")


class ToyConfig(BaseModel):
    """The least a model folder's config holds: the folder writer and lister are what part 3 tests."""

    format_version: int = 1
    created: float


def read_toy(folder: Path) -> ToyConfig:
    return ToyConfig.model_validate_json((folder / "config.json").read_text())


def kill_inside(what: str, root: Path) -> float:
    """Run the CHILD writer, SIGKILL it once it is inside the write; seconds it took to get there."""
    marker = root / f".marker-{what}"
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker), what, str(root)],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    while not marker.exists():
        if child.poll() is not None:
            raise RuntimeError(f"the {what} writer exited ({child.returncode}) before reaching the write")
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    marker.unlink()
    return time.perf_counter() - started


def part_kill_write() -> None:
    from agent.retrieval.index import ProductIndex
    from finetune.folders import list_folders, write_folder

    print("## 3. kill-write: writers SIGKILLed inside the write, then a fresh load\n")
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    catalog = load_builtin().catalog.head(300)
    good = ProductIndex.load_or_build(catalog, name="faults", root=root, progress=False)
    before = sorted(p.name for p in (root / "faults").iterdir())
    seconds = kill_inside("index", root)
    leftovers = sorted(p.name for p in (root / "faults").iterdir())
    started = time.perf_counter()
    reloaded = ProductIndex.load_or_build(catalog, name="faults", root=root, progress=False)
    load_s = time.perf_counter() - started
    same = reloaded.fingerprint == good.fingerprint and np.array_equal(np.asarray(reloaded.text_vectors),
                                                                        np.asarray(good.text_vectors))
    hits = reloaded.search("plain bagels", k=3)
    print(f"- product index: writer killed {seconds:.1f} s in, after vectors.npy of the changed catalog was written; "
          f"folders before {before}, after {leftovers}; next start loaded the previous index in {load_s:.2f} s "
          f"(no rebuild), identical vectors: {same}; search answers: {len(hits)} hits")

    models = root / "models"
    write_folder(models, "run-1", ToyConfig(created=1.0), [], "card", lambda f: (f / "model.safetensors").write_bytes(b"ok"))
    seconds = kill_inside("artifact", models)
    listed = [path.name for path, _ in list_folders(models, "config.json", read_toy, 1)]
    print(f"- model folder: writer killed {seconds:.1f} s in, inside the weights write of run-2; on disk "
          f"{sorted(p.name for p in models.iterdir())}; listed as models: {listed}; newest: {listed[0] if listed else None}")
    ok = same and listed == ["run-1"]
    print(f"previous good state seen after both kills, nothing half-written loaded: {ok}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each load phase.")
    parser.add_argument("--clients", type=lambda s: [int(c) for c in s.split(",")], default=[8, 32])
    parser.add_argument("--timeout", type=float, default=120.0, help="Client timeout per request, seconds.")
    parser.add_argument("--vllm", action="store_true", help="Run part 2 (needs the vLLM virtualenv).")
    parser.add_argument("--vllm-venv", default=str(get_settings().home / "vllm-venv"))
    parser.add_argument("--vllm-seconds", type=float, default=150.0)
    parser.add_argument("--vllm-clients", type=int, default=4)
    parser.add_argument("--parts", default="load,vllm,kill-write")
    args = parser.parse_args()
    ensure_offline()
    parts = set(args.parts.split(","))

    print(f"# bench_faults  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"command: python {' '.join(sys.argv)}\n")
    sales = load_builtin().sales
    sold_weeks = sales[sales["y"] > 0].groupby("unique_id").size()
    ids = sold_weeks[sold_weeks >= 26].sample(64, random_state=0).index.tolist()
    if "load" in parts:
        part_load(args, ids)
    if "vllm" in parts and args.vllm:
        part_vllm(args, ids)
    if "kill-write" in parts:
        part_kill_write()
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
