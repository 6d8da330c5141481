"""The report's narrative: the LLM's paragraph when `agent.prose` accepts it, else the template's, and why.

The LLM (any backend) is given the template's sentences as facts and asked
for a short paragraph. Its drafts are judged by the same rule as `ask`'s
sentences (agent/prose.py): grounded in the statistics (`TrendStats.citable`,
chart series excluded), naming the selection, stating its units or growth and
the forecast horizon, no words beyond the facts' and a small allowed set (so
no invented group names such as SmolLM2's "POPULAR SALES"), at least
MIN_SENTENCES sentences with none repeated, and no group given the opposite
direction of its growth. The first of N_SAMPLES drafts that passes is used;
otherwise the template narrative, with the reason recorded and shown in the report.
"""

from __future__ import annotations

from agent.forecast.prompting import PROMPT_VERSION, load_template
from agent.llm.base import GenerationRequest, LLMBackend
from agent.prose import Spec, write
from agent.report.model import Narrative, TrendStats
from agent.report.wording import facts, template_narrative
from agent.safe_text import for_prompt

PROMPT = "report_narrative"
N_SAMPLES = 2
# 4 short sentences fit in ~100 tokens; a blank line ends the paragraph (the model otherwise starts a
# list and loops). On 2 shared cores the embedded model takes about a minute for 2 such drafts.
MAX_TOKENS = 120
TEMPERATURE = 0.5
STOP = ["<|im_end|>", "\n\n"]
TIMEOUT_S = 180.0
FACT_CHARS = 600  # one fact names a few groups; a catalog name cannot make it longer than this
MIN_SENTENCES = 2
SENTENCES_ASKED = 4


def group_growth(stats: TrendStats) -> dict[str, float]:
    """The selection's and each group's growth against the previous window (groups without one left out)."""
    rows = [stats.growth.total.model_copy(update={"name": stats.scope.selection}), *stats.growth.groups]
    return {row.name: row.growth_vs_previous for row in rows if row.growth_vs_previous is not None}


def spec(stats: TrendStats) -> Spec:
    """What a narrative must say: the selection, its recent units or growth, and the forecast horizon."""
    total = stats.growth.total
    return Spec(facts=template_narrative(stats), numbers=stats.citable(), subjects=[stats.scope.selection],
                main=[v for v in (total.recent_units, total.growth_vs_previous) if v is not None],
                horizon=stats.forecast.horizon, period=stats.scope.period, min_sentences=MIN_SENTENCES,
                growth=group_growth(stats))


def write_narrative(stats: TrendStats, backend: LLMBackend | None) -> Narrative:
    """The narrative and how it was written (agent.prose.write: the LLM's when accepted, else the template's)."""
    template = template_narrative(stats)
    # Group and selection names come from the catalog: each fact is one bounded line (agent.safe_text).
    prompt = load_template(PROMPT).format(selection=for_prompt(stats.scope.selection), period=stats.scope.period,
                                          facts=[for_prompt(fact, FACT_CHARS) for fact in facts(stats)],
                                          sentences=SENTENCES_ASKED)
    request = GenerationRequest(prompt=prompt, n=N_SAMPLES, max_tokens=MAX_TOKENS, temperature=TEMPERATURE,
                                stop=STOP, timeout_s=TIMEOUT_S)
    prose = write(backend, request, spec(stats), template, what="narrative")
    return Narrative(text=prose.text, source=prose.source, reason=prose.reason, ungrounded=prose.ungrounded,
                     backend=backend.name if backend else None, model=backend.model_id if backend else None,
                     prompt_id=f"{PROMPT}.{PROMPT_VERSION}" if backend else None)
