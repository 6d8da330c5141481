"""Benchmark the default `shelfcast finetune regression` run: cost, and accuracy per forecast step.

Prints: wall time per epoch and in total, batched inference throughput
(forecasts/s), peak RAM; then, on the artifact's own test windows (origins
every 4 weeks from the test start, targets to the data end; none of it seen in
training, validation or calibration):

- MASE / WAPE per step bucket (1-4, 5-8, 9-13, 14+) of the model's median next
  to the 4-period window average and the global gbm (eval/harness/baselines.py,
  trained per origin on the same products' data before it), on the same values;
- coverage of the calibrated 80% interval per bucket, and of the raw quantiles;
- recursive extension vs repeating the last direct step, on steps 14+;
- steps 1-4 against h=4 artifacts trained by the previous recipe (`--h4`):
  each is scored only on origins after its own validation region, so none saw them;
- launches (windows without history): the model against the training launch level;
- a second dataset (`--second-sales/--second-catalog` with `--second-artifact`,
  trained on it): the default artifact transferred vs the one trained there,
  side by side with the same baselines on the second artifact's test windows.

Training takes long on a shared 2-core machine; `--artifact DIR` scores an
artifact trained earlier by the same default command instead of training one.

    .venv/bin/python eval/bench_finetune.py --h4 H4_DIR ... | tee eval/results/bench_finetune.txt
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

TARGET_TRAIN_MINUTES = 15.0
TARGET_FORECASTS_PER_S = 20.0
INFERENCE_WINDOWS = 2048
COVERAGE_BAND = (0.75, 0.85)


def main() -> None:
    os.environ.setdefault("COLUMNS", "120")  # rich wraps the training log at 80 columns when not on a terminal
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, help="Score this artifact instead of training the default one.")
    parser.add_argument("--h4", type=Path, nargs="*", default=[], help="h=4 artifacts of the previous recipe.")
    parser.add_argument("--second-sales", type=Path)
    parser.add_argument("--second-catalog", type=Path)
    parser.add_argument("--second-artifact", type=Path, help="Artifact trained on the second dataset.")
    args = parser.parse_args()
    import torch

    from agent.cli.finetune import regression_command
    from agent.config import get_settings
    from agent.data import load_builtin, load_files
    from finetune.regression.artifact import list_artifacts, read_config

    print(f"# bench_finetune  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, {platform.python_version()}, torch {torch.__version__}, "
          f"torch threads {get_settings().torch_threads}, load average at start {os.getloadavg()[0]:.1f}")
    total = None
    if args.artifact is None:
        root = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
        started = time.perf_counter()
        regression_command(out=root)  # the default run, exactly as `shelfcast finetune regression`
        total = time.perf_counter() - started
        path = list_artifacts(root)[0][0]
    else:
        path = args.artifact
    config = read_config(path)
    _training(path, config, total)
    dataset = load_builtin()
    checks = _throughput(path, config, dataset)
    checks += _accuracy(path, dataset, [read_config(p) for p in args.h4], args.h4)
    if args.second_artifact:
        second = load_files(args.second_sales, args.second_catalog)
        checks += _transfer(path, args.second_artifact, second)
    print("\ntargets:")
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    print(f"\n(artifact {path}; the model card is its README.md)")
    sys.exit(0 if all(ok for _, ok in checks) else 1)


def _training(path: Path, config, total: float | None) -> None:
    print(f"\nartifact {config.artifact_id}: {config.data['products']} products, {config.data['train_windows']} train / "
          f"{config.data['val_windows']} validation / {config.data['test_windows']} test windows; direct horizon "
          f"{config.spec.horizon}; train targets < {config.data['val_start']} <= validation < {config.data['test_start']}"
          f" <= test < {config.data['as_of']}")
    print("per epoch (epoch 0 = before training; seconds include the validation pass):")
    print("  epoch  train loss  val loss  val MASE (naive)  val WAPE (naive)  seconds")
    with open(path / "curves.csv") as handle:
        for row in csv.DictReader(handle):
            train = f"{float(row['train_loss']):.4f}" if row["train_loss"] else "-"
            print(f"  {row['epoch']:>5}  {train:>10}  {float(row['val_loss']):8.4f}  "
                  f"{float(row['val_mase']):.3f} ({float(row['baseline_mase']):.3f})     "
                  f"{float(row['val_wape']):.3f} ({float(row['baseline_wape']):.3f})     {float(row['seconds']):7.1f}")
    whole = f"; whole command incl. data load and windows {total / 60:.1f} min" if total else " (trained earlier)"
    print(f"training {config.train_seconds / 60:.1f} min (best epoch {config.best_epoch}){whole}")
    _print_calibration(config)


def _print_calibration(config) -> None:
    calibration = config.spec.calibration
    print(f"calibration of {config.artifact_id}: " + (
        f"steps 1-{config.spec.horizon} lower {-calibration.lower:+.3f} / upper {calibration.upper:+.3f} (scaled units) "
        f"from {calibration.values:,} validation values" if calibration else "none"))
    extended = calibration.extended if calibration else None
    if extended:
        print(f"  steps past {config.spec.horizon}: lower {-extended.lower:+.3f} / upper {extended.upper:+.3f} from "
              f"{extended.values:,} values of {config.data.get('extension_windows', '?')} validation windows run "
              f"recursively (origins from {config.spec.horizon} periods before the validation start)")


def _throughput(path: Path, config, dataset) -> list[tuple[str, bool]]:
    from agent.training.windows import WindowSpec, build_windows, examples
    from finetune.regression.artifact import load_forecaster

    forecaster = load_forecaster(path)
    split = build_windows(dataset, WindowSpec.model_validate(config.data["window_spec"]))
    pool = examples(split.val + split.test)
    chosen = [pool[i % len(pool)] for i in range(INFERENCE_WINDOWS)]
    histories = [e.history for e in chosen]
    # Windows of the same product share a text and one encoder pass; a catalogue-wide batch has none to share.
    distinct = dataset.catalog["text"].drop_duplicates().sample(INFERENCE_WINDOWS, random_state=0).tolist()
    forecaster.predict(distinct[:64], histories[:64], config.spec.horizon)  # warm-up
    rates = {}
    for name, texts, horizon in (("validation/test windows, h=13", [e.text for e in chosen], 13),
                                 ("all texts distinct, h=13", distinct, 13),
                                 ("all texts distinct, h=52", distinct, 52)):
        tick = time.perf_counter()
        forecaster.predict(texts, histories, horizon)
        rates[name] = INFERENCE_WINDOWS / (time.perf_counter() - tick)
    tick = time.perf_counter()
    for i in range(20):
        forecaster.predict(distinct[i:i + 1], histories[i:i + 1], 13)
    single_ms = (time.perf_counter() - tick) / 20 * 1000
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ninference ({INFERENCE_WINDOWS} forecasts, batch {forecaster.batch_size}): "
          + ", ".join(f"{value:.0f} forecasts/s ({name})" for name, value in rates.items())
          + f"; {single_ms:.0f} ms for a single h=13 forecast")
    print(f"peak RAM (max RSS of this process): {peak_mib:,.0f} MiB")
    checks = [(f">= {TARGET_FORECASTS_PER_S:.0f} forecasts/s at h=13", min(list(rates.values())[:2]) >= TARGET_FORECASTS_PER_S)]
    if config.train_seconds:
        checks.append(("training < 15 min", config.train_seconds / 60 < TARGET_TRAIN_MINUTES))
    return checks


class Scored:
    """Forecasts of several models on the same windows, scored per step bucket."""

    def __init__(self, windows, season_length: int, steps: int | None = None):
        from finetune.regression.metrics import padded_targets

        self.windows = windows
        self.season_length = season_length
        self.steps = steps or max(w.example.target.size for w in windows)
        self.targets = padded_targets([w.example.target for w in windows], self.steps)
        self.histories = [w.example.history for w in windows]
        self.rows: dict[str, dict] = {}

    def add(self, name: str, quantiles: np.ndarray, interval: bool = True) -> dict:
        """quantiles (windows, 3, steps) in units; returns {bucket: Accuracy}."""
        from finetune.regression.metrics import STEP_BUCKETS, accuracy, bucket_name

        out = {}
        for first, last in STEP_BUCKETS:
            if first > self.steps:
                continue
            cols = slice(first - 1, min(last, self.steps))
            q = quantiles[:, :, cols]
            out[bucket_name(first, last)] = accuracy(q[:, 1], self.targets[:, cols], self.histories, self.season_length,
                                                     (q[:, 0], q[:, 2]) if interval else None)
        out["all"] = accuracy(quantiles[:, 1], self.targets, self.histories, self.season_length,
                              (quantiles[:, 0], quantiles[:, 2]) if interval else None)
        self.rows[name] = out
        return out

    def table(self, title: str) -> None:
        buckets = list(next(iter(self.rows.values())))
        print(f"\n{title}")
        print(f"  {'model':<40}" + "".join(f"{b:>22}" for b in buckets))
        print(f"  {'':<40}" + "".join(f"{'MASE  WAPE  cov80':>22}" for _ in buckets))
        for name, scores in self.rows.items():
            cells = "".join(f"{_f(s.mase):>8}{_f(s.wape):>7}{_f(s.coverage):>7}" for s in scores.values())
            print(f"  {name:<40}{cells}")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _model_quantiles(forecaster, windows, steps: int, calibrated: bool = True) -> np.ndarray:
    return forecaster.predict([w.example.text for w in windows], [w.example.history for w in windows], steps,
                              calibrated=calibrated)


def _window_average(windows, steps: int) -> np.ndarray:
    """The 4-period window average as a point forecast (no interval)."""
    from numeric.baseline import WINDOW_AVERAGE

    level = np.array([w.example.history[-WINDOW_AVERAGE:].mean() for w in windows])
    return np.repeat(level[:, None, None], 3, axis=1) * np.ones((1, 1, steps))


def _gbm(dataset, split, windows, steps: int) -> np.ndarray:
    """eval.harness's global gbm, trained per origin on the split's products before it, on the same windows."""
    import pandas as pd

    from agent.data import Dataset
    from eval.harness.baselines import gbm_forecast
    from eval.harness.tasks import Panel

    sales = dataset.sales[dataset.sales["unique_id"].isin(split.products) & (dataset.sales["ds"] < split.as_of)]
    panel = Panel(Dataset(name=dataset.name, sales=sales, catalog=dataset.catalog, freq=dataset.freq))
    out = np.full((len(windows), 3, steps), np.nan)
    by_cutoff: dict[pd.Timestamp, list[int]] = {}
    for i, w in enumerate(windows):
        by_cutoff.setdefault(w.cutoff, []).append(i)
    for cutoff, rows in sorted(by_cutoff.items()):
        visible = panel.visible(panel.position(cutoff))
        ids = [windows[i].unique_id for i in rows]
        frame = gbm_forecast(visible, ids, steps)
        for column, q in (("gbm-lo-80", 0), ("gbm", 1), ("gbm-hi-80", 2)):
            values = frame.pivot(index="unique_id", columns="ds", values=column).loc[ids].to_numpy()
            out[rows, q] = values[:, :steps]
    return np.sort(out, axis=1)


def _accuracy(path: Path, dataset, h4_configs, h4_paths) -> list[tuple[str, bool]]:
    from datetime import date

    from agent.training.windows import WindowSpec, build_windows
    from finetune.regression.artifact import load_forecaster, read_config

    forecaster = load_forecaster(path)
    config = read_config(path)
    split = build_windows(dataset, WindowSpec.model_validate(config.data["window_spec"]))
    existing = [w for w in split.test if w.example.history.size > 0]
    launches = [w for w in split.test + split.val if w.example.history.size == 0]
    scored = Scored(existing, split.season_length)
    steps = scored.steps
    tick = time.perf_counter()
    model = _model_quantiles(forecaster, existing, steps)
    raw = _model_quantiles(forecaster, existing, steps, calibrated=False)
    scored.add(f"regression {config.artifact_id[-12:]}", model)
    scored.add("  same, raw quantiles", raw)
    scored.add("window average (4)", _window_average(existing, steps), interval=False)
    gbm_started = time.perf_counter()
    scored.add("gbm (eval/harness)", _gbm(dataset, split, existing, steps))
    print(f"\n(model forecasts {gbm_started - tick:.0f} s; gbm {time.perf_counter() - gbm_started:.0f} s for "
          f"{len({w.cutoff for w in existing})} origins)")
    # Extension beyond the direct head: recursive (what predict does) vs repeating the last direct step.
    h = forecaster.horizon
    if steps > h:
        flat = model.copy()
        flat[:, :, h:] = model[:, :, h - 1:h]
        scored.add(f"  repeat step {h} instead of recursion", flat)
    scored.table(f"test windows of the built-in data ({len(existing)} windows of existing products, origins "
                 f"{', '.join(sorted({str(w.cutoff.date()) for w in existing}))}; targets to {split.as_of.date()})")
    ours = scored.rows[f"regression {config.artifact_id[-12:]}"]
    checks = [(f"80% coverage in {COVERAGE_BAND} at step bucket {b}",
               COVERAGE_BAND[0] <= s.coverage <= COVERAGE_BAND[1]) for b, s in ours.items() if b != "all"]
    checks += [(f"beats window average and gbm on MASE at steps {b}",
                s.mase < scored.rows["window average (4)"][b].mase and s.mase < scored.rows["gbm (eval/harness)"][b].mase)
               for b, s in ours.items() if b != "all"]

    for h4_config, h4_path in zip(h4_configs, h4_paths):
        # Only origins after the h=4 artifact's validation region: it never saw their targets.
        safe_from = date.fromisoformat(h4_config.data["test_start"])
        same = [w for w in existing if w.cutoff.date() >= safe_from]
        if not same:
            print(f"\n{h4_config.artifact_id}: no origin of these test windows is after its validation region")
            continue
        compare = Scored(same, split.season_length, steps=4)
        compare.add(f"h=13 {config.artifact_id[-12:]}", _model_quantiles(forecaster, same, 4))
        compare.add(f"h=4 {h4_config.artifact_id[-12:]} (previous recipe)",
                    load_forecaster(h4_path).predict([w.example.text for w in same],
                                                               [w.example.history for w in same], 4))
        compare.add("window average (4)", _window_average(same, 4), interval=False)
        compare.table(f"steps 1-4 vs the h=4 artifact {h4_config.artifact_id} (trained on targets < "
                      f"{h4_config.data['val_start']}, validated to {h4_config.data['test_start']}), on the "
                      f"{len(same)} windows from origins >= {safe_from}")
        new, old = (compare.rows[name]["1-4"] for name in list(compare.rows)[:2])
        checks.append((f"steps 1-4 not worse than {h4_config.artifact_id} on MASE and WAPE",
                       new.mase <= old.mase and new.wape <= old.wape))

    if launches:
        launch_scores = Scored(launches, split.season_length)
        launch_scores.add("regression", _model_quantiles(forecaster, launches, launch_scores.steps))
        level = forecaster.model.spec.scaling.launch_scale
        launch_scores.add(f"training launch level ({level:.2f}/period)",
                          np.full((len(launches), 3, launch_scores.steps), level), interval=False)
        launch_scores.table(f"launch windows (no history; validation and test regions, {len(launches)} windows)")
        for name, scores in launch_scores.rows.items():
            print(f"  bias {name}: {_f(scores['all'].bias)}")
    return checks


def _transfer(default_path: Path, second_path: Path, second) -> list[tuple[str, bool]]:
    from agent.training.windows import WindowSpec, build_windows
    from finetune.regression.artifact import load_forecaster, read_config

    config = read_config(second_path)
    split = build_windows(second, WindowSpec.model_validate(config.data["window_spec"]))
    existing = [w for w in split.test if w.example.history.size > 0]
    scored = Scored(existing, split.season_length)
    steps = scored.steps
    trained = scored.add(f"trained on it {config.artifact_id[-12:]}",
                         _model_quantiles(load_forecaster(second_path), existing, steps))
    default = read_config(default_path)
    moved = scored.add(f"transferred {default.artifact_id[-12:]}",
                       _model_quantiles(load_forecaster(default_path), existing, steps))
    scored.add("window average (4)", _window_average(existing, steps), interval=False)
    scored.add("gbm (eval/harness)", _gbm(second, split, existing, steps))
    scored.table(f"second dataset {second.name} ({second.freq}, {len(split.products)} series; {len(existing)} test "
                 f"windows, origins from {split.test_start.date()}; targets to {split.as_of.date()}; MASE scale: "
                 f"seasonal naive (52) where the history exceeds a season)")
    _print_calibration(config)
    return [(f"second dataset: 80% coverage in {COVERAGE_BAND} (trained on it), {'all steps' if b == 'all' else f'step bucket {b}'}",
             COVERAGE_BAND[0] <= s.coverage <= COVERAGE_BAND[1]) for b, s in trained.items()] + [
            ("second dataset: trained-on-it beats the transferred artifact on WAPE",
             trained["all"].wape < moved["all"].wape)]


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
