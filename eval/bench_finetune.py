"""Benchmark the default `shelfcast finetune regression` run on the built-in data.

Prints: wall time per epoch and in total, batched inference throughput
(forecasts/s), peak RAM, and validation/test MASE and WAPE of the median next to
the naive baseline (seasonal naive, or the window average of 4 when the history
is shorter than a season) on the same windows. The artifact goes to a temporary
folder so a benchmark never replaces a user's model.

    .venv/bin/python eval/bench_finetune.py | tee eval/results/bench_finetune.txt
"""

from __future__ import annotations

import csv
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


TARGET_TRAIN_MINUTES = 15.0
TARGET_FORECASTS_PER_S = 20.0
INFERENCE_WINDOWS = 2048


def main() -> None:
    os.environ.setdefault("COLUMNS", "120")  # rich wraps the training log at 80 columns when not on a terminal
    import torch

    from agent.cli.finetune import regression_command
    from agent.config import get_settings
    from agent.data import load_builtin
    from agent.training.windows import WindowSpec, build_windows, examples
    from finetune.regression.artifact import list_artifacts
    from finetune.regression.artifact import load_forecaster

    print(f"# bench_finetune  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, {platform.python_version()}, torch {torch.__version__}, "
          f"torch threads {get_settings().torch_threads}, load average at start {os.getloadavg()[0]:.1f}")
    root = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    started = time.perf_counter()
    regression_command(out=root)  # the default run, exactly as `shelfcast finetune regression`
    total = time.perf_counter() - started
    path, config = list_artifacts(root)[0]

    print(f"\nartifact {config.artifact_id}: {config.data['products']} products, {config.data['train_windows']} train / "
          f"{config.data['val_windows']} validation / {config.data['test_windows']} test windows")
    print("per epoch (epoch 0 = before training; seconds include the validation pass):")
    print("  epoch  train loss  val loss  val MASE (naive)  val WAPE (naive)  seconds")
    with open(path / "curves.csv") as handle:
        for row in csv.DictReader(handle):
            train = f"{float(row['train_loss']):.4f}" if row["train_loss"] else "-"
            print(f"  {row['epoch']:>5}  {train:>10}  {float(row['val_loss']):8.4f}  "
                  f"{float(row['val_mase']):.3f} ({float(row['baseline_mase']):.3f})     "
                  f"{float(row['val_wape']):.3f} ({float(row['baseline_wape']):.3f})     {float(row['seconds']):7.1f}")
    print(f"training {config.train_seconds / 60:.1f} min (best epoch {config.best_epoch}); "
          f"whole command incl. data load and windows {total / 60:.1f} min")

    forecaster = load_forecaster(path)
    dataset = load_builtin()
    split = build_windows(dataset, WindowSpec.model_validate(config.data["window_spec"]))
    pool = examples(split.val + split.test)
    chosen = [pool[i % len(pool)] for i in range(INFERENCE_WINDOWS)]
    histories = [e.history for e in chosen]
    # Windows of the same product share a text and one encoder pass; a catalogue-wide batch has none to share.
    distinct = dataset.catalog["text"].drop_duplicates().sample(INFERENCE_WINDOWS, random_state=0).tolist()
    forecaster.predict(distinct[:64], histories[:64], config.spec.horizon)  # warm-up
    rates = {}
    for name, texts in (("validation/test windows", [e.text for e in chosen]), ("all texts distinct", distinct)):
        tick = time.perf_counter()
        forecaster.predict(texts, histories, config.spec.horizon)
        rates[name] = INFERENCE_WINDOWS / (time.perf_counter() - tick)
    tick = time.perf_counter()
    for i in range(20):
        forecaster.predict(distinct[i:i + 1], histories[i:i + 1], config.spec.horizon)
    single_ms = (time.perf_counter() - tick) / 20 * 1000
    rate = min(rates.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ninference ({INFERENCE_WINDOWS} forecasts, batch {forecaster.batch_size}): "
          + ", ".join(f"{value:.0f} forecasts/s ({name})" for name, value in rates.items())
          + f"; {single_ms:.0f} ms for a single forecast")
    print(f"peak RAM (max RSS of this process): {peak_mib:,.0f} MiB")

    print("\naccuracy of the median (baseline on the same windows):")
    for name, ev in config.metrics.items():
        print(f"  {name:<10} n={ev.model.windows:<5} model {ev.model.line()}   naive {ev.baseline.line()}   "
              f"pinball {ev.loss:.4f}")

    val = config.metrics["validation"]
    checks = [
        ("training < 15 min", config.train_seconds / 60 < TARGET_TRAIN_MINUTES),
        ("whole command < 15 min", total / 60 < TARGET_TRAIN_MINUTES),
        (f">= {TARGET_FORECASTS_PER_S:.0f} forecasts/s", rate >= TARGET_FORECASTS_PER_S),
        ("beats naive on validation (MASE and WAPE)", val.beats_baseline()),
        ("beats naive on test (MASE and WAPE)", config.metrics["test"].beats_baseline()),
    ]
    print("\ntargets:")
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    print(f"\n(artifact left in {path}; the model card is its README.md)")
    sys.exit(0 if all(ok for _, ok in checks) else 1)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
