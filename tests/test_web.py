"""The web page at / in a real browser: headless Debian Chromium, driven by Playwright, against `shelfcast serve`.

The server is a real `shelfcast serve` process on a free loopback port with a
bearer token, over the PASTRY department of the built-in data (1,665 real
products and their real MiniLM index) written as the user's files: the whole
68k-product catalog would cost ~6 minutes of embedding on a clean machine.
It runs with `--backend none`: what the page shows does not depend on which
path answered, and an LLM that is not there is exactly the case where the
page must show why the answer fell back. Every request the page makes to
anything but the server is aborted and recorded, so a CDN link fails a test.

Chromium comes from Debian (`make test` installs it when /usr/bin/chromium is
missing); Playwright only drives it (`playwright install` is never run).
Screenshots go to $SHELFCAST_SCREENSHOTS when set (eval/results/web/ holds
the committed ones), else to a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from real_data import BAGELS_4OZ, pastry_slice

from agent.api.browser import chromium, loopback_page, screenshot
from agent.api.process import running_server

pytestmark = pytest.mark.browser

TOKEN = "page-token-5150"
WAIT_MS = 60_000  # generous: the machine is shared; a fast run takes a few seconds per view
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("pastry")
    data = pastry_slice()
    data.sales.to_parquet(folder / "pastry.parquet")
    data.catalog.drop(columns=["text"]).to_parquet(folder / "pastry-catalog.parquet")  # the loader builds the text
    args = ["--backend", "none", "--log-level", "warning",
            "--sales", str(folder / "pastry.parquet"), "--catalog", str(folder / "pastry-catalog.parquet")]
    with running_server(args, env={"SHELFCAST_API_TOKEN": TOKEN}, wait_s=300) as process:
        yield process.url


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as launched:
        yield launched


@pytest.fixture
def outside() -> list[str]:
    """URLs the page tried to load from anywhere but the server (each one was aborted)."""
    return []


@pytest.fixture
def page(browser, outside: list[str]) -> Iterator:
    errors: list[str] = []
    tab = loopback_page(browser, outside, errors, WAIT_MS, viewport={"width": 1100, "height": 900})
    yield tab
    tab.context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not outside, f"the page reached outside the server: {outside}"


def shot(page, name: str, tmp_path: Path, full_page: bool = True) -> Path:
    return screenshot(page, Path(os.environ.get("SHELFCAST_SCREENSHOTS") or tmp_path) / f"{name}.png", full_page)


def sign_in(page, server: str, token: str = TOKEN) -> None:
    page.goto(f"{server}/")
    page.get_by_role("textbox", name="Token").fill(token)
    page.get_by_role("button", name="Use this token").click()
    if token == TOKEN:
        expect(page.locator("#token")).to_be_hidden()


def api(server: str, path: str, body: dict) -> dict:
    response = httpx.post(f"{server}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


# --- the views --------------------------------------------------------------------------------------

def test_ask_shows_the_sentence_table_chart_and_why_the_llm_gave_way(page, server: str, tmp_path: Path) -> None:
    sign_in(page, server)
    question = f"how many of product {BAGELS_4OZ} will sell in the next 4 weeks?"
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()
    sentence = page.locator("#ask-result .sentence.answered")
    expect(sentence).to_be_visible()
    answer = api(server, "/ask", {"question": question})
    assert sentence.inner_text() == answer["text"]
    assert page.locator("#ask-result table").first.locator("tbody tr").count() == len(answer["table"]) == 4
    assert page.locator("#ask-result svg.chart polygon.band").count() == 1
    notes = page.locator("#ask-result .notes").all_inner_texts()
    # The LLM is not there: the page says which paths gave way and why, and who wrote the sentence.
    assert any("llm-few-shot gave way: no LLM backend configured" in n for n in notes), notes
    assert any("no LLM backend: template sentence" in n for n in notes), notes
    assert "LLM: off" in page.locator("#server").inner_text()
    shot(page, "ask", tmp_path)


def test_an_ambiguous_name_offers_candidates_and_a_click_answers_for_the_one_picked(page, server: str,
                                                                                     tmp_path: Path) -> None:
    sign_in(page, server)
    # "bagels" is the bagels (their category's forecast); a size several products share is ambiguous.
    page.get_by_label("Your question").fill("how many rolls 12 oz will sell in the next 4 weeks?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.get_by_text("Which product did you mean by “rolls 12 oz”?")).to_be_visible()
    candidates = page.locator("#ask-result button.candidate")
    assert candidates.count() >= 2
    shot(page, "ask-candidates", tmp_path)
    answer = api(server, "/ask", {"question": "how many rolls 12 oz will sell in the next 4 weeks?"})
    picked = next(c for c in answer["candidates"]["rolls 12 oz"] if c["title"] == "Rolls: Dinner 12 OZ")
    candidates.filter(has_text="Rolls: Dinner 12 OZ").first.press("Enter")  # a keyboard user picks one
    expect(page.locator("#ask-result .sentence.answered")).to_contain_text(
        f"Rolls: Dinner 12 OZ ({picked['unique_id']})")
    asked = page.get_by_label("Your question").input_value()
    assert asked == f"how many product {picked['unique_id']} will sell in the next 4 weeks?"


def test_forecast_a_product_found_as_you_type_with_the_keyboard(page, server: str, tmp_path: Path) -> None:
    sign_in(page, server)
    page.get_by_role("tab", name="Ask a question").focus()
    page.keyboard.press("ArrowRight")  # tabs move with the arrow keys
    expect(page.get_by_role("tab", name="Forecast a product")).to_have_attribute("aria-selected", "true")
    search = page.get_by_role("combobox", name="Product (type a name or an id)")
    search.press_sequentially("bagels 4 oz", delay=40)
    expect(page.locator("#product-options [role=option]").first).to_contain_text("Rolls: Bagels 4 OZ")
    search.press("ArrowDown")
    search.press("Enter")
    expect(page.locator("#product-chosen")).to_contain_text(f"id {BAGELS_4OZ}")
    page.locator("#forecast-horizon").fill("6")
    page.locator("#forecast-horizon").press("Enter")  # submits the form
    block = page.locator("#forecast-result .forecast")
    expect(block).to_be_visible()
    forecast = api(server, "/forecast", {"unique_id": BAGELS_4OZ, "horizon": 6})
    cells = block.locator("table tbody tr").all()
    assert len(cells) == 6
    shown_high = [float(row.locator("td").nth(4).inner_text().replace(",", "")) for row in cells]
    assert shown_high == pytest.approx(forecast["quantiles"]["0.9"], abs=0.006)
    # The history drawn is the product's whole sales curve (from its first sale to the end of the data).
    points = block.locator("polyline.history").get_attribute("points").split()
    assert len(points) == len(pastry_slice().history(BAGELS_4OZ))
    expect(block).to_contain_text("answered by the global gradient-boosting model")  # no LLM, no regression model
    shot(page, "forecast", tmp_path)


def test_new_product_shows_the_forecast_and_each_analog_with_its_sales(page, server: str, tmp_path: Path) -> None:
    sign_in(page, server)
    page.get_by_role("tab", name="New product").click()
    view = page.locator("#view-new")
    view.get_by_label("Title").fill("cinnamon raisin bagels 6 ct")
    view.get_by_label("Department").select_option("PASTRY")
    view.get_by_label("Price ($)").fill("3.49")
    view.get_by_role("button", name="Forecast the launch").click()
    expect(view.locator(".analog").first).to_be_visible()
    forecast = api(server, "/new-product", {"title": "cinnamon raisin bagels 6 ct", "department": "PASTRY",
                                            "price": 3.49, "horizon": 8})
    assert forecast["analogs"], forecast
    analogs = view.locator(".analog")
    assert analogs.count() == len(forecast["analogs"])
    for unique_id, analog in zip(forecast["analogs"], analogs.all(), strict=True):
        expect(analog.locator("h4")).to_contain_text(f"id {unique_id}")
        assert len(analog.locator("polyline.history").get_attribute("points").split()) >= 1
    expect(view.locator(".forecast .sentence")).to_contain_text("over 8 weeks")
    shot(page, "new-product", tmp_path)


def test_trend_report_renders_in_the_page(page, server: str, tmp_path: Path) -> None:
    sign_in(page, server)
    page.get_by_role("tab", name="Trend report").click()
    page.locator("#report-department").select_option("PASTRY")
    page.get_by_role("button", name="Build the report").click()
    report = page.frame_locator("#report-result iframe")
    expect(report.locator("h1")).to_contain_text("PASTRY")
    charts = report.locator("img")
    assert charts.count() >= 3
    assert all(image.evaluate("i => i.complete && i.naturalWidth > 0") for image in charts.all())
    shot(page, "report", tmp_path, full_page=False)


def test_a_report_question_opens_the_whole_report(page, server: str) -> None:
    sign_in(page, server)
    page.get_by_label("Your question").fill("trend report for the pastry department over 6 weeks")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.locator("#ask-result .sentence.answered")).to_contain_text("PASTRY")
    page.get_by_role("button", name="Show the whole report").click()
    expect(page.get_by_role("tab", name="Trend report")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#report-department")).to_have_value("PASTRY")
    expect(page.frame_locator("#report-result iframe").locator("h1")).to_contain_text("PASTRY")


def test_a_wrong_token_is_refused_and_a_right_one_is_kept_for_the_tab_only(page, server: str, tmp_path: Path) -> None:
    sign_in(page, server, token="not-the-token")
    expect(page.locator("#token-error")).to_contain_text("invalid bearer token")
    expect(page.locator("#token")).to_be_visible()
    shot(page, "wrong-token", tmp_path)
    page.get_by_role("textbox", name="Token").fill(TOKEN)
    page.get_by_role("button", name="Use this token").click()
    expect(page.locator("#token")).to_be_hidden()
    page.reload()  # the same tab: not asked again
    expect(page.locator("#report-department option[value=PASTRY]")).to_be_attached()
    expect(page.locator("#token")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('shelfcast-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    assert TOKEN not in page.url


def test_no_answer_in_time_says_so_instead_of_waiting_forever(page, server: str) -> None:
    page.clock.install()
    page.route("**/ask", lambda route: None)  # the server never answers
    sign_in(page, server)
    page.get_by_label("Your question").fill("how many bagels will sell in the next 4 weeks?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.locator("#view-ask .busy")).to_contain_text("Answering")
    page.clock.run_for("05:01")
    expect(page.locator("#ask-result .error")).to_contain_text("No answer within 300 s")
    expect(page.locator("#view-ask .busy")).to_have_count(0)


def test_page_reflows_at_200_percent_zoom(browser, server: str, outside: list[str], tmp_path: Path) -> None:
    # 200% zoom of a 1280-pixel window: 640 CSS pixels wide at two device pixels each.
    errors: list[str] = []
    page = loopback_page(browser, outside, errors, WAIT_MS, viewport={"width": 640, "height": 900},
                         device_scale_factor=2)
    sign_in(page, server)
    page.get_by_role("tab", name="Forecast a product").click()
    page.get_by_role("combobox", name="Product (type a name or an id)").fill(BAGELS_4OZ)
    expect(page.locator("#product-options [role=option]")).to_have_count(1)
    page.get_by_role("button", name="Forecast", exact=True).click()
    expect(page.locator("#forecast-result .forecast")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 200% zoom"
    shot(page, "forecast-zoom-200", tmp_path)
    page.context.close()
    assert not errors and not outside, (errors, outside)


def test_api_docs_load_offline(page, server: str) -> None:
    page.goto(f"{server}/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Shelfcast")
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    assert httpx.get(f"{server}/redoc").status_code == 404  # off: its bundle loads a logo from a CDN
