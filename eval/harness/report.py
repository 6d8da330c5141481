"""Leaderboards, findings in plain words, charts and a self-contained HTML report.

`write_report(result, out)` writes:

- leaderboard.csv  one row per (task, model), every metric and diagnostic
- leaderboard.md   the same as tables, plus the findings (who loses to whom, with numbers)
- scores.csv       every metric per (task, model, window), for anyone re-aggregating
- bars_<task>.png  metric bars by model; fans_<task>.png fan charts for sample products
- report.html      all of the above, images embedded as base64 (one file to send around)
- run.json         configuration, dataset, machine, timings
- routing.json     the routing table (rules, combination weights, conformal q) when chain paths ran;
                   `shelfcast eval` also installs it under $SHELFCAST_HOME/routing for `auto`
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from eval.harness.baselines import MODELS, REFERENCE  # noqa: E402
from numeric.quantiles import LEVEL  # noqa: E402
from eval.harness.metrics import (  # noqa: E402
    geometric_relative,
    paired_bootstrap,
    series_errors,
    win_rates,
    window_scores,
)
from eval.harness.runner import EvalResult, TaskResult  # noqa: E402

COLUMNS = ["task", "model", "kind", "series", "forecasts", "wape", "rel_wape", "mase", "rel_mase", "wql", "rel_wql",
           "smape", "bias", "coverage", "coverage_cal", "mae", "win", "tie", "loss", "d_wape_vs_best", "d_wape_lo", "d_wape_hi",
           "invalid_sample_rate", "fallback_rate", "paths", "wall_s", "forecasts_per_s", "cached"]
PRIMARY = "wape"


# ---------------------------------------------------------------------- analysis


class TaskAnalysis:
    """Scores and comparisons of one task's models."""

    def __init__(self, result: TaskResult, n_boot: int = 2000, seed: int = 0):
        self.result = result
        task = result.task
        self.kind = task.kind
        self.models = list(result.runs)
        self.scores = window_scores(result.frame, self.models, result.train, task.season_length)
        pooled = self.scores[self.scores["window"] == "all"].pivot(index="model", columns="metric", values="value")
        self.pooled = pooled.reindex(self.models)
        reference = REFERENCE[self.kind]
        self.reference = reference if reference in self.models else None
        baselines = [m for m in self.models if MODELS[m].kind == "baseline"]
        self.best = (self.pooled.loc[baselines, PRIMARY].astype(float).idxmin() if baselines else None)
        self.per_series, self.abs_y = series_errors(result.frame, self.models)
        self.wins = win_rates(self.per_series, self.best) if self.best else None
        self.boot = {}
        if self.best:
            for model in self.models:
                if model != self.best:
                    self.boot[model] = paired_bootstrap(self.per_series[model].to_numpy(),
                                                        self.per_series[self.best].to_numpy(), self.abs_y.to_numpy(),
                                                        n_boot=n_boot, seed=seed)
        self.table = self._table()

    def _relative(self, metric: str) -> pd.Series:
        if self.reference is None or metric not in self.scores["metric"].unique():
            return pd.Series(np.nan, index=self.models)
        if self.kind == "new":  # launches at many dates: one pooled ratio, no per-window geometric mean
            values = self.pooled[metric].astype(float)
            return values / values[self.reference]
        return geometric_relative(self.scores, metric, self.reference).reindex(self.models)

    def _table(self) -> pd.DataFrame:
        rows = []
        rel = {m: self._relative(m) for m in ("wape", "mase", "wql")}
        for model in self.models:
            run = self.result.runs[model]
            score = self.pooled.loc[model]
            row = {"task": self.kind, "model": model, "kind": MODELS[model].kind,
                   "series": self.result.task.n_series, "forecasts": run.meta["n_forecasts"]}
            for metric in ("wape", "mase", "wql", "smape", "bias", "coverage", "mae"):
                row[metric] = float(score.get(metric, np.nan))
            for metric, values in rel.items():
                row[f"rel_{metric}"] = float(values.get(model, np.nan))
            if self.wins is not None and model != self.best:
                row.update({k: float(self.wins.loc[model, k]) for k in ("win", "tie", "loss")})
            boot = self.boot.get(model)
            if boot:
                row.update({"d_wape_vs_best": boot["delta"], "d_wape_lo": boot["lo"], "d_wape_hi": boot["hi"]})
            evidence = self.result.evidence
            if evidence is not None and model in set(evidence.coverage["model"]):
                row["coverage_cal"] = float(evidence.coverage.set_index("model").loc[model, "after"])
            row.update(chain_stats(run.diag))
            # A row whose LLM answers were replayed from the response cache was not timed: its speed is
            # the replay's, so none is shown (the run that generated them, or bench_llm, has the figure).
            timed = not run.meta.get("llm_requests_replayed")
            row.update({"wall_s": run.meta.get("wall_s") if timed else None,
                        "forecasts_per_s": run.meta.get("forecasts_per_s") if timed else None,
                        "cached": bool(run.meta.get("cached"))})
            rows.append(row)
        table = pd.DataFrame(rows).reindex(columns=COLUMNS)
        return table.sort_values(PRIMARY, ignore_index=True)

    def findings(self) -> list[str]:
        """Plain sentences: which model loses to which baselines, with the numbers."""
        t, lines = self.table.set_index("model"), []
        if self.best is None:
            return ["No baseline ran on this task, so nothing is compared."]
        baselines = t[t["kind"] == "baseline"].sort_values(PRIMARY)
        ref = self.reference
        lines.append(f"Best baseline by WAPE: **{self.best}** (WAPE {t.loc[self.best, 'wape']:.3f}"
                     + (f", {t.loc[self.best, 'rel_wape']:.3f} x the reference {ref}" if ref else "") + ").")
        chain = [m for m in t.index if t.loc[m, "kind"] in ("chain", "derived")]
        if not chain:
            lines.append("No chain model (LLM few-shot/zero-shot, regression, auto) is in this run: the table compares "
                         "baselines only. Add them with `--models baselines,chain`.")
        for model in list(chain) + [m for m in baselines.index if m != self.best]:
            wape = t.loc[model, "wape"]
            better = baselines[(baselines[PRIMARY] < wape) & (baselines.index != model)]
            ci = ""
            if model in self.boot:
                b = self.boot[model]
                significant = b["lo"] > 0 or b["hi"] < 0
                ci = (f"; WAPE minus {self.best}'s: {b['delta']:+.3f} (95% paired bootstrap CI "
                      f"{b['lo']:+.3f} to {b['hi']:+.3f}{'' if significant else ', not significant'})")
            label = f"**{model}** ({MODELS[model].kind}, WAPE {wape:.3f}"
            if np.isfinite(t.loc[model, "mase"]):
                label += f", MASE {t.loc[model, 'mase']:.3f}"
            label += f", WQL {t.loc[model, 'wql']:.3f})"
            if better.empty:
                lines.append(f"{label} beats every baseline on WAPE{ci}.")
            else:
                losses = ", ".join(f"{b} ({better.loc[b, PRIMARY]:.3f})" for b in better.index)
                lines.append(f"{label} loses on WAPE to {len(better)} baseline(s): {losses}{ci}.")
            if MODELS[model].kind in ("chain", "derived") and np.isfinite(t.loc[model, "fallback_rate"]):
                lines.append(f"  {model}: answered by {t.loc[model, 'paths']}; fallback rate "
                             f"{t.loc[model, 'fallback_rate']:.1%}"
                             + (f", invalid LLM samples {t.loc[model, 'invalid_sample_rate']:.1%}"
                                if np.isfinite(t.loc[model, "invalid_sample_rate"]) else "") + ".")
        calibrated = t["coverage_cal"].dropna()
        if not calibrated.empty:
            lines.append("80% interval coverage after conformal calibration (held out by series folds), before -> "
                         "after: " + ", ".join(f"{m} {t.loc[m, 'coverage']:.1%} -> {v:.1%}" for m, v in calibrated.items())
                         + ".")
        cover = t["coverage"].dropna()
        off = cover[(cover - LEVEL / 100).abs() > 0.1]
        if not off.empty:
            lines.append("80% intervals off by more than 10 points: "
                         + ", ".join(f"{m} {v:.1%}" for m, v in off.sort_values().items()) + ".")
        return lines


def chain_stats(diag: pd.DataFrame) -> dict:
    """Invalid-sample rate, fallback rate and path shares from the per-forecast diagnostics (chain models)."""
    if diag.empty or "path" not in diag:
        return {"invalid_sample_rate": np.nan, "fallback_rate": np.nan, "paths": ""}
    total = diag["samples_total"].sum()
    shares = diag["path"].value_counts(normalize=True)
    return {"invalid_sample_rate": float(1 - diag["samples_valid"].sum() / total) if total else np.nan,
            "fallback_rate": float(diag["fallback"].mean()),
            "paths": ", ".join(f"{p} {s:.0%}" for p, s in shares.items())}


# ---------------------------------------------------------------------- charts

BASE_COLOR, CHAIN_COLOR, BEST_COLOR, REF_COLOR = "#8da0cb", "#fc8d62", "#4c72b0", "#66c2a5"


def bars_chart(analysis: TaskAnalysis, path: Path) -> Path:
    table = analysis.table
    metrics = [("wape", "WAPE (lower is better)"), ("rel_mase" if analysis.kind == "existing" else "mae",
                                                     "MASE relative to reference" if analysis.kind == "existing" else "MAE"),
               ("wql", "WQL (lower is better)"), ("coverage", "80% interval coverage (target 0.8)")]
    fig, axes = plt.subplots(1, 4, figsize=(15, 0.42 * len(table) + 1.6), dpi=100, sharey=True)
    labels = table["model"].tolist()
    colors = [BEST_COLOR if m == analysis.best else REF_COLOR if m == analysis.reference
              else CHAIN_COLOR if k == "chain" else BASE_COLOR for m, k in zip(table["model"], table["kind"])]
    for ax, (metric, title) in zip(axes, metrics, strict=True):
        values = table[metric].astype(float).to_numpy()
        ax.barh(labels, np.nan_to_num(values), color=colors)
        for y, v in enumerate(values):
            if np.isfinite(v):
                ax.text(v, y, f" {v:.3f}", va="center", fontsize=7)
        if metric == "coverage":
            ax.axvline(LEVEL / 100, color="#333333", lw=1, ls="--")
        if metric.startswith("rel_"):
            ax.axvline(1.0, color="#333333", lw=1, ls="--")
        ax.set_title(title, fontsize=9)
        ax.invert_yaxis() if ax is axes[0] else None
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{analysis.result.task.describe()}\n(dark: best baseline; green: reference; orange: chain)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def fan_chart_grid(analysis: TaskAnalysis, panel, path: Path, n: int = 6, seed: int = 0, tail: int = 26,
                   titles: dict[str, str] | None = None) -> Path:
    """History, actuals and up to three models' forecasts with 80% bands, for sample products of the last window."""
    result, task = analysis.result, analysis.result.task
    items = task.items[task.items["cutoff"] == task.items["cutoff"].max()] if task.kind == "existing" else task.items
    rng = np.random.default_rng(seed)
    picks = []
    for _, group in items.groupby("stratum", sort=True):
        picks.append(group.iloc[int(rng.integers(len(group)))])
    picks = sorted(picks, key=lambda r: -r["volume"])[:n]
    shown = [m for m in dict.fromkeys([analysis.reference, analysis.best] + _chain_pick(analysis)) if m]
    palette = ["#66c2a5", "#4c72b0", "#fc8d62", "#e78ac3"]
    cols = 3
    rows = max(1, int(np.ceil(len(picks) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(15, 3.3 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel()[len(picks):]:
        ax.axis("off")
    for ax, item in zip(axes.ravel(), picks):
        row = panel.ids.get_loc(item["unique_id"])
        stop = int(item["stop"])
        lo = max(int(panel.first[row]), stop - tail)
        if stop > lo:
            ax.plot(panel.periods[lo:stop], panel.values[row, lo:stop], color="#333333", lw=1.2, label="history")
        frame = result.frame[(result.frame["unique_id"] == item["unique_id"]) & (result.frame["cutoff"] == item["cutoff"])]
        ax.plot(frame["ds"], frame["y"], color="black", lw=1.6, marker="o", ms=3, label="actual")
        for color, model in zip(palette, shown):
            ax.fill_between(frame["ds"], frame[f"{model}-lo-{LEVEL}"], frame[f"{model}-hi-{LEVEL}"], color=color, alpha=0.18)
            ax.plot(frame["ds"], frame[model], color=color, lw=1.6, marker=".", label=model)
        title = (titles or {}).get(item["unique_id"], "")
        ax.set_title(f"{item['unique_id']} {title[:40]}", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(f"{task.kind} products: sample forecasts (80% bands; first forecast period = the window start)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _chain_pick(analysis: TaskAnalysis) -> list[str]:
    chain = analysis.table[analysis.table["kind"] == "chain"]["model"].tolist()
    if "auto" in chain:
        return ["auto"]
    if chain:
        return chain[:1]
    others = [m for m in analysis.table["model"] if m not in (analysis.best, analysis.reference)]
    return others[:1]


# ---------------------------------------------------------------------- files


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every OS
        pass
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # pragma: no cover
        pass
    return info


def write_report(result: EvalResult, out: Path | str, panel=None, command: str | None = None,
                 titles: dict[str, str] | None = None) -> dict[str, Path]:
    """Every output file of a run; `panel` (the Harness's) enables the fan charts, `titles` labels them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    analyses = {kind: TaskAnalysis(tr, result.config.n_boot, result.config.seed) for kind, tr in result.tasks.items()}
    files: dict[str, Path] = {}
    board = pd.concat([a.table for a in analyses.values()], ignore_index=True)
    board.to_csv(out / "leaderboard.csv", index=False, float_format="%.5g")
    files["leaderboard.csv"] = out / "leaderboard.csv"
    scores = pd.concat([a.scores.assign(task=k) for k, a in analyses.items()], ignore_index=True)
    scores[["task", "model", "window", "metric", "value"]].to_csv(out / "scores.csv", index=False, float_format="%.6g")
    files["scores.csv"] = out / "scores.csv"
    images: dict[str, Path] = {}
    for kind, analysis in analyses.items():
        images[f"bars_{kind}"] = bars_chart(analysis, out / f"bars_{kind}.png")
        if panel is not None:
            images[f"fans_{kind}"] = fan_chart_grid(analysis, panel, out / f"fans_{kind}.png", seed=result.config.seed,
                                                         titles=titles)
    files.update({p.name: p for p in images.values()})
    run = {"dataset": result.dataset, "started": result.started, "wall_s": round(result.wall_s, 1),
           "command": command or " ".join(sys.argv), "config": asdict(result.config), "backend": result.backend_note,
           "notes": result.notes,
           "machine": machine_info(),
           "tasks": {k: {"description": tr.task.describe(), "fingerprint": tr.task.fingerprint, **tr.task.settings,
                         "skipped_models": tr.skipped} for k, tr in result.tasks.items()}}
    (out / "run.json").write_text(json.dumps(run, indent=1, default=str))
    files["run.json"] = out / "run.json"
    if result.routing is not None:
        files["routing.json"] = result.routing.save(out / "routing.json")
    (out / "leaderboard.md").write_text(markdown(result, analyses, run))
    files["leaderboard.md"] = out / "leaderboard.md"
    (out / "report.html").write_text(html_report(result, analyses, run, images))
    files["report.html"] = out / "report.html"
    return files


DISPLAY = ["model", "kind", "wape", "rel_wape", "mase", "rel_mase", "wql", "rel_wql", "smape", "bias", "coverage",
           "coverage_cal", "mae", "win", "tie", "loss", "d_wape_vs_best", "d_wape_lo", "d_wape_hi", "fallback_rate",
           "invalid_sample_rate", "wall_s", "forecasts_per_s"]


def _display(table: pd.DataFrame) -> pd.DataFrame:
    shown = table[DISPLAY].copy()
    shown = shown.dropna(axis=1, how="all")
    for col in shown.columns:
        if col in ("model", "kind"):
            continue
        digits = 1 if col in ("wall_s", "forecasts_per_s") else 3
        shown[col] = shown[col].map(lambda v, d=digits: "" if pd.isna(v) else f"{v:.{d}f}")
    return shown


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


LEGEND = (
    "Columns: WAPE = sum|e| / sum|y| (pooled); rel_* = geometric mean over windows of the model's value divided by "
    "the reference's (existing: seasonal-naive; new: category-mean; for new products one pooled ratio); MASE = mean "
    "over series x windows of MAE / in-sample naive MAE; WQL = weighted quantile loss over the 0.1/0.5/0.9 quantiles "
    "(80% interval and point); sMAPE in [0, 1] (utilsforecast); bias = sum(yhat - y) / sum|y|; coverage = share of "
    "actuals inside the 80% interval; win/tie/loss = share of series whose total |error| is below/equal/above the "
    "best baseline's; d_wape_vs_best = WAPE minus the best baseline's, with a 95% paired bootstrap CI over series "
    "(d_wape_lo..d_wape_hi); fallback_rate = share of chain forecasts not answered by the mode's first path; "
    "invalid_sample_rate = share of LLM samples rejected; wall_s, forecasts_per_s = time for the model on this task "
    "(from the run that computed it, when cached); LLM requests another chain mode already sent with the same seed "
    "(auto starts with few-shot's exact request) are replayed from the run's response cache: such rows show no time."
)


def markdown(result: EvalResult, analyses: dict[str, TaskAnalysis], run: dict) -> str:
    lines = [f"# Shelfcast evaluation: {result.dataset}", "",
             f"Run {result.started}, {run['wall_s']} s wall, on {run['machine'].get('cpus')} CPUs "
             f"({run['machine'].get('platform')}). Backend: {result.backend_note}.", "",
             f"Command: `{run['command']}`", ""]
    if result.notes:
        lines += ["Notes:", ""] + [f"- {note}" for note in result.notes] + [""]
    for kind, analysis in analyses.items():
        tr = analysis.result
        lines += [f"## {kind} products", "", tr.task.describe() + ".", "", "### Findings", ""]
        lines += [f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}" for line in analysis.findings()]
        if tr.skipped:
            lines += ["", "Not run on this task: " + "; ".join(f"{m} ({why})" for m, why in tr.skipped.items()) + "."]
        lines += ["", "### Leaderboard (sorted by WAPE)", "", _md_table(_display(analysis.table)), ""]
    lines += ["## Legend", "", LEGEND, "", "## Models", ""]
    lines += [f"- `{name}`: {spec.description}" for name, spec in MODELS.items()
              if any(name in a.models for a in analyses.values())]
    return "\n".join(lines) + "\n"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _inline(text: str) -> str:
    """Escape, then render the two markdown marks the findings use (**bold**, `code`)."""
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def html_report(result: EvalResult, analyses: dict[str, TaskAnalysis], run: dict, images: dict[str, Path]) -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}"
             "td:first-child,th:first-child,td:nth-child(2){text-align:left}tr.chain{background:#fff2ea}"
             "tr.best{background:#e8eef8;font-weight:600}img{max-width:100%}code{background:#f4f4f4;padding:1px 3px}"
             ".small{color:#666;font-size:12px}")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Shelfcast evaluation: "
             f"{html.escape(result.dataset)}</title><style>{style}</style></head><body>",
             f"<h1>Shelfcast evaluation: {html.escape(result.dataset)}</h1>",
             f"<p class='small'>Run {html.escape(result.started)}, {run['wall_s']} s wall, "
             f"{run['machine'].get('cpus')} CPUs, {html.escape(str(run['machine'].get('platform')))}. "
             f"Backend: {html.escape(result.backend_note)}.<br>Command: <code>{html.escape(run['command'])}</code></p>"]
    if result.notes:
        parts.append("<ul>" + "".join(f"<li><b>note:</b> {html.escape(n)}</li>" for n in result.notes) + "</ul>")
    for kind, analysis in analyses.items():
        tr = analysis.result
        parts.append(f"<h2>{kind} products</h2><p>{html.escape(tr.task.describe())}.</p><h3>Findings</h3><ul>")
        parts += [f"<li>{_inline(line.strip())}</li>" for line in analysis.findings()]
        parts.append("</ul>")
        if tr.skipped:
            parts.append("<p class='small'>Not run on this task: "
                         + html.escape("; ".join(f"{m} ({why})" for m, why in tr.skipped.items())) + ".</p>")
        shown = _display(analysis.table)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
        rows = []
        for row in shown.itertuples(index=False):
            cls = "best" if row.model == analysis.best else "chain" if row.kind == "chain" else ""
            rows.append(f"<tr class='{cls}'>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
        parts.append(f"<h3>Leaderboard</h3><table><tr>{head}</tr>{''.join(rows)}</table>")
        for key in (f"bars_{kind}", f"fans_{kind}"):
            if key in images:
                parts.append(f"<p>{_img(images[key])}</p>")
    parts.append(f"<h2>Legend</h2><p class='small'>{html.escape(LEGEND)}</p><h2>Models</h2><ul>")
    parts += [f"<li><code>{html.escape(n)}</code>: {html.escape(s.description)}</li>" for n, s in MODELS.items()
              if any(n in a.models for a in analyses.values())]
    parts.append(f"</ul><h2>Run</h2><pre class='small'>{html.escape(json.dumps(run, indent=1, default=str))}</pre>"
                 "</body></html>")
    return "\n".join(parts)
