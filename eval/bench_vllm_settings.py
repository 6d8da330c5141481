"""Sweep the vLLM CPU settings that matter on a small machine, back to back, and print forecasts/s per setting.

For each setting a fresh server is started (agent.llm.server.serve with a
ServerTuning), the same P products (bench_llm's, default 16) are forecast
zero-shot then few-shot (h=4, N=20, `--concurrency` requests at once), and the
server is stopped. Two stages:

1. precision and worker layout: float32 / bfloat16; the model in vLLM's engine
   process with one or two OpenMP threads, or vLLM's multiprocess executor with
   its own binding (auto: one pinned thread, one CPU reserved) or both CPUs
   bound (VLLM_CPU_OMP_THREADS_BIND=0-1, VLLM_CPU_NUM_OF_RESERVED_CPU=0);
2. on top of stage 1's fastest (geometric mean of the two rates): the scheduler
   and cache: all 8 x 20 sequences in one batch (--max-num-seqs 160, 2 GiB KV
   cache), a larger prefill chunk (--max-num-batched-tokens 8192), and prefix
   caching off (to show what it is worth for the shared few-shot instructions).

vllm-cpu 0.32's environment variables were read from its own vllm/envs.py and
platforms/cpu.py (the binding applies to the multiprocess executor only).

    python eval/bench_vllm_settings.py [--products 16] [--concurrency 8] [--stage1-only]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.llm.server import ServerTuning  # noqa: E402
from eval.bench_llm import sample_products, serve_and_measure  # noqa: E402

MODES = ["zero-shot", "few-shot"]

STAGE1 = [
    ServerTuning(dtype="float32"),  # the landed default
    ServerTuning(dtype="bfloat16"),
    ServerTuning(dtype="bfloat16", threads=2),
    ServerTuning(dtype="bfloat16", in_process_worker=False),
    ServerTuning(dtype="bfloat16", in_process_worker=False, omp_bind="0-1", reserved_cpus=0),
]


def stage2(best: ServerTuning) -> list[ServerTuning]:
    return [
        best.model_copy(update={"max_num_seqs": 160, "kv_cache_gib": 2}),
        best.model_copy(update={"max_num_batched_tokens": 8192}),
        best.model_copy(update={"prefix_caching": False}),
    ]


def rate(figures: dict) -> float:
    return figures["forecasts"] / figures["wall_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--stage1-only", action="store_true")
    args = parser.parse_args()

    from agent.config import ensure_offline
    from agent.pipeline import Shelfcast

    ensure_offline()
    pipeline = Shelfcast.load(backend="none", regression=False)
    ids = sample_products(pipeline, args.products)
    print(f"# bench_vllm_settings  {time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{args.products} products (bench_llm's), h=4, N=20, {args.concurrency} concurrent requests\n")
    print("| stage | setting | mode | forecasts | forecasts/s | gen tokens/s | wall s | RSS MB | invalid samples "
          "| non-LLM finals | ready s (restarts) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def run(stage: int, settings: list[ServerTuning]) -> list[tuple[ServerTuning, float]]:
        scored = []
        for tuning in settings:
            start, results = serve_and_measure(pipeline.builder, ids, tuning, MODES, args.concurrency)
            for mode, figures in results.items():
                invalid = 1 - figures["valid"] / figures["samples"] if figures["samples"] else float("nan")
                print(f"| {stage} | {tuning.label()} | {mode} | {figures['forecasts']} | {rate(figures):.3f} | "
                      f"{figures['tokens'] / figures['wall_s']:.0f} | {figures['wall_s']:.1f} | "
                      f"{figures['peak_rss_mb']:,.0f} | {invalid:.1%} | {figures['not_llm'] / figures['forecasts']:.0%} | "
                      f"{start['ready_s']:.0f} ({start['restarts']}) | {os.getloadavg()[0]:.1f} |", flush=True)
            scored.append((tuning, math.sqrt(rate(results["zero-shot"]) * rate(results["few-shot"]))))
        return scored

    scored = run(1, STAGE1)
    best = max(scored, key=lambda item: item[1])[0]
    print(f"\nstage 1 fastest (geometric mean of the two rates): {best.label()}\n")
    if not args.stage1_only:
        scored += run(2, stage2(best))
        print()
    for tuning, score in sorted(scored, key=lambda item: -item[1]):
        print(f"{score:.3f}  {tuning.label()}")
    print(f"\nfastest overall: {max(scored, key=lambda item: item[1])[0].model_dump_json(exclude_defaults=True)}")
    print(f"# done, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
