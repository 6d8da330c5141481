"""The token trade-off: what fewer prompt and answer tokens cost in accuracy and buy in time (issue 11, item 4).

Each variant changes one setting of the LLM forecast paths against today's
default and runs the evaluation harness on the 20 series x 3 windows of
eval/results/completejourney-chain (60 items, h=4) with the embedded engine at
the machine's precision, zero-shot and few-shot, no response cache:

- (a) tokens per value: the separator (", " costs two tokens, "," one; every
  digit is its own token in SmolLM2's vocabulary) and digits per value
  (scale_to 10 and 2 digits instead of 100 and 3);
- (b) prompt length: target history 13 periods instead of 26; few-shot with
  3 analogs instead of 5;
- (c) samples per forecast N = 10 and 5 instead of 20 (same empirical 0.1/0.5/0.9
  quantiles).

Printed per variant and mode: mean prompt tokens, forecasts/s (the harness's
own wall time for the 60 items, eight requests in flight, after an unprinted
warm-up pass of the default on 3 series), the process's CPU seconds per
forecast (the engine runs in this process on one torch thread, so CPU time is
the work done, which a shared machine's load does not inflate the way it does
wall time; the comparison to use), WAPE, MASE, 80% coverage, and paired bootstrap CIs over series of WAPE(variant) - WAPE(default)
and of mean MASE(variant) - mean MASE(default). A default should change only
where the CI includes 0 or favours the variant and the time gain is clear.

    python eval/bench_tokens.py [--series 20] [--variants default,"separator ','",...]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.forecast.chain import ChainSettings  # noqa: E402
from agent.forecast.context import ContextSettings  # noqa: E402
from agent.forecast.serialize import SerializerSettings  # noqa: E402

MODELS = ["llm-zero-shot", "llm-few-shot"]


@dataclass(frozen=True)
class Variant:
    name: str
    chain: ChainSettings = ChainSettings()
    context: ContextSettings = ContextSettings()
    models: tuple[str, ...] = tuple(MODELS)


VARIANTS = [
    Variant("default"),
    Variant("separator ','", chain=ChainSettings(serializer=SerializerSettings(separator=","))),
    Variant("2 digits (10 = busy week)", chain=ChainSettings(serializer=SerializerSettings(scale_to=10, max_digits=2))),
    Variant("history 13", context=ContextSettings(max_history=13)),
    Variant("3 analogs", context=ContextSettings(k_analogs=3), models=("llm-few-shot",)),
    Variant("N=10", chain=ChainSettings(samples=10)),
    Variant("N=5", chain=ChainSettings(samples=5)),
]


@dataclass
class Outcome:
    frame: object  # the task frame: actuals and this variant's columns
    mase: object  # per (series, window) MASE of this variant's columns
    rate: dict[str, float] = field(default_factory=dict)
    cpu_per_forecast: dict[str, float] = field(default_factory=dict)
    prompt_tokens: dict[str, float] = field(default_factory=dict)
    invalid: dict[str, float] = field(default_factory=dict)


def bootstrap_mean_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean(a - b) over series with a 95% CI, series resampled with replacement (paired)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diff = diff[np.isfinite(diff)]
    rng = np.random.default_rng(seed)
    draws = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return {"delta": float(diff.mean()), "lo": float(lo), "hi": float(hi)}


def run_variant(variant: Variant, dataset, retriever, backend, tokenizer, series: int) -> Outcome:
    from agent.forecast.chain import ForecastChain
    from agent.forecast.context import ContextBuilder
    from agent.forecast.prompting import render
    from eval.harness import EvalConfig, Harness
    from numeric.metrics import series_mase

    chain = ForecastChain(ContextBuilder(dataset, retriever, variant.context), backend, None,
                          replace(variant.chain, max_workers=8, timeout_s=1800))
    config = EvalConfig(task="existing", models=list(variant.models), horizon=4, n_windows=3, max_series=series,
                        seed=0, launch_after="2017-10-02")
    cpu_seconds = {}
    with tempfile.TemporaryDirectory() as out:
        harness = Harness(dataset, out, chain=chain, progress=False)
        for model in variant.models:  # one model at a time, so each one's CPU time is its own
            started = time.process_time()
            harness.run(replace(config, models=[model]))
            cpu_seconds[model] = time.process_time() - started
        result = harness.run(config).tasks["existing"]  # both models, from the harness's cache
        outcome = Outcome(frame=result.frame, mase=series_mase(result.frame, list(variant.models), result.train,
                                                                 dataset.season_length))
        for model in variant.models:
            run = result.runs[model]
            outcome.rate[model] = run.meta["forecasts_per_s"]
            outcome.cpu_per_forecast[model] = cpu_seconds[model] / len(result.task.items)
            outcome.invalid[model] = 1 - run.diag["samples_valid"].sum() / max(run.diag["samples_total"].sum(), 1)
            kind = "few_shot" if model == "llm-few-shot" else "zero_shot"
            lengths = []
            for item in result.task.items.itertuples():
                context = harness.context(result.task, item.unique_id, item.start, model.removeprefix("llm-"))
                if kind == "zero_shot" or context.analogs:
                    lengths.append(len(tokenizer(render(context, kind, variant.chain.serializer).text)["input_ids"]))
            outcome.prompt_tokens[model] = float(np.mean(lengths))
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20, help="series of the chain run (x 3 windows)")
    parser.add_argument("--variants", help="comma-separated variant names (default: all)")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from agent.config import ensure_offline
    from agent.data import load_dataset
    from agent.llm.select import embedded_backend
    from agent.models.smollm2 import prepare_smollm2
    from eval.harness import Harness
    from eval.harness.metrics import paired_bootstrap, series_errors, window_scores

    ensure_offline()
    wanted = VARIANTS if not args.variants else [v for v in VARIANTS if v.name in args.variants.split(",")]
    if not wanted or wanted[0].name != "default":
        wanted = [VARIANTS[0], *[v for v in wanted if v.name != "default"]]
    dataset = load_dataset()
    backend = embedded_backend()
    tokenizer = AutoTokenizer.from_pretrained(prepare_smollm2())
    with tempfile.TemporaryDirectory() as out:
        retriever = Harness(dataset, out, progress=False).retriever
    # One unprinted pass of the default on 3 series first: the first run pays one-time costs (kernels, the text
    # encoder, buffers), not the default's own cost (measured without it: the default's zero-shot at 0.63
    # forecasts/s, the next variant's at 1.76).
    run_variant(VARIANTS[0], dataset, retriever, backend, tokenizer, 3)
    print(f"# bench_tokens  {time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; embedded {backend.model_id}, {str(backend.dtype).removeprefix('torch.')}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{args.series} series x 3 windows (eval/results/completejourney-chain's items), h=4; "
          "each variant's CIs are paired over series against the default run in this same script\n")
    print("| variant | model | prompt tokens | forecasts/s | CPU s per forecast | CPU time vs default | WAPE | MASE "
          "| 80% coverage | invalid | WAPE - default (95% CI) | MASE - default (95% CI) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    default: Outcome | None = None
    for variant in wanted:
        outcome = run_variant(variant, dataset, retriever, backend, tokenizer, args.series)
        default = default or outcome
        for model in variant.models:
            both = default.frame[["unique_id", "ds", "cutoff", "y", model]].rename(columns={model: "default"}).merge(
                outcome.frame[["unique_id", "ds", "cutoff", model, f"{model}-lo-80", f"{model}-hi-80"]],
                on=["unique_id", "ds", "cutoff"], validate="1:1")
            if len(both) != len(default.frame):
                raise SystemExit(f"{variant.name}: the items differ from the default run's")
            scores = window_scores(outcome.frame, [model], None, dataset.season_length)
            overall = scores[(scores["window"] == "all")].set_index("metric")["value"]
            errors, abs_y = series_errors(both, [model, "default"])
            wape_ci = paired_bootstrap(errors[model].to_numpy(), errors["default"].to_numpy(), abs_y.to_numpy())
            mase_variant = outcome.mase.groupby("unique_id")[model].mean()
            mase_default = default.mase.groupby("unique_id")[model].mean().reindex(mase_variant.index)
            mase_ci = bootstrap_mean_difference(mase_variant.to_numpy(), mase_default.to_numpy())
            cost = outcome.cpu_per_forecast[model] / default.cpu_per_forecast[model]
            same = variant is wanted[0]
            print(f"| {variant.name} | {model} | {outcome.prompt_tokens[model]:.0f} | {outcome.rate[model]:.2f} | "
                  f"{outcome.cpu_per_forecast[model]:.2f} | {cost:.2f}x | {overall['wape']:.3f} | {outcome.mase[model].mean():.3f} | {overall['coverage']:.2f} | "
                  f"{outcome.invalid[model]:.1%} | "
                  + ("" if same else f"{wape_ci['delta']:+.3f} ({wape_ci['lo']:+.3f}..{wape_ci['hi']:+.3f})") + " | "
                  + ("" if same else f"{mase_ci['delta']:+.3f} ({mase_ci['lo']:+.3f}..{mase_ci['hi']:+.3f})")
                  + f" | {os.getloadavg()[0]:.1f} |", flush=True)
    print(f"\n# done, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
