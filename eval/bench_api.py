"""Benchmark the HTTP API: requests/s, p50/p99 latency and errors of POST /forecast under concurrent clients.

Starts `shelfcast serve` on the built-in data (a separate process on loopback,
as a user would run it), then C client threads (default 8), each with its own
HTTP connection, send requests back to back until the phase's count is reached:

- baseline: mode=baseline, the statistical floor only (the API's own overhead
  plus one history lookup);
- chain: mode=auto with the LLM backend the server chose (embedded SmolLM2 by
  default): few-shot, zero-shot, regression, floor. The embedded model answers
  one request at a time; a request that waits on it past the chain's timeout
  falls back and says so, so the table counts which path answered.

One unmeasured warm-up request precedes each phase (the first LLM request
compiles the regex automaton over the vocabulary).

    python eval/bench_api.py [--clients 8] [--baseline-requests 400] [--chain-requests 16] [--horizon 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np
import psutil

from agent.api.process import running_server
from agent.config import ensure_offline
from agent.data import load_builtin


@dataclass
class Outcome:
    latency_s: float
    status: int | None  # None: no HTTP answer at all (connection error, client timeout)
    path: str | None = None
    fallback: str | None = None  # why the first path gave way, when it did


@dataclass
class Phase:
    label: str
    clients: int
    wall_s: float
    outcomes: list[Outcome] = field(default_factory=list)

    def row(self) -> str:
        latencies = np.array([o.latency_s for o in self.outcomes])
        errors = sum(o.status != 200 for o in self.outcomes)
        paths = Counter(o.path for o in self.outcomes if o.path)
        answered = ", ".join(f"{path} {count}" for path, count in paths.most_common())
        return (f"| {self.label} | {self.clients} | {len(self.outcomes)} | {errors} | "
                f"{len(self.outcomes) / self.wall_s:.2f} | {np.percentile(latencies, 50):.3f} | "
                f"{np.percentile(latencies, 99):.3f} | {latencies.max():.3f} | {self.wall_s:.1f} | {answered} |")


def request_once(http: httpx.Client, body: dict) -> Outcome:
    started = time.perf_counter()
    try:
        response = http.post("/forecast", json=body)
    except httpx.HTTPError:
        return Outcome(time.perf_counter() - started, None)
    latency = time.perf_counter() - started
    if response.status_code != 200:
        return Outcome(latency, response.status_code)
    forecast = response.json()
    first = forecast["attempts"][0]
    return Outcome(latency, 200, forecast["path"], None if first["answered"] else first["reason"])


def hammer(url: str, label: str, ids: list[str], mode: str, horizon: int, total: int, clients: int,
           timeout_s: float) -> Phase:
    """`clients` threads send `total` requests between them, each as soon as its previous one returned."""
    tickets = itertools.count()  # next() on a count is atomic under the GIL: each ticket goes to one client
    outcomes: list[Outcome] = []

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout_s) as http:
            while (ticket := next(tickets)) < total:
                outcomes.append(request_once(http, {"unique_id": ids[ticket % len(ids)], "horizon": horizon,
                                                    "mode": mode}))

    with httpx.Client(base_url=url, timeout=timeout_s) as http:  # warm-up, not measured
        request_once(http, {"unique_id": ids[-1], "horizon": horizon, "mode": mode})
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Phase(label, clients, time.perf_counter() - started, outcomes)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor() or platform.machine()) if os.path.exists("/proc/cpuinfo") else platform.machine()
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--baseline-requests", type=int, default=400)
    # ~0.06-0.13 LLM forecasts/s on 2 shared cores: a small count keeps the phase to a few minutes.
    parser.add_argument("--chain-requests", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--backend", default="embedded", help="The server's --backend for the chain phase.")
    parser.add_argument("--timeout", type=float, default=600.0, help="Client timeout per request, seconds.")
    args = parser.parse_args()
    ensure_offline()

    sales = load_builtin().sales
    sold_weeks = sales[sales["y"] > 0].groupby("unique_id").size()
    ids = sold_weeks[sold_weeks >= 26].sample(64, random_state=0).index.tolist()
    print(f"# bench_api  {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"command: python {' '.join(sys.argv)}")
    started = time.perf_counter()
    with running_server(["--backend", args.backend, "--log-level", "warning"], wait_s=600) as server:
        health = httpx.get(f"{server.url}/health").json()
        print(f"server: shelfcast serve on {server.url}, up in {time.perf_counter() - started:.0f} s; dataset "
              f"{health['dataset']} ({health['products']:,} products); backend: {health['backend_note']}; "
              f"models: {', '.join(health['model_ids'])}; max_concurrent {health['limits']['max_concurrent']}")
        print(f"requests: POST /forecast, h={args.horizon}, 64 products (>= 26 selling weeks, seed 0), "
              f"{args.clients} concurrent clients on loopback, each request sent when the client's previous one returned\n")
        print("| phase | clients | requests | errors | requests/s | p50 s | p99 s | max s | wall s | answered by |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        baseline = hammer(server.url, "baseline (mode=baseline)", ids, "baseline", args.horizon,
                          args.baseline_requests, args.clients, args.timeout)
        print(baseline.row(), flush=True)
        chain = hammer(server.url, f"chain (mode=auto, {health['backend']})", ids, "auto", args.horizon,
                       args.chain_requests, args.clients, args.timeout)
        print(chain.row(), flush=True)
    reasons = Counter(o.fallback or "answered" for o in chain.outcomes if o.status == 200)
    print("\nchain phase, the first path (llm-few-shot): " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common()))
    print(f"errors: responses other than 200 or no response; load average at end {os.getloadavg()[0]:.1f}; "
          f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
