"""Trend report build time on the built-in data: PASTRY and all departments, without and with the embedded LLM.

`build_report` records its stages (statistics + category forecasts, charts,
narrative); HTML rendering is timed here. Runs without an LLM are repeated and
the median reported. Loading the data, index and model is excluded: the CLI
pays it once per command, the API server once per process.

    .venv/bin/python eval/bench_report.py | tee eval/results/bench_report.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from agent.config import ensure_offline
from agent.pipeline import Shelfcast
from agent.report import Report, ReportRequest, build_report
from agent.report.render import render_html

SCOPES = {"PASTRY": ReportRequest(department="PASTRY", horizon=8), "all departments": ReportRequest(horizon=8)}


def bench(app: Shelfcast, label: str, request: ReportRequest, repeats: int) -> None:
    reports: list[Report] = []
    html_seconds = []
    for _ in range(repeats):
        report = build_report(app, request)
        started = time.perf_counter()
        render_html(report)
        html_seconds.append(time.perf_counter() - started)
        reports.append(report)

    def median(stage: str) -> float:
        return statistics.median(r.timings[stage] for r in reports)

    last = reports[-1]
    backend = app.backend.name if app.backend else "none"
    print(f"{label:16s} backend={backend:9s} build_report {statistics.median(r.build_seconds for r in reports):6.1f}s "
          f"(stats+forecast {median('stats'):5.2f}s, charts {median('charts'):5.2f}s, narrative "
          f"{median('narrative'):6.2f}s); html {statistics.median(html_seconds):4.2f}s; "
          f"{last.stats.scope.products:,} products, {len(last.charts)} charts, narrative: {last.narrative.source}")
    if app.backend is not None:
        print(f"{'':16s} narrative reason: {last.narrative.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per scope without an LLM (median reported)")
    parser.add_argument("--no-llm-only", action="store_true", help="skip the embedded-LLM runs")
    args = parser.parse_args()
    ensure_offline()
    print(f"# bench_report: {platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
          f"SHELFCAST_TORCH_THREADS={os.environ.get('SHELFCAST_TORCH_THREADS', '1')}; load average at start "
          f"{os.getloadavg()[0]:.1f}")
    app = Shelfcast.load(backend="none", regression=False, progress=False)
    for label, request in SCOPES.items():
        bench(app, label, request, args.repeats)
    if args.no_llm_only:
        return
    embedded = Shelfcast.load(backend="embedded", regression=False, progress=False)
    for label, request in SCOPES.items():
        bench(embedded, label, request, 1)


if __name__ == "__main__":
    main()
