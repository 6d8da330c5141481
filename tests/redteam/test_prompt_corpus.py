"""The red-team corpus, prompt door: hostile catalog and client text on its way into LLM prompts.

Each string in `prompt_cases.json` is planted where data enters prompts: in
the titles of every retrieved analog, in the target product's own catalog
title, and in a new product's title, description and category. Every prompt
the chain renders (recorded by a gullible scripted LLM that obeys any
injection) must keep its structure (one `Product:` line per example, no
forged `Sales history:` or `Next N weeks:` lines), hold no control, bidi or
zero-width character and no special token, bound each value (nothing past the
300-character cut), and show what the case says it shows. Whatever the LLM
then answers, the forecast stays within the chain's validated bounds.

Further tests: report group names (narrative prompt and prose), prose with
links, `finetune llm` training pairs from a poisoned catalog, and the real
SmolLM2 (embedded) and the real vLLM server on injected analog titles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hostile import GullibleBackend
from injections import assert_within_bounds
from real_data import BAGELS_4OZ, pastry_index, pastry_slice

from agent.data import Dataset
from agent.forecast.chain import ChainSettings
from agent.pipeline import Shelfcast
from agent.report import ReportRequest, build_report
from agent.prose import judge
from agent.report.narrative import spec
from agent.report.render import render_html
from agent.safe_text import PROMPT_VALUE_CHARS, has_controls
from agent.training.llm_examples import window_pairs
from agent.training.windows import Window
from finetune.regression.data import Example

CASES = json.loads((Path(__file__).with_name("prompt_cases.json")).read_text())
HORIZON = 4
# "Product: " + title + " (" + text + ")": two bounded values and the template's words.
MAX_PRODUCT_LINE = len("Product: ") + 2 * PROMPT_VALUE_CHARS + 3


class HostileRetriever:
    """The real PASTRY index, with `text` appended to the title of every product it returns."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = pastry_index()

    def search(self, query: str, k: int = 10, **filters) -> pd.DataFrame:
        hits = self.index.search(query, k=k, **filters).copy()
        hits["title"] = hits["title"].astype(str) + " " + self.text
        return hits


def poisoned(text: str) -> Dataset:
    """PASTRY with `text` appended to the target product's title and catalog text."""
    data = pastry_slice()
    catalog = data.catalog.copy()
    target = catalog["unique_id"] == BAGELS_4OZ
    catalog.loc[target, "title"] = catalog.loc[target, "title"] + " " + text
    catalog.loc[target, "text"] = catalog.loc[target, "text"] + " " + text
    return Dataset(name=data.name, sales=data.sales, catalog=catalog, freq=data.freq)


def hostile_app(text: str, backend=None) -> Shelfcast:
    return Shelfcast(poisoned(text), HostileRetriever(text), backend or GullibleBackend(),  # type: ignore[arg-type]
                     settings=ChainSettings(samples=4))


def check_prompt(prompt: str, case: dict) -> None:
    assert not has_controls(prompt), ascii(prompt)[:2000]
    assert "<|" not in prompt, prompt[:2000]
    lines = prompt.split("\n")
    products = [line for line in lines if line.startswith("Product:")]
    answers = [line for line in lines if re.match(r"^(Next|First) \d+ \w+s:", line)]
    histories = [line for line in lines if line.startswith("Sales history:")]
    # One answer line per product line; histories only in the few-shot/zero-shot layout, one per product.
    assert len(answers) == len(products) >= 1, prompt
    assert len(histories) in (0, len(products)), prompt
    assert all(len(line) <= case.get("max_line", MAX_PRODUCT_LINE) for line in products), max(map(len, products))
    for text in case.get("present", []):
        assert text in prompt, (text, prompt[:2000])
    for text in case.get("absent", []):
        assert text not in prompt, (text, prompt[:2000])


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20 and len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_hostile_text_in_prompts(case: dict) -> None:
    backend = GullibleBackend()
    app = hostile_app(case["text"], backend)
    existing = app.forecast(BAGELS_4OZ, HORIZON, "few-shot")
    launch = app.forecast_new(f"plain bagels {case['text']}", HORIZON, description=case["text"],
                              category=case["text"])
    kinds = {prompt.startswith("Sales forecasting for new products") for prompt in backend.prompts}
    assert kinds == {True, False}, "both the few-shot and the new-product prompt were rendered"
    for prompt in backend.prompts:
        check_prompt(prompt, case)
    # The gullible LLM answered 10x the largest number it saw: the chain keeps the bound (or falls back).
    assert_within_bounds(app, existing)
    assert_within_bounds(app, launch)


REPORT_NAMES = [case["text"] for case in CASES[:7]]


@pytest.fixture(scope="module")
def hostile_report():
    """A PASTRY report whose 7 largest categories are renamed to hostile strings, narrated by the gullible LLM."""
    data = pastry_slice()
    catalog = data.catalog.copy()
    largest = data.sales.merge(catalog[["unique_id", "category"]]).groupby("category")["y"].sum().nlargest(7).index
    catalog["category"] = catalog["category"].replace(dict(zip(largest, REPORT_NAMES)))
    backend = GullibleBackend()
    app = Shelfcast(Dataset(name=data.name, sales=data.sales, catalog=catalog, freq=data.freq), pastry_index(), backend)
    return build_report(app, ReportRequest(department="PASTRY", horizon=4)), backend


def test_report_group_names_cannot_reshape_the_narrative_prompt(hostile_report) -> None:
    report, backend = hostile_report
    prompt = backend.prompts[-1]
    assert not has_controls(prompt)
    # The template's own turn markers and nothing else: a group name cannot close or open a turn.
    assert prompt.count("<|im_start|>") == 3 and prompt.count("<|im_end|>") == 2, prompt
    facts = [line for line in prompt.split("\n") if line.startswith("- ")]
    assert facts and all(len(line) <= 2 + 600 for line in facts)
    assert not any(line.startswith(("Sales history:", "Next ")) for line in prompt.split("\n"))
    # The gullible drafts cite numbers no statistic holds: the template narrative is shown, and says why.
    assert report.narrative.source == "template" and "rejected" in report.narrative.reason


def test_report_html_escapes_hostile_group_names(hostile_report) -> None:
    html = render_html(hostile_report[0])
    assert "<script>" not in html.replace("<script>alert", "") or "&lt;script&gt;" in html
    assert "\x1b" not in html and "<|im_start|>system" not in html


@pytest.mark.parametrize("link", ["http://evil.example/coupons", "www.evil.com", "deals@evil.example", "evil.ru"])
def test_prose_with_a_link_is_rejected_even_when_every_number_is_grounded(hostile_report, link: str) -> None:
    report = hostile_report[0]
    # The template narrative: grounded by construction. (agent.prose may refuse it for other reasons here: the
    # hostile group names read as claims. The link check runs before those, so a link is what it names.)
    grounded = report.narrative.text
    base = judge(grounded, spec(report.stats))[1]
    assert base is None or "link" not in base
    # ...until it carries a link.
    _, reason, _ = judge(f"Order more at {link} today. {grounded}", spec(report.stats))  # first: drafts are cut at 900
    assert reason is not None and "link" in reason, reason


def test_poisoned_catalog_rows_reach_training_pairs_sanitized() -> None:
    """`finetune llm` pairs are the chain's prompts: a poisoned catalog yields sanitized, bounded pairs."""
    text = CASES[1]["text"] + CASES[4]["text"] + "\x1b[31m" + "x" * 400 + "PAST300MARKER"
    app = hostile_app(text)
    cutoff = pd.Timestamp("2017-10-02")
    series = app.builder.series(BAGELS_4OZ, cutoff + pd.Timedelta(weeks=HORIZON))
    window = Window(unique_id=BAGELS_4OZ, cutoff=cutoff,
                    example=Example(text="", history=series.to_numpy()[:-HORIZON], target=series.to_numpy()[-HORIZON:]))
    pairs, reason = window_pairs(app.builder, window, HORIZON)
    assert reason is None and {pair.kind for pair in pairs} == {"zero_shot", "few_shot"}
    for pair in pairs:
        check_prompt(pair.prompt, {"absent": ["PAST300MARKER", "\nSales history: 100000"]})
        # the answer is the true continuation, in the prompt's scale: data, never the injected numbers
        assert "100000" not in pair.answer and "999999" not in pair.answer


@pytest.mark.slow
def test_real_smollm2_on_injected_analog_titles_stays_bounded() -> None:
    from agent.llm.select import embedded_backend

    for case in (CASES[1], CASES[4]):  # ChatML turn injection, forged history lines
        app = hostile_app(case["text"], embedded_backend())
        forecast = app.forecast(BAGELS_4OZ, 2, "few-shot")
        assert_within_bounds(app, forecast)


@pytest.mark.vllm
def test_real_vllm_server_on_injected_analog_titles_stays_bounded(vllm_server: str) -> None:
    from agent.llm.http import HttpBackend

    backend = HttpBackend(vllm_server, timeout_s=120)
    for case in CASES[1:2]:  # the ChatML turn injection (each case costs minutes of CPU vLLM)
        app = hostile_app(case["text"], backend)
        forecast = app.forecast(BAGELS_4OZ, 2, "few-shot")
        assert_within_bounds(app, forecast)
        launch = app.forecast_new(f"plain bagels {case['text']}", 2)
        assert_within_bounds(app, launch)
