"""A Report as HTML (one self-contained page) or Markdown (with chart files beside it).

Both come from Jinja2 templates in `templates/`. HTML is autoescaped, so
product names and the narrative (untrusted text) cannot inject markup; in
Markdown the `md` filter backslash-escapes every character that could start
markup, a link or an image (a remote image in a rendered report would be a
request to a server the user never chose).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from agent.report.model import Report
from agent.report.wording import percent, points, units

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md_escape(value: object) -> str:
    """One line of literal Markdown text (table-cell safe)."""
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(value))).strip()


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("agent.report", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                                   default=False),
                      trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True)
    env.filters.update(
        units=units,
        percent=percent,
        points=points,
        share=lambda v: "n/a" if v is None else percent(v, signed=False),
        thousands=lambda v: f"{v:,}",
        signed_units=lambda v: f"{v:+,.0f}" if abs(v) >= 100 else f"{v:+,.1f}",
        b64=lambda data: base64.b64encode(data).decode("ascii"),
        md=md_escape,
    )
    return env


_ENV = _environment()


def _context(report: Report) -> dict[str, object]:
    stats = report.stats
    return {"r": report, "s": stats, "g": stats.growth, "f": stats.forecast,
            "charts": {chart.key: chart for chart in report.charts}}


def render_html(report: Report) -> str:
    return _ENV.get_template("report.html").render(**_context(report))


def render_markdown(report: Report, asset_dir: Path) -> str:
    """Markdown whose image links are relative to `asset_dir`'s parent (where the .md file goes)."""
    asset_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for chart in report.charts:
        path = asset_dir / f"{chart.key}.png"
        path.write_bytes(chart.png)
        written[chart.key] = f"![{md_escape(chart.alt)}]({quote(asset_dir.name)}/{path.name})\n\n*{md_escape(chart.title)}*"

    def image(key: str) -> str:
        return written.get(key, "")

    return _ENV.get_template("report.md").render(image=image, **_context(report))


def write_report(report: Report, path: Path) -> Path:
    """Write by suffix: .html (self-contained) or .md (charts next to it in `<stem>_files/`)."""
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md"):
        raise ValueError(f"report path {str(path)!r} must end in .html or .md")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".md":
        text = render_markdown(report, path.parent / f"{path.stem}_files")
    else:
        text = render_html(report)
    path.write_text(text, encoding="utf-8")
    return path
