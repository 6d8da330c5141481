"""Trend reports: statistics against hand-computed values, the real PASTRY report, HTML/Markdown, the narrative guard."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from agent.data import Dataset
from agent.grounding import check
from agent.llm.base import Generation, GenerationRequest
from agent.pipeline import Shelfcast
from agent.report import Report, ReportError, ReportRequest, build_report
from agent.report import stats as S
from agent.report.build import compute_stats
from agent.report.narrative import write_narrative
from agent.report.panel import build_panel
from agent.report.render import render_html, write_report
from agent.report.wording import summary, template_narrative
from tests.real_data import pastry_index, pastry_slice

SECTIONS = ["summary", "growth", "movers", "shares", "ramp", "forecast", "narrative", "method"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- a tiny dataset whose statistics are computed by hand ---------------------------------------------
#
# 20 weeks, so W = 8 and half = 10: recent = weeks 12..19, previous = 4..11, half-ago = 2..9 (0-based).
#   A (X): 1 unit every week                       -> recent 8, previous 8, half-ago 8
#   B (X): nothing until week 12, then 1,2,4,5,5,5,5,5 -> recent 32, previous 0 (a launch)
#   C (Y): 3 a week, 1 a week from week 12         -> recent 8, previous 24, half-ago 24
#   D (Y): one unit in week 10                      -> previous 1 (a first sale, not a launch)
WEEKS = pd.date_range("2017-01-02", periods=20, freq="W-MON")


def _tiny() -> Dataset:
    units = {
        "A": [1.0] * 20,
        "B": [0.0] * 12 + [1, 2, 4, 5, 5, 5, 5, 5],
        "C": [3.0] * 12 + [1.0] * 8,
        "D": [0.0] * 10 + [1.0] + [0.0] * 9,
    }
    rows = [{"unique_id": uid, "ds": ds, "y": float(y)} for uid, ys in units.items() for ds, y in zip(WEEKS, ys)]
    catalog = pd.DataFrame({
        "unique_id": list(units), "title": ["Alpha", "Beta 12 OZ", "Gamma", "Delta"],
        "department": ["D1"] * 4, "category": ["X", "X", "Y", "Y"], "subcategory": ["x", "x", "y", "y"],
    })
    return Dataset(name="tiny", sales=pd.DataFrame(rows), catalog=catalog, freq="W-MON")


@pytest.fixture(scope="module")
def tiny_stats():
    return compute_stats(_tiny(), ReportRequest(department="d1", horizon=4))


def test_growth_windows_and_rates_match_hand_computed_values(tiny_stats) -> None:
    g = tiny_stats.growth
    assert (g.recent.start, g.recent.end, g.recent.periods) == ("2017-03-27", "2017-05-15", 8)
    assert (g.previous.start, g.previous.end) == ("2017-01-30", "2017-03-20")
    assert (g.half_ago.start, g.half_ago.end) == ("2017-01-16", "2017-03-06")
    assert (g.total.recent_units, g.total.previous_units, g.total.half_ago_units) == (48, 33, 32)
    assert g.total.growth_vs_previous == pytest.approx(48 / 33 - 1, abs=1e-4)
    assert g.total.growth_vs_half_ago == pytest.approx(0.5)
    by_name = {x.name: x for x in g.groups}
    assert by_name["X"].growth_vs_previous == pytest.approx(40 / 8 - 1)
    assert by_name["Y"].growth_vs_previous == pytest.approx(8 / 25 - 1, abs=1e-4)
    assert tiny_stats.scope.level == "category" and tiny_stats.scope.department == "D1"


def test_movers_filter_volume_and_rank_by_change(tiny_stats) -> None:
    panel, _ = build_panel(_tiny(), "D1")
    movers = S.movers(panel, min_units=10)
    assert movers.eligible == 3  # D sold 1 unit: filtered out
    assert [(m.unique_id, m.change_units, m.growth) for m in movers.risers] == [("B", 32, None)]
    assert [(m.unique_id, m.change_units) for m in movers.fallers] == [("C", -16)]
    assert movers.fallers[0].growth == pytest.approx(-2 / 3, abs=1e-4)
    assert S.movers(panel, min_units=40).eligible == 0


def test_share_shifts_in_percentage_points(tiny_stats) -> None:
    shares = {s.name: s for s in tiny_stats.shares}
    assert shares["X"].recent_share == pytest.approx(40 / 48, abs=1e-4)
    assert shares["X"].previous_share == pytest.approx(8 / 33, abs=1e-4)
    assert shares["X"].shift_points == pytest.approx((40 / 48 - 8 / 33) * 100, abs=0.01)
    assert shares["Y"].shift_points == pytest.approx(-shares["X"].shift_points, abs=0.01)
    assert tiny_stats.shares[0].name == "X"  # sorted by shift, gainers first


def test_ramp_up_counts_launches_and_periods_to_steady(tiny_stats) -> None:
    ramp = tiny_stats.ramp
    assert (ramp.ramp_periods, ramp.first_sales, ramp.launches) == (4, 2, 1)  # D sold in 1 of 4 weeks
    # B's life: 1,2,4,5,5,5,5,5; steady = mean of 5,5,5,5; trailing 3-week mean reaches 4 at week 5.
    assert S.periods_to_steady(np.array([1, 2, 4, 5, 5, 5, 5, 5.0])) == 5
    assert ramp.median_periods_to_steady == 5
    (x,) = ramp.groups
    assert x.name == "X" and x.curve == [1, 2, 4, 5]
    assert x.launch_per_period == 3.0 and x.established_per_period == 1.0 and x.launch_vs_established == 3.0
    assert S.periods_to_steady(np.array([3.0, 0, 0, 0])) is None  # faded to nothing


def test_category_forecast_has_ordered_intervals_on_the_next_weeks(tiny_stats) -> None:
    f = tiny_stats.forecast
    assert f.dates == [str(d.date()) for d in pd.date_range("2017-05-22", periods=4, freq="W-MON")]
    assert f.model.startswith("AutoETS") and f.level == 80 and f.season_length == 1
    for group in f.groups:
        assert len(group.point) == 4
        assert all(lo <= p <= hi for lo, p, hi in zip(group.low, group.point, group.high))
        assert group.forecast_total == pytest.approx(sum(group.point), abs=0.1)


def test_citable_numbers_exclude_chart_series_and_include_numbers_in_names(tiny_stats) -> None:
    allowed = tiny_stats.citable()
    assert 12.0 in allowed  # from the riser's title "Beta 12 OZ": prose naming it repeats the 12
    assert check("X grew 400.0% and sold 40 units", allowed).ok
    assert not check("X grew 977%", allowed).ok
    assert check("In 2017 X grew.", allowed).ok and not check("In 2019 X grew.", allowed).ok  # years of the dates
    # Weekly series and per-week forecasts are chart data: only the summary figures are citable.
    assert tiny_stats.trend.series["X"][-1] == 6.0 and set(S.numbers(tiny_stats.trend)) == {2017.0}  # dates' year
    group = tiny_stats.forecast.groups[0]
    summary_fields = [group.recent_per_period, group.forecast_per_period, group.low_per_period,
                      group.high_per_period, group.forecast_total, group.change_vs_recent]
    assert sorted(S.numbers(group)) == sorted(v for v in summary_fields if v is not None)


def test_template_narrative_and_summary_are_grounded(tiny_stats) -> None:
    allowed = tiny_stats.citable()
    for text in (template_narrative(tiny_stats), summary(tiny_stats)):
        verdict = check(text, allowed)
        assert verdict.ok, verdict.ungrounded


# --- the real PASTRY department ----------------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if "id" in values and values["id"]:
            self.ids.add(values["id"])
        if tag == "img":
            self.images.append(values)
        for key in ("src", "href"):
            if (values.get(key) or "").startswith(("http:", "https:", "//")):
                self.external.append(values[key] or "")


class ScriptedBackend:
    """An LLM that always answers the same drafts (the guard must judge them, not trust them)."""

    name = "scripted"
    model_id = "scripted-test"

    def __init__(self, *drafts: str) -> None:
        self.drafts = list(drafts)
        self.requests: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        return Generation(texts=self.drafts, finish_reasons=["stop"] * len(self.drafts), backend=self.name,
                          model=self.model_id)

    def healthy(self) -> bool:
        return True


@pytest.fixture(scope="module")
def pastry_app() -> Shelfcast:
    return Shelfcast(pastry_slice(), pastry_index(), None)


@pytest.fixture(scope="module")
def invented() -> ScriptedBackend:
    return ScriptedBackend("PASTRY sales jumped 987654% this quarter. Bagels lead the way. <script>alert(1)</script>")


@pytest.fixture(scope="module")
def pastry_report(pastry_app: Shelfcast, invented: ScriptedBackend) -> Report:
    app = Shelfcast(pastry_app.dataset, pastry_app.index, invented)  # type: ignore[arg-type]
    return build_report(app, ReportRequest(department="pastry", horizon=8))


def test_pastry_report_html_embeds_every_chart_and_has_every_section(pastry_report: Report) -> None:
    html = render_html(pastry_report)
    page = _Page()
    page.feed(html)
    assert {c.key for c in pastry_report.charts} == {"trend", "movers", "shares", "ramp", "forecast"}
    sources = [img.get("src") or "" for img in page.images]
    assert len(sources) == len(pastry_report.charts)
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert all(img.get("alt") for img in page.images)
    assert set(SECTIONS) <= page.ids
    assert {f"chart-{c.key}" for c in pastry_report.charts} <= page.ids
    assert not page.external and "script" not in page.tags
    scope = pastry_report.stats.scope
    assert scope.selection == "PASTRY" and scope.level == "category" and scope.products == 1665
    assert len(pastry_report.stats.forecast.groups) == 8  # 7 largest categories + OTHER


def test_llm_narrative_with_an_invented_number_falls_back_to_the_template(pastry_report: Report,
                                                                          invented: ScriptedBackend) -> None:
    narrative = pastry_report.narrative
    assert invented.requests and "BREAKFAST SWEETS" in invented.requests[0].prompt  # the facts reached the LLM
    assert narrative.source == "template"
    assert "987654%" in narrative.reason and narrative.ungrounded == ["987654%"]
    assert narrative.model == "scripted-test" and narrative.prompt_id == "report_narrative.v1"
    assert check(narrative.text, pastry_report.stats.citable()).ok
    html = render_html(pastry_report)
    assert "987654" in html and 'class="badge template"' in html  # the reason is shown, the draft is not
    assert "Bagels lead the way" not in html and "alert(1)" not in html


def test_grounded_llm_draft_is_used_cleaned_and_escaped(pastry_report: Report) -> None:
    stats = pastry_report.stats
    total = stats.growth.total
    draft = (f"<b>PASTRY</b> sold {total.recent_units:,.0f} units in the last {stats.growth.recent.periods} weeks. "
             f"BREAD gained {stats.shares[0].shift_points:.2f} points of share & <i>breakfast sweets</i> lost share "
             f"over the next {stats.forecast.horizon} weeks.")
    narrative = write_narrative(stats, ScriptedBackend(draft))  # type: ignore[arg-type]
    assert narrative.source == "llm", narrative.reason
    assert "<b>" not in narrative.text and "4,259 units" in narrative.text
    report = pastry_report.model_copy(update={"narrative": narrative})
    html = render_html(report)
    assert "&amp; breakfast sweets" in html and 'class="badge llm"' in html and "the model's own" in html
    repeated = write_narrative(stats, ScriptedBackend("Sales fell. Sales fell. Sales fell."))  # type: ignore[arg-type]
    assert repeated.source == "template" and "repeated" in repeated.reason
    invented_name = write_narrative(stats, ScriptedBackend("BREAD grew. POPULAR SALES fell."))  # type: ignore[arg-type]
    assert invented_name.source == "template" and "POPULAR" in invented_name.reason


def test_a_grounded_narrative_that_misses_the_main_figure_or_horizon_is_rejected(pastry_report: Report) -> None:
    stats = pastry_report.stats
    total = stats.growth.total
    no_horizon = f"PASTRY sold {total.recent_units:,.0f} units. BREAD gained share."
    no_figure = f"PASTRY sales fell. BREAD gained share over the next {stats.forecast.horizon} weeks."
    for draft, why in ((no_horizon, "horizon"), (no_figure, "main figure"),
                       ("Eating 17-17. Eating 17-17 again.", "Eating")):
        narrative = write_narrative(stats, ScriptedBackend(draft))  # type: ignore[arg-type]
        assert narrative.source == "template" and why in narrative.reason, (draft, narrative.reason)
        assert narrative.text == template_narrative(stats)


def test_markdown_report_writes_its_chart_files(pastry_report: Report, tmp_path: Path) -> None:
    path = write_report(pastry_report, tmp_path / "pastry.md")
    text = path.read_text()
    for chart in pastry_report.charts:
        png = tmp_path / "pastry_files" / f"{chart.key}.png"
        assert png.read_bytes().startswith(PNG_MAGIC)
        assert f"(pastry_files/{chart.key}.png)" in text
    for heading in ("## Summary", "## Growth", "## Risers and fallers", "## Share shifts", "## New products",
                    "## Forecast by category", "## Narrative (template)", "## Method notes"):
        assert heading in text
    assert "\\<script\\>" not in text and "<script>" not in text
    with pytest.raises(ValueError, match=r"\.html or \.md"):
        write_report(pastry_report, tmp_path / "pastry.pdf")


def test_unknown_names_get_close_matches(pastry_app: Shelfcast) -> None:
    with pytest.raises(ReportError, match=r"unknown category 'BRAED' in department 'PASTRY'.*BREAD"):
        build_report(pastry_app, ReportRequest(department="PASTRY", category="BRAED"))
    with pytest.raises(ReportError, match=r"unknown department 'PASTRIES'.*PASTRY"):
        build_report(pastry_app, ReportRequest(department="PASTRIES"))
    with pytest.raises(ValidationError):
        ReportRequest(horizon=0)
    with pytest.raises(ValidationError):
        ReportRequest(department="PASTRY", color="red")  # type: ignore[call-arg]


def test_category_report_groups_by_subcategory(pastry_app: Shelfcast) -> None:
    stats = compute_stats(pastry_app.dataset, ReportRequest(department="pastry", category="bread", horizon=4))
    assert stats.scope.selection == "PASTRY / BREAD" and stats.scope.level == "subcategory"
    catalog = pastry_app.dataset.catalog
    assert stats.scope.products == int(((catalog["department"] == "PASTRY") & (catalog["category"] == "BREAD")).sum())
    assert stats.forecast.horizon == 4 and stats.ramp.ramp_periods == 4


def test_cli_writes_the_report_and_prints_the_summary(pastry_app: Shelfcast, tmp_path: Path, monkeypatch) -> None:
    from agent.cli import app
    from agent.cli import report as report_cli

    # The CLI's loading is Shelfcast.load (tested elsewhere); here it returns the PASTRY pipeline.
    monkeypatch.setattr(report_cli.Shelfcast, "load", classmethod(lambda cls, *a, **k: pastry_app))
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "--department", "PASTRY", "--horizon", "4", "--backend", "none",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "PASTRY: " in result.output and "narrative: template" in result.output
    assert out.read_text().count("data:image/png;base64,") == 5
    # Names are matched as ask matches them (agent.ask.resolve.resolve_request): loosely, and said so.
    loose = CliRunner().invoke(app, ["report", "--department", "the pastries dept", "--category", "braed",
                                     "--horizon", "4", "--backend", "none", "--out", str(out)])
    assert loose.exit_code == 0, loose.output
    assert "PASTRY / BREAD: " in loose.output and "'braed' read as 'bread'" in loose.output
    bad = CliRunner().invoke(app, ["report", "--department", "motor oil", "--out", str(out)])
    assert bad.exit_code == 2 and "closest: " in bad.output and "PASTRY" in bad.output


@pytest.mark.slow
def test_real_smollm2_narrative_is_grounded_or_falls_back_with_a_reason(pastry_report: Report) -> None:
    from agent.llm.select import embedded_backend

    backend = embedded_backend()
    narrative = write_narrative(pastry_report.stats, backend)
    assert narrative.backend == "embedded" and narrative.model == backend.model_id
    if narrative.source == "llm":
        assert check(narrative.text, pastry_report.stats.citable()).ok
    else:
        assert narrative.reason.startswith(("2 LLM draft(s) rejected", "LLM unavailable")), narrative.reason
        assert narrative.text == template_narrative(pastry_report.stats)
