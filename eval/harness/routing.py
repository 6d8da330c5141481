"""From backtests to evidence for `auto`: routing rules, combination weights and conformal calibration.

`agent/forecast/routing.py` defines segments, the table and how the chain
applies it; this module fits the table on a run's forecasts and measures it
honestly:

- **Fit** (per segment and each coarser segment with at least MIN_SERIES
  series; the coarsest, kind only, always): each candidate path's pooled WAPE;
  combination weights proportional to 1 / WAPE over the candidates; the choice
  is the single path or the combination with the lowest WAPE. Per candidate
  (and the combination) the split-conformal q of its 80% interval.
- **Held-out rows** (`combination`, `routed`) and calibrated coverage: series
  are split into FOLDS folds by a hash of their id; each fold is scored with a
  table fitted on the other folds, so no forecast is scored by weights, routes
  or a q that saw it. The table `shelfcast eval` writes is then fitted on all
  series (`fit_table`), with the held-out coverage stored beside each q.

Candidates are the chain's paths as the harness names them: floor (the chain
path `baseline`), regression, gbm (existing products; the harness's gbm row is
the chain's gbm path, agent/forecast/gbm.py), llm-few-shot (`llm-new-product`
on launches), llm-zero-shot, and the tuned LLM's rows llm-lora-few-shot
(`llm-lora-new-product` on launches) and llm-lora-zero-shot, which the chain
runs with the LoRA weights. On the built-in launches the tuned row is the
routed choice, held out: WAPE 0.512 vs kNN 0.709
(eval/results/routing-completejourney.txt). Baselines outside the chain (kNN,
ETS...) cannot be routed to: auto cannot run them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from agent.forecast.context import ContextSettings
from agent.forecast.routing import (
    Calibration,
    RoutingTable,
    Rule,
    Segment,
    calibrate_interval,
    combine_quantiles,
    conformal_q,
    conformity_scores,
    segment_of,
)
from numeric.quantiles import LEVEL
from eval.harness.tasks import EvalTask, Panel

CHAIN_PATHS = {"existing": {"floor": "baseline", "regression": "regression", "gbm-path": "gbm",
                            "llm-few-shot": "llm-few-shot", "llm-zero-shot": "llm-zero-shot",
                            "llm-lora-few-shot": "llm-lora-few-shot", "llm-lora-zero-shot": "llm-lora-zero-shot"},
               "new": {"floor": "baseline", "regression": "regression", "llm-few-shot": "llm-new-product",
                       "llm-lora-few-shot": "llm-lora-new-product"}}
DERIVED = ("combination", "routed")
MIN_SERIES = 5
FOLDS = 5
METRIC = "wape"


def candidates(kind: str, models: list[str]) -> list[str]:
    """The run's models that are chain paths for this task (in CHAIN_PATHS order)."""
    return [m for m in CHAIN_PATHS[kind] if m in models]


def item_segments(task: EvalTask, panel: Panel) -> pd.DataFrame:
    """unique_id, cutoff, segment: what the chain sees (the last max_history periods before the window)."""
    shown = ContextSettings().max_history
    rows = panel.rows(task.items["unique_id"])
    segments = []
    for row, stop in zip(rows, task.items["stop"], strict=True):
        history = panel.values[row, panel.first[row]:stop] if task.kind == "existing" else np.empty(0)
        segments.append(segment_of(history[-shown:], task.freq))
    return pd.DataFrame({"unique_id": task.items["unique_id"].to_numpy(), "cutoff": task.items["cutoff"].to_numpy(),
                         "segment": segments})


def _cols(model: str) -> tuple[str, str, str]:
    return f"{model}-lo-{LEVEL}", model, f"{model}-hi-{LEVEL}"


def _wape(frame: pd.DataFrame, model: str) -> float:
    denominator = frame["y"].abs().sum()
    return float((frame[model] - frame["y"]).abs().sum() / denominator) if denominator > 0 else np.nan


def _combined(frame: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """lo, point, hi per row of the weighted quantile average: the agent's combine_quantiles over the rows."""
    parts = {m: frame[list(_cols(m))].to_numpy(dtype=float).T for m in weights}
    return pd.DataFrame(combine_quantiles(parts, weights).T, index=frame.index, columns=["lo", "point", "hi"])


@dataclass
class SegmentFit:
    """One segment's backtest evidence, in harness model names."""

    weights: dict[str, float]  # the choice: one model, or the combination's weights
    score: float
    scores: dict[str, float]  # every candidate's WAPE, and the combination's
    n_series: int
    combination: dict[str, float] | None  # inverse-WAPE weights over the candidates (None with one candidate)


@dataclass
class Fitted:
    """Choices and conformal q per segment (and each coarser segment), in harness model names."""

    segments: dict[Segment, SegmentFit] = field(default_factory=dict)
    q: dict[tuple[Segment, str], tuple[float, int, float]] = field(default_factory=dict)  # q, n, in-sample coverage

    def choice(self, segment: Segment) -> SegmentFit | None:
        return next((self.segments[s] for s in segment.generalisations() if s in self.segments), None)

    def combination(self, segment: Segment) -> dict[str, float] | None:
        return next((self.segments[s].combination for s in segment.generalisations()
                     if s in self.segments and self.segments[s].combination), None)

    def calibration(self, segment: Segment, model: str) -> float | None:
        return next((self.q[(s, model)][0] for s in segment.generalisations() if (s, model) in self.q), None)


def fit(frame: pd.DataFrame, models: list[str], min_series: int = MIN_SERIES) -> Fitted:
    """Choices and calibration from rows with y, the candidates' columns and a `segment` column."""
    fitted = Fitted()
    levels = frame["segment"].map(Segment.generalisations)
    for depth in range(5):
        keys = levels.map(lambda g, d=depth: g[min(d, len(g) - 1)])
        coarsest = depth == 4  # kind only: always written, so every product has a rule
        for segment, group in frame.groupby(keys, sort=False):
            n_series = group["unique_id"].nunique()
            if segment in fitted.segments or (n_series < min_series and not coarsest):
                continue
            scores = {m: _wape(group, m) for m in models}
            scores = {m: v for m, v in scores.items() if np.isfinite(v)}
            if not scores:
                continue
            options = {m: {m: 1.0} for m in scores}
            combination = None
            if len(scores) > 1:
                inverse = {m: 1.0 / max(v, 1e-6) for m, v in scores.items()}
                combination = {m: w / sum(inverse.values()) for m, w in inverse.items()}
                scores["combination"] = _wape(group.assign(combination=_combined(group, combination)["point"]),
                                              "combination")
                options["combination"] = combination
            best = min(options, key=lambda m: scores[m])
            fitted.segments[segment] = SegmentFit(options[best], scores[best], scores, n_series, combination)
            y = group["y"].to_numpy()
            for model, weights in options.items():
                interval = _combined(group, weights)
                lo, hi = interval["lo"].to_numpy(), interval["hi"].to_numpy()
                q = conformal_q(conformity_scores(lo, hi, y))
                fitted.q[(segment, model)] = (q, len(group), float(((lo <= y) & (y <= hi)).mean()))
    return fitted


@dataclass
class Evidence:
    """One task's held-out derived rows and coverage before/after calibration, and the fit on all of it."""

    kind: str
    candidates: list[str]
    rows: pd.DataFrame  # unique_id, ds, cutoff, combination(-lo/-hi), routed(-lo/-hi), routed_model
    coverage: pd.DataFrame  # model, before, after (held out), n
    fitted: Fitted


def series_folds(unique_ids: pd.Series, folds: int = FOLDS) -> pd.Series:
    """Each row's fold: a hash of its series id, so a series' windows stay together and reruns agree."""
    return unique_ids.map(lambda u: int(hashlib.sha256(str(u).encode()).hexdigest(), 16) % folds)


def without(weights: dict[str, float], scores: dict[str, float], unavailable: tuple[str, ...]) -> dict[str, float]:
    """What the chain answers for a choice when the `unavailable` models cannot run: a combination over the rest
    (renormalised), or, when none is left, the path with the best backtest score in the segment."""
    kept = {m: w for m, w in weights.items() if m not in unavailable}
    if kept:
        return kept
    return {min((m for m in scores if m not in unavailable and m != "combination"), key=scores.__getitem__): 1.0}


def cross_fit(frame: pd.DataFrame, segments: pd.DataFrame, kind: str, models: list[str],
              folds: int = FOLDS, min_series: int = MIN_SERIES, unavailable: tuple[str, ...] = ()) -> Evidence:
    """Held-out combination and routed rows and calibrated intervals, by series folds (see the module doc).

    `unavailable`: models the tables may choose that cannot run where the rows are served (the tuned LLM on a
    machine without an adapter); the derived rows then score what the chain answers instead (`without`)."""
    data = frame.merge(segments, on=["unique_id", "cutoff"], how="left", validate="m:1")
    fold = series_folds(data["unique_id"], folds)
    equal = {m: 1.0 for m in models}
    derived = {name: np.full((len(data), 3), np.nan) for name in DERIVED}
    routed_model = np.full(len(data), "", dtype=object)
    calibrated = {m: np.full((len(data), 2), np.nan) for m in [*models, *DERIVED]}
    for k in range(folds):
        test_mask = (fold == k).to_numpy()
        if not test_mask.any() or test_mask.all():
            continue
        fitted = fit(data[~test_mask], models, min_series)
        test = data[test_mask]
        for segment, group in test.groupby("segment", sort=False):
            at = np.flatnonzero(test_mask)[test.index.get_indexer(group.index)]
            choice = fitted.choice(segment)
            weights = choice.weights if choice else equal
            choices = {"combination": fitted.combination(segment) or equal, "routed": weights}
            if unavailable:
                choices = {name: without(w, choice.scores if choice else {}, unavailable) for name, w in choices.items()}
                weights = choices["routed"]
            routed_model[at] = "+".join(weights) if len(weights) > 1 else next(iter(weights))
            for name, w in choices.items():
                derived[name][at] = _combined(group, w).to_numpy()
            for model in [*models, *DERIVED]:
                if model in models:
                    lo, point, hi = (group[c].to_numpy() for c in _cols(model))
                    key = model
                else:
                    lo, point, hi = derived[model][at].T
                    key = "combination" if model == "combination" or len(weights) > 1 else next(iter(weights))
                q = fitted.calibration(segment, key)
                calibrated[model][at] = np.column_stack(calibrate_interval(lo, point, hi, q) if q is not None else (lo, hi))
    rows = data[["unique_id", "ds", "cutoff"]].copy()
    for name, values in derived.items():
        rows[f"{name}-lo-{LEVEL}"], rows[name], rows[f"{name}-hi-{LEVEL}"] = values.T
    rows["routed_model"] = routed_model
    y = data["y"].to_numpy()
    coverage = []
    for model in [*models, *DERIVED]:
        source = rows if model in DERIVED else data
        lo, hi = source[_cols(model)[0]].to_numpy(), source[_cols(model)[2]].to_numpy()
        after = calibrated[model]
        coverage.append({"model": model, "before": float(((lo <= y) & (y <= hi)).mean()),
                         "after": float(((after[:, 0] <= y) & (y <= after[:, 1])).mean()), "n": len(y)})
    return Evidence(kind, list(models), rows, pd.DataFrame(coverage), fit(data, models, min_series))


def to_table(evidence: list[Evidence], dataset: str, fingerprint: str, source: str) -> RoutingTable:
    """The table `auto` reads: harness model names become chain paths; held-out coverage goes beside each q."""
    rules, calibration = [], []
    for ev in evidence:
        paths = CHAIN_PATHS[ev.kind] | {"combination": "combination"}
        held_out = ev.coverage.set_index("model")["after"]
        for segment, found in ev.fitted.segments.items():
            rules.append(Rule(segment=segment, weights={paths[m]: w for m, w in found.weights.items()}, metric=METRIC,
                              score=found.score, n_series=found.n_series,
                              scores={paths[m]: round(v, 5) for m, v in found.scores.items()}))
        for (segment, model), (q, n, covered) in ev.fitted.q.items():
            calibration.append(Calibration(segment=segment, path=paths[model], q=q, n=n, coverage_before=covered,
                                           coverage_after=float(held_out.get(model, np.nan))))
    return RoutingTable(dataset=dataset, fingerprint=fingerprint, source=source, metric=METRIC, rules=rules,
                        calibration=calibration)
