"""Build the routing table shipped for the built-in data from a committed chain evaluation, and print its figures.

    python eval/routing_default.py [--results eval/results/completejourney-scale] [--refresh gbm] [--write]

Reads the committed forecasts of the chain paths (`cache/<task>/<model>.parquet`:
floor, regression, gbm-path, llm-few-shot, llm-zero-shot, and the tuned LLM's
llm-lora-few-shot / llm-lora-zero-shot when the run has them), joins the true
values from the built-in data, and runs the same cross-fit and fit as `shelfcast eval`
(eval/harness/routing.py): held-out WAPE and MASE of each path, the combination
and the routed choice, and 80% coverage before and after conformal
calibration. The combination and the routed choice are then scored against the
baselines `auto` must beat (issue 12): on existing products `gbm` (fitted on
the evaluated products: the strongest baseline), on launches `knn` and
`category-mean`, with 95% paired bootstrap CIs over series; each also without
the gbm path (`gbm-path`, the global gbm as `auto` serves it) and without the
tuned LLM's rows, so what each candidate adds shows. `--refresh MODEL` first recomputes the cached rows of a
baseline, or of a chain row that needs no LLM (gbm-path), with the current code (on the task rebuilt from run.json, checked against the cache's
task fingerprint), e.g. after the gbm model changed. `--write` stores the table
fitted on all of it as agent/forecast/routing_tables/completejourney.json, the
default `auto` loads when the data fingerprint is the built-in data's. Output:
eval/results/routing-completejourney.txt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from agent.data import load_dataset
from agent.data.dataset import Dataset
from agent.forecast.routing import dataset_fingerprint
from eval.harness import metrics as mx
from eval.harness.baselines import MODELS
from eval.harness.routing import CHAIN_PATHS, FOLDS, Evidence, cross_fit, item_segments, series_folds, to_table
from eval.harness.runner import Harness
from eval.harness.tasks import EvalTask, Panel, existing_task

TABLE = Path(__file__).resolve().parents[1] / "agent" / "forecast" / "routing_tables" / "completejourney.json"
BARS = {"existing": ("gbm",), "new": ("knn", "category-mean")}  # the baselines auto must beat (issue 12)
GBM_PATH = "gbm-path"  # the chain's gbm path, as served
LORA = ("llm-lora-few-shot", "llm-lora-zero-shot")  # the tuned LLM's rows


def task_from_cache(folder: Path, kind: str, panel: Panel, horizon: int) -> tuple[EvalTask, pd.DataFrame, list[str]]:
    """The task the committed forecasts were made for (items = their (unique_id, cutoff) pairs) and their frame."""
    models = [m for m in CHAIN_PATHS[kind] if (folder / kind / f"{m}.parquet").exists()]
    frame = None
    for model in models:
        part = pd.read_parquet(folder / kind / f"{model}.parquet")
        frame = part if frame is None else frame.merge(part, on=["unique_id", "ds", "cutoff"], validate="1:1")
    for bar in BARS[kind]:
        if (folder / kind / f"{bar}.parquet").exists():
            frame = frame.merge(pd.read_parquet(folder / kind / f"{bar}.parquet"), on=["unique_id", "ds", "cutoff"],
                                validate="1:1")
    frame = frame[frame["ds"] <= panel.periods[-1]].reset_index(drop=True)
    rows = panel.rows(frame["unique_id"])
    frame["y"] = panel.values[rows, panel.periods.get_indexer(frame["ds"])]
    items = frame.groupby(["unique_id", "cutoff"], as_index=False).size()[["unique_id", "cutoff"]]
    items["stop"] = panel.periods.get_indexer(items["cutoff"]) + 1
    items["start"] = panel.periods[items["stop"]]
    actuals = frame[["unique_id", "ds", "cutoff", "y"]]
    return EvalTask(kind, horizon, panel.freq, panel.season_length, items, actuals), frame, models


def refresh(folder: Path, run: dict, dataset: Dataset, panel: Panel, models: list[str]) -> list[str]:
    """Recompute baseline models' cached existing-product rows with the current code, on the run's own task."""
    config = run["config"]
    task = existing_task(dataset, panel, int(config["horizon"]), int(config["n_windows"]), config["max_series"],
                         int(config["seed"]), config.get("min_history"))
    cached = json.loads((folder / "cache" / "existing" / "floor.json").read_text())["task_fingerprint"]
    if task.fingerprint != cached:
        raise SystemExit(f"rebuilt task {task.fingerprint} is not the cached run's {cached}: refusing to mix tasks")
    harness = Harness(dataset, folder, progress=False, force=True)
    lines = []
    for model in models:
        if MODELS[model].kind != "baseline" and MODELS[model].mode != "gbm":
            raise SystemExit(f"--refresh recomputes baselines and {GBM_PATH} only (other chain rows need the LLM "
                             f"run); {model} is neither")
        run_ = harness.run_model(task, model)
        lines.append(f"refreshed {model}: {run_.meta['n_forecasts']} forecasts in {run_.meta['wall_s']:.1f} s "
                     f"({run_.meta['model_key']})")
    return lines


def report(kind: str, task: EvalTask, frame: pd.DataFrame, ev: Evidence, dataset: Dataset) -> tuple[list[str], dict]:
    """Lines of the held-out table, and per-series errors (and MASE on existing products) for the comparisons."""
    data, everything = frame.merge(ev.rows, on=["unique_id", "ds", "cutoff"]), [*ev.candidates, "combination", "routed"]
    wape = mx.losses.wape(data.assign(unique_id="all", cutoff=pd.Timestamp(0)), everything).iloc[0]
    scored = everything + [b for b in BARS[kind] if b in data.columns]
    errors, abs_y = mx.series_errors(data, scored)
    per_series: dict = {"errors": errors, "abs_y": abs_y}
    mase = {}
    if kind == "existing":
        ids = set(frame["unique_id"])
        sales = dataset.sales[dataset.sales["unique_id"].isin(ids)][["unique_id", "ds", "y"]]
        rows = mx.series_mase(data, scored, sales, dataset.season_length)
        mase = rows[everything].mean()
        per_series["mase"] = rows.groupby("unique_id")[scored].mean()
    coverage = ev.coverage.set_index("model")
    lines = [f"\n{kind} products: {task.n_series} series, {len(task.items)} forecasts; held out by series folds (5): "
             "each scored with a table fitted on the other folds",
             f"{'model':<20}{'WAPE':>8}{'MASE':>8}{'cov80 before':>14}{'after':>8}"]
    for model in everything:
        m = f"{mase[model]:8.3f}" if len(mase) else f"{'':>8}"
        lines.append(f"{model:<20}{wape[model]:8.3f}{m}{coverage.loc[model, 'before']:14.3f}"
                     f"{coverage.loc[model, 'after']:8.3f}")
    lines.append("routed to: " + routed_shares(ev))
    return lines, per_series


def routed_shares(ev: Evidence) -> str:
    shares = ev.rows.groupby(["unique_id", "cutoff"])["routed_model"].first().value_counts(normalize=True)
    return ", ".join(f"{m} {s:.0%}" for m, s in shares.items())


def against_bars(kind: str, variants: dict[str, tuple[dict, Evidence]]) -> list[str]:
    """Routed and combination of each candidate set minus each bar: WAPE (and MASE) with paired CIs over series."""
    lines = []
    first = next(iter(variants.values()))[0]
    abs_y = first["abs_y"]
    for bar in (b for b in BARS[kind] if b in first["errors"].columns):
        bar_err = first["errors"][bar]
        lines += [f"\n{kind} products against {bar}, paired bootstrap over series (2000 draws, 95% CI); "
                  f"negative = better than {bar}",
                  f"{'row':<44}{'WAPE':>7}{'d WAPE [95% CI]':>26}" + (f"{'MASE':>7}{'d MASE [95% CI]':>26}"
                                                                       if kind == "existing" else "")]
        for label, (source, _) in variants.items():
            for model in ("combination", "routed"):
                err = source["errors"][model].reindex(bar_err.index)
                w = mx.paired_bootstrap(err.to_numpy(), bar_err.to_numpy(), abs_y.to_numpy())
                line = (f"{model + ' (' + label + ')':<44}{err.sum() / abs_y.sum():7.3f}"
                        f"{w['delta']:+9.3f} [{w['lo']:+.3f}, {w['hi']:+.3f}]")
                if kind == "existing":
                    bar_mase = first["mase"][bar]
                    m = mx.mean_difference_bootstrap(source["mase"][model].reindex(bar_mase.index).to_numpy(),
                                                     bar_mase.to_numpy())
                    line += f"{source['mase'][model].mean():7.3f}{m['delta']:+9.3f} [{m['lo']:+.3f}, {m['hi']:+.3f}]"
                lines.append(line)
        lines.append(f"{bar:<44}{bar_err.sum() / abs_y.sum():7.3f}" + (
            f"{'':>26}{first['mase'][bar].mean():7.3f}" if kind == "existing" else ""))
    for label, (_, ev) in list(variants.items())[1:]:
        lines.append(f"routed to ({label}): " + routed_shares(ev))
    return lines


def scaled_held_out(frame: pd.DataFrame, model: str) -> list[str]:
    """The tried bias correction: each fold's forecasts times the other folds' sum(y) / sum(forecast); held-out WAPE."""
    fold = series_folds(frame["unique_id"]).to_numpy()
    scaled, factors = frame[model].to_numpy(dtype=float).copy(), []
    for k in range(FOLDS):
        fitting = frame[fold != k]
        factors.append(fitting["y"].sum() / fitting[model].sum())
        scaled[fold == k] *= factors[-1]
    y = frame["y"].to_numpy()

    def wape(point):
        return abs(point - y).sum() / abs(y).sum()

    return [f"\nbias correction of {model} (not adopted): factors {min(factors):.2f}-{max(factors):.2f} from the "
            f"fitting folds; held-out WAPE {wape(frame[model].to_numpy()):.3f} -> {wape(scaled):.3f}; "
            f"y above the forecast in {(y > frame[model]).mean():.0%} of periods, below in {(y < frame[model]).mean():.0%}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("eval/results/completejourney-scale"))
    parser.add_argument("--refresh", action="append", default=[], metavar="MODEL",
                        help="recompute this baseline's cached rows with the current code first (repeatable)")
    parser.add_argument("--write", action="store_true", help=f"write the shipped default table ({TABLE})")
    args = parser.parse_args()
    run = json.loads((args.results / "run.json").read_text())
    dataset = load_dataset(None, None, None)
    panel = Panel(dataset)
    horizon = int(run["config"]["horizon"])
    lines = [f"source: {args.results} ({run['command']}; started {run['started']})"]
    lines += refresh(args.results, run, dataset, panel, args.refresh)
    evidence = []
    for kind in ("existing", "new"):
        task, frame, models = task_from_cache(args.results / "cache", kind, panel, horizon)
        segments = item_segments(task, panel)
        ev = cross_fit(frame, segments, kind, models)
        evidence.append(ev)
        table_lines, per_series = report(kind, task, frame, ev, dataset)
        lines += table_lines
        variants = {"all candidates": (per_series, ev)}
        for label, left_out in ((f"without {GBM_PATH}", (GBM_PATH,)), ("without the LoRA rows", LORA)):
            if any(m in models for m in left_out):
                other = cross_fit(frame, segments, kind, [m for m in models if m not in left_out])
                variants[label] = (report(kind, task, frame, other, dataset)[1], other)
        if any(m in models for m in LORA):  # the same tables served where no adapter exists
            fresh = cross_fit(frame, segments, kind, models, unavailable=LORA)
            variants["no adapter: tuned routes give way"] = (report(kind, task, frame, fresh, dataset)[1], fresh)
        lines += against_bars(kind, variants)
        if kind == "new" and LORA[0] in models:
            lines += scaled_held_out(frame, LORA[0])
    table = to_table(evidence, dataset.name, dataset_fingerprint(dataset.sales, dataset.freq),
                     f"{args.results} ({run['command']}; {run['started']})")
    lines.append(f"\ntable {table.table_id} for fingerprint {table.fingerprint}: "
                 f"{len(table.rules)} rules, {len(table.calibration)} calibrations")
    for rule in table.rules:
        lines.append("  " + rule.describe())
    text = "\n".join(lines)
    print(text)
    if args.write:
        table.save(TABLE)
        print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
