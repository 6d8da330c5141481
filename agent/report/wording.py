"""Numbers and sentences written from the statistics: the template narrative, the summary, table cells.

Every sentence here cites only figures held by `TrendStats` (or printed in the
names it holds), formatted at a precision the grounding check accepts, so the
template narrative passes the same check as the LLM's draft (a test asserts it).
"""

from __future__ import annotations

from agent.report.model import TrendStats


def units(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"


def plural(count: float, noun: str) -> str:
    return f"{count:g} {noun}" if count == 1 else f"{count:g} {noun}s"


def percent(fraction: float | None, signed: bool = True) -> str:
    if fraction is None:
        return "n/a"
    return f"{fraction * 100:+.1f}%" if signed else f"{fraction * 100:.1f}%"


def points(value: float) -> str:
    return f"{value:+.2f}"


def _growth_sentence(stats: TrendStats) -> str:
    g = stats.growth
    p = stats.scope.period
    return (f"In the last {g.recent.periods} {p}s ({g.recent.start} to {g.recent.end}) {stats.scope.selection} sold "
            f"{units(g.total.recent_units)} units: {percent(g.total.growth_vs_previous)} against the "
            f"{g.previous.periods} {p}s before and {percent(g.total.growth_vs_half_ago)} against "
            f"{g.half_ago.start} to {g.half_ago.end}.")


def _groups_sentence(stats: TrendStats) -> str | None:
    # The pooled OTHER group is no group a reader can act on: it takes no superlative.
    ranked = sorted((x for x in stats.growth.groups if x.growth_vs_previous is not None and x.name != stats.scope.other),
                    key=lambda x: x.growth_vs_previous or 0.0)
    if len(ranked) < 2:
        return None
    best, worst = ranked[-1], ranked[0]
    return (f"By {stats.scope.level}, {best.name} grew most ({percent(best.growth_vs_previous)}) and "
            f"{worst.name} least ({percent(worst.growth_vs_previous)}).")


def _movers_sentence(stats: TrendStats) -> str | None:
    m = stats.movers
    parts = []
    if m.risers:
        top = m.risers[0]
        parts.append(f"the largest riser was {top.title} ({top.change_units:+,.0f} units)")
    if m.fallers:
        low = m.fallers[0]
        parts.append(f"the largest faller was {low.title} ({low.change_units:+,.0f} units)")
    if not parts:
        return None
    return f"Among {m.eligible:,} products selling at least {m.min_units:,.0f} units, " + " and ".join(parts) + "."


def _shares_sentence(stats: TrendStats) -> str | None:
    named = [x for x in stats.shares if x.name != stats.scope.other]
    if len(named) < 2:
        return None
    gain, loss = named[0], named[-1]
    return (f"{gain.name} gained the most share ({points(gain.shift_points)} percentage points, to "
            f"{percent(gain.recent_share, signed=False)}) and {loss.name} lost the most "
            f"({points(loss.shift_points)} points, to {percent(loss.recent_share, signed=False)}).")


def _ramp_sentence(stats: TrendStats) -> str | None:
    r = stats.ramp
    if not r.launches:
        return None
    text = (f"{r.launches:,} products launched and sold in at least half of their first {r.ramp_periods} "
            f"{stats.scope.period}s")
    biggest = max(r.groups, key=lambda x: (x.name != stats.scope.other, x.launches, x.name))
    if biggest.launch_vs_established is not None:
        text += (f"; the {biggest.launches:,} {biggest.name} launches sold {percent(biggest.launch_vs_established, signed=False)} "
                 f"of an established product's units per {stats.scope.period}")
    if r.median_periods_to_steady is not None:
        text += (f", and those that kept selling reached their steady level after a median of "
                 f"{plural(r.median_periods_to_steady, stats.scope.period)}")
    return text + "."


def _forecast_sentence(stats: TrendStats) -> str:
    f = stats.forecast
    lead = f.groups[0]
    text = (f"{f.model.split(' ')[0]} expects {lead.name} to sell about {units(lead.forecast_per_period)} units per "
            f"{stats.scope.period} over the next {f.horizon} {stats.scope.period}s ({f.level}% interval "
            f"{units(lead.low_per_period)} to {units(lead.high_per_period)}), against {units(lead.recent_per_period)} "
            "recently")
    moving = [x for x in f.groups[1:] if x.change_vs_recent is not None and x.name != stats.scope.other]
    if moving:
        mover = max(moving, key=lambda x: (abs(x.change_vs_recent or 0.0), x.name))
        text += f"; the largest expected change is {mover.name} ({percent(mover.change_vs_recent)})"
    return text + "."


def facts(stats: TrendStats) -> list[str]:
    """The template's sentences one by one: the facts the LLM is asked to write about."""
    sentences = [_growth_sentence(stats), _groups_sentence(stats), _movers_sentence(stats), _shares_sentence(stats),
                 _ramp_sentence(stats), _forecast_sentence(stats)]
    return [s for s in sentences if s]


def template_narrative(stats: TrendStats) -> str:
    return " ".join(facts(stats))


def summary(stats: TrendStats) -> str:
    """One short line: the selection's growth, the top riser, the share gainer, the lead forecast."""
    g, p = stats.growth, stats.scope.period
    parts = [f"{stats.scope.selection}: {units(g.total.recent_units)} units in the last {g.recent.periods} {p}s "
             f"({percent(g.total.growth_vs_previous)} vs the {g.previous.periods} before)"]
    if stats.movers.risers:
        top = stats.movers.risers[0]
        parts.append(f"top riser {top.title} ({top.change_units:+,.0f})")
    named = [x for x in stats.shares if x.name != stats.scope.other]
    if len(named) >= 2:
        parts.append(f"{named[0].name} {points(named[0].shift_points)} share points")
    lead = stats.forecast.groups[0]
    parts.append(f"next {stats.forecast.horizon} {p}s: {lead.name} about {units(lead.forecast_per_period)}/{p}")
    return "; ".join(parts) + "."
