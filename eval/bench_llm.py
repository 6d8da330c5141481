"""Benchmark the LLM forecast paths: embedded (sequential) vs vLLM over HTTP (concurrent).

For P products (default 64), h = 4, N = 20 samples, in zero-shot and few-shot
modes, prints forecasts/s, generated tokens/s, time to first forecast, peak RAM
and the share of invalid samples (PromptCast's "missing rate") and of final
forecasts that did not come from the LLM. The vLLM server is started by this
script (its virtualenv is installed first if missing) and stopped at the end.

    python eval/bench_llm.py [--products 64] [--embedded-products 64] [--backends embedded,vllm]
                             [--modes zero-shot,few-shot]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent.config import ensure_offline
from agent.forecast.chain import ChainSettings, ForecastChain
from agent.forecast.result import Forecast
from agent.pipeline import Shelfcast


@dataclass
class Run:
    backend: str
    mode: str
    forecasts: list[Forecast]
    wall_s: float
    first_s: float
    peak_rss_mb: float

    def row(self) -> str:
        samples = sum(a.samples_total for f in self.forecasts for a in f.attempts if a.path.startswith("llm"))
        valid = sum(a.samples_valid for f in self.forecasts for a in f.attempts if a.path.startswith("llm"))
        tokens = sum(f.completion_tokens for f in self.forecasts)
        not_llm = sum(not f.path.startswith("llm") for f in self.forecasts)
        n = len(self.forecasts)
        return (f"| {self.backend} | {self.mode} | {n} | {n / self.wall_s:.3f} | {tokens / self.wall_s:.1f} | "
                f"{self.first_s:.1f} | {self.wall_s:.1f} | {self.peak_rss_mb:,.0f} | "
                f"{1 - valid / samples if samples else float('nan'):.1%} | {not_llm / n:.1%} |")


class PeakRss:
    """Peak resident memory of a set of processes, sampled in a background thread."""

    def __init__(self, pids: list[int]):
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self.pids:
                try:
                    proc = psutil.Process(pid)
                    total += sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total / 2**20)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(pipeline: Shelfcast, backend, label: str, mode: str, ids: list[str], horizon: int, pids: list[int],
        concurrency: int = 1) -> Run:
    # A batch queues on the server, so the per-request timeout must cover the queue, not one request.
    settings = ChainSettings(samples=20, max_workers=concurrency, timeout_s=900)
    chain = ForecastChain(pipeline.builder, backend, None, settings)
    first: list[float] = []
    started = time.perf_counter()
    original = chain.forecast

    def timed(*args, **kwargs) -> Forecast:
        result = original(*args, **kwargs)
        if not first:
            first.append(time.perf_counter() - started)
        return result

    chain.forecast = timed  # type: ignore[method-assign]
    with PeakRss(pids) as rss:
        forecasts = chain.forecast_many(ids, horizon, mode)  # type: ignore[arg-type]
    return Run(label, mode, forecasts, time.perf_counter() - started, first[0], rss.peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=64)
    # Sequential embedded decoding takes ~15 s a forecast on 2 busy cores: a subset keeps the run
    # under an hour; rates per forecast are what is compared.
    parser.add_argument("--embedded-products", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--backends", default="embedded,vllm")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent requests to vLLM.")
    parser.add_argument("--modes", default="zero-shot,few-shot")
    args = parser.parse_args()
    ensure_offline()

    pipeline = Shelfcast.load(backend="none", regression=False)
    sold_weeks = pipeline.dataset.sales[pipeline.dataset.sales["y"] > 0].groupby("unique_id").size()
    ids = sold_weeks[sold_weeks >= 26].sample(args.products, random_state=0).index.tolist()
    print(f"# bench_llm  {time.strftime('%Y-%m-%d %H:%M')}  {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{args.products} products (>= 26 selling weeks), h={args.horizon}, N=20 samples, built-in data\n")
    print("| backend | mode | forecasts | forecasts/s | gen tokens/s | first forecast s | wall s | peak RSS MB | invalid samples | non-LLM finals |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    modes = args.modes.split(",")
    if "embedded" in args.backends:
        from agent.llm.select import embedded_backend

        backend = embedded_backend()
        for mode in modes:
            subset = ids[: args.embedded_products]
            print(run(pipeline, backend, "embedded (sequential)", mode, subset, args.horizon, [os.getpid()]).row(), flush=True)
    if "vllm" in args.backends:
        from agent.llm.http import HttpBackend
        from agent.llm.install import install_vllm
        from agent.llm.server import free_port, serve, stop
        from agent.models.smollm2 import prepare_smollm2

        run_dir = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
        venv = install_vllm().venv
        state = serve(prepare_smollm2(), port=free_port(), venv=venv, run_dir=run_dir, wait_s=600)
        try:
            backend = HttpBackend(state.url, timeout_s=900)
            label = f"vLLM ({args.concurrency} concurrent)"
            for mode in modes:
                print(run(pipeline, backend, label, mode, ids, args.horizon, [os.getpid(), state.pid], args.concurrency).row(),
                      flush=True)
        finally:
            stop(run_dir)
    print("\ninvalid samples: share of LLM samples rejected by the parser (unparseable, wrong count, above bound);")
    print("non-LLM finals: forecasts that fell through to the regression model or the statistical floor.")


if __name__ == "__main__":
    main()
