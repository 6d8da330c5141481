"""Build the routing table shipped for the built-in data from a committed chain evaluation, and print its figures.

    python eval/routing_default.py [--results eval/results/completejourney-chain] [--write]

Reads the committed forecasts of the chain paths (`cache/<task>/<model>.parquet`:
floor, regression, llm-few-shot, llm-zero-shot), joins the true values from the
built-in data, and runs the same cross-fit and fit as `shelfcast eval`
(eval/harness/routing.py): held-out WAPE and MASE of each path, the combination
and the routed choice, and 80% coverage before and after conformal
calibration. `--write` stores the table fitted on all of it as
agent/forecast/routing_tables/completejourney.json, the default `auto` loads
when the data fingerprint is the built-in data's. Output:
eval/results/routing-completejourney.txt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from agent.data import load_dataset
from agent.forecast.routing import dataset_fingerprint
from eval.harness import metrics as mx
from eval.harness.routing import CHAIN_PATHS, cross_fit, item_segments, to_table
from eval.harness.tasks import EvalTask, Panel

TABLE = Path(__file__).resolve().parents[1] / "agent" / "forecast" / "routing_tables" / "completejourney.json"


def task_from_cache(folder: Path, kind: str, panel: Panel, horizon: int) -> tuple[EvalTask, pd.DataFrame, list[str]]:
    """The task the committed forecasts were made for (items = their (unique_id, cutoff) pairs) and their frame."""
    models = [m for m in CHAIN_PATHS[kind] if (folder / kind / f"{m}.parquet").exists()]
    frame = None
    for model in models:
        part = pd.read_parquet(folder / kind / f"{model}.parquet")
        frame = part if frame is None else frame.merge(part, on=["unique_id", "ds", "cutoff"], validate="1:1")
    frame = frame[frame["ds"] <= panel.periods[-1]].reset_index(drop=True)
    rows = panel.rows(frame["unique_id"])
    frame["y"] = panel.values[rows, panel.periods.get_indexer(frame["ds"])]
    items = frame.groupby(["unique_id", "cutoff"], as_index=False).size()[["unique_id", "cutoff"]]
    items["stop"] = panel.periods.get_indexer(items["cutoff"]) + 1
    items["start"] = panel.periods[items["stop"]]
    actuals = frame[["unique_id", "ds", "cutoff", "y"]]
    return EvalTask(kind, horizon, panel.freq, panel.season_length, items, actuals), frame, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("eval/results/completejourney-chain"))
    parser.add_argument("--write", action="store_true", help=f"write the shipped default table ({TABLE})")
    args = parser.parse_args()
    run = json.loads((args.results / "run.json").read_text())
    dataset = load_dataset(None, None, None)
    panel = Panel(dataset)
    horizon = int(run["config"]["horizon"])
    evidence, lines = [], [f"source: {args.results} ({run['command']}; started {run['started']})"]
    for kind in ("existing", "new"):
        task, frame, models = task_from_cache(args.results / "cache", kind, panel, horizon)
        ev = cross_fit(frame, item_segments(task, panel), kind, models)
        evidence.append(ev)
        scored = frame.merge(ev.rows, on=["unique_id", "ds", "cutoff"])
        everything = [*models, "combination", "routed"]
        wape = mx.losses.wape(scored.assign(unique_id="all", cutoff=pd.Timestamp(0)), everything).iloc[0]
        mase = {}
        if kind == "existing":
            ids = set(frame["unique_id"])
            sales = dataset.sales[dataset.sales["unique_id"].isin(ids)][["unique_id", "ds", "y"]]
            mase = mx.series_mase(scored, everything, sales, dataset.season_length)[everything].mean()
        coverage = ev.coverage.set_index("model")
        lines.append(f"\n{kind} products: {task.n_series} series, {len(task.items)} forecasts; held out by "
                     "series folds (5): each scored with a table fitted on the other folds")
        lines.append(f"{'model':<14}{'WAPE':>8}{'MASE':>8}{'cov80 before':>14}{'after':>8}")
        for model in everything:
            m = f"{mase[model]:8.3f}" if len(mase) else f"{'':>8}"
            lines.append(f"{model:<14}{wape[model]:8.3f}{m}{coverage.loc[model, 'before']:14.2f}"
                         f"{coverage.loc[model, 'after']:8.2f}")
        shares = ev.rows.groupby(["unique_id", "cutoff"])["routed_model"].first().value_counts(normalize=True)
        lines.append("routed to: " + ", ".join(f"{m} {s:.0%}" for m, s in shares.items()))
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
