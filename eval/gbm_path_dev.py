"""Development comparison of the served gbm's training sample (issue 12), on samples other than the test run's.

    python eval/gbm_path_dev.py [--seeds 1 2] [--early-seeds 1] [--out eval/results/gbm_path_dev.txt]

The committed scale evaluation (eval/results/completejourney-scale, seed 0) is
the test run and is not read here. Dev items: the existing-products task of
200 series for each seed in --seeds (the test run's 3 windows, other series),
plus, for each of --early-seeds, 200 series on the 3 windows before them
(6 windows requested, the first 3 kept: other series and other weeks). The
served model depends only on the data and the origin, so each candidate is
fitted once per window and predicts every dev sample of that window; the `gbm`
bar is fitted per sample on its evaluated products, as the harness does
(eval/harness/baselines.py `gbm_forecast`). Scores are the harness's
(numeric.metrics.point_accuracy: pooled WAPE, mean MASE over series x window),
fit times are wall seconds on one thread (shared machine: compare within a run).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from agent.data import load_dataset
from agent.data.panel import Panel, VisiblePanel, stratified_sample
from agent.forecast import gbm
from eval.harness.tasks import existing_task
from numeric.metrics import point_accuracy

HORIZON = 4


def current_rows(visible: VisiblePanel, n: int) -> np.ndarray:
    """The sample served before issue 12: > GBM_MIN_OBS periods, a sale in half of the last 26 of them (or of all)."""
    observed = visible.stop - visible.first
    span = np.minimum(observed, 26)
    sold = (np.nan_to_num(visible.values[:, -26:]) > 0).sum(axis=1)
    eligible = np.flatnonzero((observed > gbm.GBM_MIN_OBS) & (sold > 0) & (2 * sold >= span))
    volume = pd.Series(np.nansum(visible.values[eligible], axis=1), index=visible.ids[eligible])
    return visible.rows(stratified_sample(volume, n, 0).index)


CANDIDATES = {  # name -> (rows(visible), GBM_MAX_ROWS); "task rule": gbm.training_rows, the rule now served
    "old rule 500 (served before)": (lambda v: current_rows(v, 500), 300_000),
    "old rule 2000": (lambda v: current_rows(v, 2000), 300_000),
    "task rule 500": (lambda v: gbm.training_rows(v, 500), 300_000),
    "task rule 1000": (lambda v: gbm.training_rows(v, 1000), 300_000),
    "task rule 2000 (served now)": (lambda v: gbm.training_rows(v, 2000), 300_000),
    "task rule 5000": (lambda v: gbm.training_rows(v, 5000), 300_000),
    "task rule 5000, no row cap": (lambda v: gbm.training_rows(v, 5000), 10**9),
}


def dev_tasks(dataset, panel: Panel, seeds: list[int], early_seeds: list[int]) -> list[tuple[str, pd.DataFrame]]:
    """(label, items) for every dev sample; items: unique_id, stop."""
    tasks = []
    for seed in seeds:
        task = existing_task(dataset, panel, HORIZON, 3, 200, seed)
        tasks.append((f"seed {seed}, test windows", task.items[["unique_id", "stop"]]))
    for seed in early_seeds:
        task = existing_task(dataset, panel, HORIZON, 6, 200, seed)
        first3 = sorted(task.items["stop"].unique())[:3]
        items = task.items[task.items["stop"].isin(first3)]
        tasks.append((f"seed {seed}, 3 earlier windows", items[["unique_id", "stop"]]))
    return tasks


def frame(panel: Panel, ids: list[str], stop: int, q: np.ndarray, name: str) -> pd.DataFrame:
    rows = panel.rows(ids)
    return pd.DataFrame({"unique_id": np.repeat(ids, HORIZON), "ds": np.tile(panel.periods[stop:stop + HORIZON], len(ids)),
                         "cutoff": panel.periods[stop - 1], "y": panel.values[rows, stop:stop + HORIZON].ravel(),
                         name: q[:, 1, :].ravel()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--early-seeds", type=int, nargs="*", default=[1])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    args = parser.parse_args()
    dataset = load_dataset()
    panel = Panel(dataset)
    test_ids = set(existing_task(dataset, panel, HORIZON, 3, 200, 0).items["unique_id"])
    tasks = dev_tasks(dataset, panel, args.seeds, args.early_seeds)
    for label, items in tasks:
        ids = set(items["unique_id"])
        print(f"{label}: {len(ids)} series, {len(ids & test_ids)} also in the seed-0 test sample")
    stops = sorted(set().union(*(set(items["stop"]) for _, items in tasks)))
    preds = {label: [] for label, _ in tasks}
    fits = {name: [] for name in ["gbm (bar)"] + args.candidates}
    for stop in stops:
        visible = panel.visible(stop)
        at = {label: items.loc[items["stop"] == stop, "unique_id"].tolist() for label, items in tasks}
        at = {label: ids for label, ids in at.items() if ids}
        for label, ids in at.items():
            rows = visible.rows(ids)
            model = gbm.fit_panel(visible, HORIZON, rows=rows)
            fits["gbm (bar)"].append((model.fit_s, model.series, model.rows))
            preds[label].append(frame(panel, ids, stop, model.predict(visible.values[rows], visible.first[rows],
                                                                       visible.start), "gbm (bar)"))
        young = visible.stop - visible.first[current_rows(visible, 500)] < 26
        print(f"  {panel.periods[stop].date()}: {young.mean():.0%} of the old-rule sample of 500 have < 26 periods "
              "(the task evaluates none)")
        for name in args.candidates:
            rows_of, cap = CANDIDATES[name]
            saved, gbm.GBM_MAX_ROWS = gbm.GBM_MAX_ROWS, cap
            try:
                model = gbm.fit_panel(visible, HORIZON, rows=rows_of(visible))
            finally:
                gbm.GBM_MAX_ROWS = saved
            fits[name].append((model.fit_s, model.series, model.rows))
            for label, ids in at.items():
                rows = visible.rows(ids)
                q = model.predict(visible.values[rows], visible.first[rows], visible.start)
                preds[label][-1] = preds[label][-1].merge(frame(panel, ids, stop, q, name),
                                                          on=["unique_id", "ds", "cutoff", "y"], validate="1:1")
        print(f"window {panel.periods[stop].date()} done", flush=True)
    sales = dataset.sales
    print("\nWAPE, MASE and relative bias of the median (harness metrics) per dev sample:")
    names = ["gbm (bar)"] + args.candidates
    table = []
    for label, _ in tasks:
        df = pd.concat(preds[label], ignore_index=True)
        ids = df["unique_id"].unique()
        train = sales.loc[sales["unique_id"].astype(str).isin(ids), ["unique_id", "ds", "y"]].copy()
        train["unique_id"] = train["unique_id"].astype(str)
        for name in names:
            mase, wape = point_accuracy(df, name, train, panel.season_length)
            bias = (df[name] - df["y"]).sum() / df["y"].abs().sum()
            table.append({"sample": label, "model": name, "wape": wape, "mase": mase, "bias": bias})
    scores = pd.DataFrame(table)
    for metric in ("wape", "mase", "bias"):
        wide = scores.pivot(index="model", columns="sample", values=metric).loc[names]
        print(f"\n{metric.upper()}\n" + wide.assign(mean=wide.mean(axis=1)).round(3).to_string())
    print("\nfit per window: mean wall s, series, training rows")
    for name in names:
        f = np.array(fits[name])
        print(f"  {name:30s} {f[:, 0].mean():6.1f} s  {f[:, 1].mean():6.0f} series  {f[:, 2].mean():8.0f} rows")


if __name__ == "__main__":
    main()
