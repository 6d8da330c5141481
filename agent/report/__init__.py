"""Trend reports: statistics over a department, category or store, charts, a grounded narrative, HTML/Markdown.

    from agent.report import ReportRequest, build_report
    from agent.report.render import write_report
    report = build_report(app, ReportRequest(department="PASTRY", horizon=8))
    write_report(report, Path("out/report-pastry.html"))
"""

from agent.report.build import build_report
from agent.report.model import Narrative, Report, ReportRequest, TrendStats
from agent.report.panel import ReportError

__all__ = ["Narrative", "Report", "ReportError", "ReportRequest", "TrendStats", "build_report"]
