"""Benchmark the LLM forecast paths: the landed code against this tree, in one run on one machine, and accuracy.

Throughput. P products (default 16, sold in >= 26 weeks, drawn with seed 0),
h = 4, N = 20 samples, zero-shot and few-shot, all through
`ForecastChain.forecast_many`. Every row runs in a fresh child process:

- `landed`: the code of a git ref (default: the commit before the decode
  engine), extracted with `git archive` into a temporary folder and imported
  instead of this tree: the sequential embedded backend as it was.
- `engine`: this tree's embedded backend at each candidate precision, and
  with one or two torch threads (`--threads`); `*` marks the precision
  agent.llm.precision chose for this machine.

The rows of one mode run back to back, so load drifts less between them than
between two runs; the ratio column is each row's forecasts/s over the landed
row's.

Accuracy. The 20 series x 3 windows of eval/results/completejourney-chain
(its committed llm-zero-shot / llm-few-shot forecasts came from the landed
code) are forecast again with this tree's engine at each precision, with no
response cache; printed: WAPE, MASE, 80% coverage, the invalid-sample share,
and the paired bootstrap CI over series of WAPE(engine) - WAPE(landed).

vLLM (`--backends vllm`): the server is started with agent.llm.server's
default settings (chosen by eval/bench_vllm_settings.py) and sent
`--concurrency` requests at once.

    python eval/bench_llm.py [--products 16] [--ref f93806f|none] [--modes zero-shot,few-shot]
                             [--dtypes float32,bfloat16] [--threads 1,2] [--accuracy-series 20] [--backends embedded,vllm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
LANDED_REF = "f93806f"  # the last commit whose embedded backend decoded one request at a time
CHAIN_RUN = ROOT / "eval" / "results" / "completejourney-chain"
TABLE_HEADER = ("| code | mode | forecasts | forecasts/s | vs landed | gen tokens/s | first forecast s | wall s | peak RSS MB "
                "| invalid samples | non-LLM finals |\n|---|---|---|---|---|---|---|---|---|---|---|")


# ----------------------------------------------------------------------------- one measurement (child process)


def sample_products(pipeline, count: int) -> list[str]:
    sold_weeks = pipeline.dataset.sales[pipeline.dataset.sales["y"] > 0].groupby("unique_id").size()
    return sold_weeks[sold_weeks >= 26].sample(64, random_state=0).index.tolist()[:count]


class PeakRss:
    """Peak resident memory of this process, sampled in a background thread."""

    def __init__(self) -> None:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss / 2**20)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def worker(mode: str, products: int, dtype: str, threads: int) -> dict:
    """Forecast `products` products with the embedded backend of whichever `agent` is importable; figures as a dict.

    Uses only what both the landed code and this tree have (Shelfcast.load, ForecastChain, EmbeddedBackend).
    """
    import torch

    from agent.config import ensure_offline
    from agent.forecast.chain import ChainSettings, ForecastChain
    from agent.llm.embedded import EmbeddedBackend
    from agent.models.smollm2 import prepare_smollm2
    from agent.pipeline import Shelfcast

    ensure_offline()
    pipeline = Shelfcast.load(backend="none", regression=False)
    ids = sample_products(pipeline, products)
    backend = EmbeddedBackend(prepare_smollm2(), threads=threads, dtype=getattr(torch, dtype))
    chain = ForecastChain(pipeline.builder, backend, None, ChainSettings(samples=20, max_workers=8, timeout_s=1800))
    first: list[float] = []
    original = chain.forecast
    started = time.perf_counter()

    def timed(*args, **kwargs):
        result = original(*args, **kwargs)
        first.append(time.perf_counter() - started)
        return result

    chain.forecast = timed  # type: ignore[method-assign]
    with PeakRss() as rss:
        forecasts = chain.forecast_many(ids, 4, mode, show_progress=False)
    wall = time.perf_counter() - started
    attempts = [a for f in forecasts for a in f.attempts if a.path.startswith("llm")]
    return {"forecasts": len(forecasts), "wall_s": wall, "first_s": min(first),
            "tokens": sum(f.completion_tokens for f in forecasts),
            "samples": sum(a.samples_total for a in attempts), "valid": sum(a.samples_valid for a in attempts),
            "not_llm": sum(not f.path.startswith("llm") for f in forecasts), "peak_rss_mb": rss.peak}


# ----------------------------------------------------------------------------- the parent


def extract(ref: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"shelfcast-{ref}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "agent", "prompts", "finetune"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def measure(code: Path, mode: str, products: int, dtype: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "SHELFCAST_TORCH_THREADS": str(threads)}
    command = [sys.executable, __file__, "--worker", mode, "--products", str(products), "--dtype", dtype,
               "--threads", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise RuntimeError(f"{code} {mode} {dtype} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(label: str, mode: str, figures: dict, reference: dict | None) -> str:
    rate = figures["forecasts"] / figures["wall_s"]
    ratio = (f"{rate / (reference['forecasts'] / reference['wall_s']):.1f}x" if reference
             else "1.0x" if label.startswith("landed") else "-")
    invalid = 1 - figures["valid"] / figures["samples"] if figures["samples"] else float("nan")
    return (f"| {label} | {mode} | {figures['forecasts']} | {rate:.3f} | {ratio} | {figures['tokens'] / figures['wall_s']:.0f} | "
            f"{figures['first_s']:.1f} | {figures['wall_s']:.1f} | {figures['peak_rss_mb']:,.0f} | {invalid:.1%} | "
            f"{figures['not_llm'] / figures['forecasts']:.0%} |")


def throughput(args: argparse.Namespace, chosen: str) -> None:
    landed = extract(args.ref) if args.ref != "none" else None
    print(TABLE_HEADER)
    for mode in args.modes.split(","):
        reference = measure(landed, mode, args.products, "float32", 1) if landed else None
        if reference:
            print(row(f"landed {args.ref} (float32, 1 thread, sequential)", mode, reference, None), flush=True)
        for threads in (int(t) for t in args.threads.split(",")):
            for dtype in args.dtypes.split(","):
                figures = measure(ROOT, mode, args.products, dtype, threads)
                mark = "*" if dtype == chosen else ""
                print(row(f"engine {dtype}{mark}, {threads} thread{'s' if threads > 1 else ''}", mode, figures, reference),
                      flush=True)


def accuracy(args: argparse.Namespace, chosen: str) -> None:
    """This tree's engine vs the committed landed forecasts on the chain run's existing-product items."""
    import pandas as pd
    import torch

    from agent.data import load_dataset
    from agent.llm.embedded import EmbeddedBackend
    from agent.models.smollm2 import prepare_smollm2
    from eval.harness import EvalConfig, Harness
    from eval.harness.metrics import paired_bootstrap, series_errors, window_scores

    dataset = load_dataset()
    config = EvalConfig(task="existing", models=["llm-zero-shot", "llm-few-shot"], horizon=4, n_windows=3,
                        max_series=args.accuracy_series, seed=0, launch_after="2017-10-02")
    print("| code | model | items | WAPE | MASE | 80% coverage | invalid samples | WAPE engine - landed (95% CI) | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    landed_rows = {}
    for dtype in ("float32", "bfloat16"):
        backend = EmbeddedBackend(prepare_smollm2(), dtype=getattr(torch, dtype))
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            result = Harness(dataset, out, backend=backend, progress=False).run(config)
            wall = time.perf_counter() - started
            task = result.tasks["existing"]
            frame = task.frame
            for model in config.models:
                landed = pd.read_parquet(CHAIN_RUN / "cache" / "existing" / f"{model}.parquet")
                landed = landed.rename(columns={c: c.replace(model, f"landed-{model}") for c in landed.columns})
                frame = frame.merge(landed, on=["unique_id", "ds", "cutoff"], how="left", validate="1:1")
            models = [m for model in config.models for m in (model, f"landed-{model}")]
            if frame[models].isna().any().any():
                raise SystemExit(f"the accuracy items differ from {CHAIN_RUN}'s: use --accuracy-series 20 (its size)")
            scores = window_scores(frame, models, task.train, dataset.season_length)
            overall = scores[scores["window"] == "all"].pivot(index="model", columns="metric", values="value")
            errors, abs_y = series_errors(frame, models)
            for model in config.models:
                diag = task.runs[model].diag
                invalid = 1 - diag["samples_valid"].sum() / max(diag["samples_total"].sum(), 1)
                ci = paired_bootstrap(errors[model].to_numpy(), errors[f"landed-{model}"].to_numpy(), abs_y.to_numpy())
                s = overall.loc[model]
                mark = "*" if dtype == chosen else ""
                print(f"| engine {dtype}{mark} | {model} | {len(task.task.items)} | {s['wape']:.3f} | {s['mase']:.3f} | "
                      f"{s['coverage']:.2f} | {invalid:.1%} | {ci['delta']:+.3f} ({ci['lo']:+.3f}..{ci['hi']:+.3f}) | "
                      f"{wall:.0f} |", flush=True)
                landed_rows[model] = overall.loc[f"landed-{model}"]
        backend.close()
    for model, s in landed_rows.items():
        print(f"| landed {LANDED_REF} (committed run) | {model} | {len(task.task.items)} | {s['wape']:.3f} | {s['mase']:.3f} | "
              f"{s['coverage']:.2f} | 0.0% | | |")


def serve_and_measure(builder, ids: list[str], tuning, modes: list[str], concurrency: int) -> tuple[dict, dict]:
    """Start vLLM with `tuning`, forecast `ids` in each mode with `concurrency` requests at once, stop it.

    Returns the server's start-up figures and {mode: figures}. The memory figure is the
    resident size of the server and its children after the last mode.
    """
    from agent.forecast.chain import ChainSettings, ForecastChain
    from agent.llm.http import HttpBackend
    from agent.llm.install import install_vllm
    from agent.llm.server import free_port, serve, stop
    from agent.models.smollm2 import prepare_smollm2

    run_dir = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    state = serve(prepare_smollm2(), port=free_port(), venv=install_vllm().venv, run_dir=run_dir, wait_s=600,
                  tuning=tuning)
    results = {}
    try:
        backend = HttpBackend(state.url, timeout_s=1800)
        for mode in modes:
            chain = ForecastChain(builder, backend, None,
                                  ChainSettings(samples=20, max_workers=concurrency, timeout_s=1800))
            started = time.perf_counter()
            forecasts = chain.forecast_many(ids, 4, mode, show_progress=False)
            wall = time.perf_counter() - started
            attempts = [a for f in forecasts for a in f.attempts if a.path.startswith("llm")]
            server = psutil.Process(state.pid)
            results[mode] = {"forecasts": len(forecasts), "wall_s": wall, "first_s": float("nan"),
                             "tokens": sum(f.completion_tokens for f in forecasts),
                             "samples": sum(a.samples_total for a in attempts),
                             "valid": sum(a.samples_valid for a in attempts),
                             "not_llm": sum(not f.path.startswith("llm") for f in forecasts),
                             "peak_rss_mb": sum(p.memory_info().rss for p in [server, *server.children(recursive=True)])
                             / 2**20}
    finally:
        stop(run_dir)
    return {"ready_s": state.ready_s, "restarts": state.restarts}, results


def vllm(args: argparse.Namespace) -> None:
    from agent.config import ensure_offline
    from agent.llm.server import default_tuning
    from agent.models.smollm2 import prepare_smollm2
    from agent.pipeline import Shelfcast

    ensure_offline()
    pipeline = Shelfcast.load(backend="none", regression=False)
    tuning = default_tuning(prepare_smollm2())
    print(f"vLLM settings (agent.llm.server.default_tuning): {tuning.label()}")
    start, results = serve_and_measure(pipeline.builder, sample_products(pipeline, args.products), tuning,
                                       args.modes.split(","), args.concurrency)
    print(f"ready in {start['ready_s']:.0f} s, {start['restarts']} restart(s)\n")
    print(TABLE_HEADER)
    for mode, figures in results.items():
        print(row(f"vLLM ({args.concurrency} concurrent)", mode, figures, None), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=16)
    parser.add_argument("--ref", default=LANDED_REF, help="git ref of the landed code to compare with ('none': no landed rows)")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="precisions of the engine rows")
    parser.add_argument("--modes", default="zero-shot,few-shot")
    parser.add_argument("--threads", default="1", help="comma-separated torch thread counts for the engine rows")
    parser.add_argument("--accuracy-series", type=int, default=20, help="series of the chain run (x 3 windows); 0 skips")
    parser.add_argument("--backends", default="embedded")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent requests to vLLM")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.products, args.dtype, int(args.threads))))
        return
    sys.path.insert(0, str(ROOT))
    from agent.config import ensure_offline
    from agent.llm.precision import choose_precision
    from agent.models.smollm2 import prepare_smollm2

    ensure_offline()
    choice = choose_precision(prepare_smollm2())
    print(f"# bench_llm  {time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; {choice.cpu}")
    print(f"# precision chosen here: {choice.dtype} ({choice.reason})")
    print(f"{args.products} products (>= 26 selling weeks), h=4, N=20 samples, built-in data\n")
    if "embedded" in args.backends:
        throughput(args, choice.dtype)
        if args.accuracy_series:
            print(f"\nAccuracy on the chain run's {args.accuracy_series} series x 3 windows (load {os.getloadavg()[0]:.1f}):\n")
            accuracy(args, choice.dtype)
    if "vllm" in args.backends:
        print(f"\n(load {os.getloadavg()[0]:.1f})")
        vllm(args)
    print(f"\n# done, load {os.getloadavg()[0]:.1f}")
    print("invalid samples: share of LLM samples rejected by the parser (unparseable, wrong count, above bound);")
    print("non-LLM finals: forecasts that fell through to the regression model or the statistical floor.")


if __name__ == "__main__":
    main()
