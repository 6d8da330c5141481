"""Benchmark the LoRA forecaster: the default training run's figures, step cost per prompt kind, decoding cost.

Prints, for an adapter folder (default: the newest under $SHELFCAST_HOME/models/llm-lora,
normally the default run `shelfcast finetune llm --as-of 2017-10-02 --merge`):
its pairs and tokens, training time and throughput, the validation curve and the
answer-token losses of the base and tuned weights; then measures one training
step (batch 4) per prompt kind on freshly rendered pairs, and the embedded
backend's latency for one 20-sample zero-shot forecast with the base and the
tuned weights (the adapter is merged on load, so both should cost the same).
The machine's load average is printed: these 2 cores are shared.

    .venv/bin/python eval/bench_finetune_llm.py | tee eval/results/bench_finetune_llm.txt
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from datetime import datetime, timezone

STEP_REPEATS = 2
DECODE_REPEATS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="latest", help="adapter folder, id, or 'latest'")
    parser.add_argument("--steps-only", action="store_true",
                        help="only the training-step costs, float32 vs bfloat16 autocast (needs no adapter)")
    args = parser.parse_args()
    import torch

    from agent.config import ensure_offline, get_settings
    from agent.llm.select import lora_adapter_dir
    from finetune.llm.artifact import read_config

    ensure_offline()
    torch.set_num_threads(get_settings().torch_threads)
    if args.steps_only:
        print(f"# bench_finetune_llm --steps-only  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
              f"torch {torch.__version__}, {get_settings().torch_threads} thread(s), load {os.getloadavg()[0]:.1f}")
        step_costs()
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        return
    path = lora_adapter_dir(args.adapter)
    config = read_config(path)
    data = config.data
    print(f"# bench_finetune_llm  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
          f"torch threads {get_settings().torch_threads}, load average now {os.getloadavg()[0]:.1f}")
    print(f"\nadapter {config.adapter_id} (base {config.base_model}; LoRA r={config.training.rank} on "
          f"{config.training.targets}, {config.trainable_parameters:,} parameters)")
    print(f"data before {data['as_of']}: train targets < {data['val_start']}, validation < {data['test_start']}, "
          f"test < {data['as_of']}; fingerprint {data['fingerprint']}")
    for region in ("train", "val", "test"):
        print(f"  {region} pairs: {data[f'{region} pairs']}")
    print(f"training: {config.training.steps} steps x {config.training.batch_size} pairs, {data['train_tokens']:,} tokens "
          f"per pass over {sum(data['train pairs'].values())} pairs ({data['train_answer_tokens']:,} answer tokens), "
          f"{config.train_seconds / 60:.1f} min on {config.threads} thread(s) incl. validation passes")
    print("validation curve (answer-token cross-entropy, nats/token):")
    with open(path / "curves.csv") as handle:
        for row in csv.DictReader(handle):
            train = f"{float(row['train_loss']):.4f}" if row["train_loss"] else "   -  "
            print(f"  step {row['step']:>4}  train {train}  val {float(row['val_loss']):.4f}  "
                  f"at {float(row['elapsed_s']):6.0f} s")
    print(f"best step {config.best_step}; losses: " + ", ".join(f"{k} {v:.4f}" for k, v in config.losses.items()))

    step_costs()
    decode_costs(path)


def step_costs() -> None:
    """One training step of 4 pairs per prompt kind, float32 and bfloat16 autocast: seconds, tokens/s and the ratio."""
    import torch

    from agent.data import load_builtin
    from agent.training.llm_examples import build_pairs
    from agent.training.windows import WindowSpec, build_windows
    from agent.models.smollm2 import prepare_smollm2
    from agent.retrieval.index import ProductIndex
    from finetune.llm.data import TextPair, collate, encode_all
    from finetune.llm.train import LoraTrainConfig, add_lora, answer_loss, load_base

    data = load_builtin()
    tic = time.perf_counter()
    split = build_windows(data, WindowSpec.for_llm(max_products=20, train_per_product=2, val_per_product=1, as_of="2017-10-02"))
    pairs = build_pairs(data, split, ProductIndex.load_or_build(data.catalog, name=data.name, progress=False))
    built = time.perf_counter() - tic
    n = len(pairs.train) + len(pairs.val) + len(pairs.test)
    print(f"\npair building: {n} pairs from {len(split.train) + len(split.val) + len(split.test)} windows "
          f"of {len(split.products)} products in {built:.1f} s (incl. cutting windows and retrieval)")
    model, tokenizer = load_base(prepare_smollm2())
    linear_parameters = sum(module.weight.numel() for name, module in model.named_modules()
                            if isinstance(module, torch.nn.Linear) and "lm_head" not in name)
    model = add_lora(model, LoraTrainConfig())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    achieved: dict[str, dict[str, float]] = {}
    print("training step, batch 4 (forward + backward + AdamW), median of", STEP_REPEATS,
          "(the two precisions alternate, so load drifts the same way for both)")
    for kind in ("zero_shot", "few_shot", "new_product"):
        chosen = [TextPair(p.prompt, p.answer, p.kind) for p in pairs.train if p.kind == kind][:4]
        rows, _ = encode_all(tokenizer, chosen, tokenizer.eos_token_id, 4096)
        batch = collate(rows, tokenizer.eos_token_id)
        times: dict[str, list[float]] = {"float32": [], "bfloat16": []}
        losses: dict[str, float] = {}
        for _ in range(STEP_REPEATS):
            for precision in times:
                tic = time.perf_counter()
                loss = answer_loss(model, batch, precision=precision)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                times[precision].append(time.perf_counter() - tic)
                losses[precision] = loss.item()
        tokens = int(batch.attention_mask.sum())
        seconds = {precision: sorted(t)[len(t) // 2] for precision, t in times.items()}
        # the frozen linear layers' work: forward, and the backward's input gradients (no weight gradients)
        gflop = 2 * 2 * linear_parameters * batch.input_ids.numel() / 1e9
        rates = {precision: gflop / seconds[precision] for precision in seconds}
        achieved[kind] = rates
        print(f"  {kind:<12} {tokens / len(rows):5.0f} tokens/pair  float32 {seconds['float32']:6.1f} s/step  "
              f"bfloat16 {seconds['bfloat16']:6.1f} s/step  ratio {seconds['float32'] / seconds['bfloat16']:.1f}x  "
              f"(loss {losses['float32']:.3f} / {losses['bfloat16']:.3f}); linear layers {gflop:.0f} GFLOP: "
              f"{rates['float32']:.0f} / {rates['bfloat16']:.0f} GFLOP/s")
    peak = {precision: matmul_rate(getattr(torch, precision)) for precision in ("float32", "bfloat16")}
    print(f"matmul rate on this machine, the MLP's shape (2048x576 @ 576x1536), {torch.get_num_threads()} thread(s): "
          f"float32 {peak['float32']:.0f} GFLOP/s, bfloat16 {peak['bfloat16']:.0f} GFLOP/s; "
          f"a few-shot step's linear layers at the bfloat16 matmul rate would be "
          f"{peak['bfloat16'] / achieved['few_shot']['float32']:.1f}x the float32 step (the bound on the ratio)")


def matmul_rate(dtype, repeats: int = 20) -> float:
    """Best GFLOP/s of a (2048 x 576) @ (576 x 1536) matmul, the shape of SmolLM2's MLP on a batch of pairs."""
    import torch

    a, b = torch.randn(2048, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - tic)
    return 2 * 2048 * 576 * 1536 / best / 1e9


def decode_costs(path) -> None:
    """A 20-sample constrained zero-shot forecast with the base and the tuned weights in-process."""
    from agent.forecast.serialize import continuation_regex
    from agent.llm.base import GenerationRequest
    from agent.llm.embedded import EmbeddedBackend
    from agent.models.smollm2 import prepare_smollm2

    prompt = ("Sales forecasting. Each line is a product's sales per week, scaled so that 100 is a busy week.\n"
              "Product: Rolls: Bagels 4 OZ\nSales history: 40, 62, 55, 71, 48, 90, 66, 58, 100, 77, 61, 83, \n"
              "Next 4 weeks: ")
    request = GenerationRequest(prompt=prompt, n=20, max_tokens=24, regex=continuation_regex(4), seed=0, timeout_s=600)
    print("embedded decoding, one zero-shot forecast (n=20 samples, 4 values), median of", DECODE_REPEATS)
    for name, backend in (("base", EmbeddedBackend(prepare_smollm2())),
                          ("tuned", EmbeddedBackend(prepare_smollm2(), adapter_dir=path))):
        times, generation = [], None
        for _ in range(DECODE_REPEATS):
            tic = time.perf_counter()
            generation = backend.generate(request)
            times.append(time.perf_counter() - tic)
        print(f"  {name:<6} {sorted(times)[len(times) // 2]:5.1f} s   first samples: {generation.texts[:3]}  "
              f"({generation.model})")


if __name__ == "__main__":
    main()
