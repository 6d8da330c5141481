"""The web page end to end on the whole built-in data with a real LLM: each view in headless Chromium, timed.

What tests/test_web.py cannot afford in `make test`: `shelfcast serve` over all
67,982 products (the full MiniLM index, ~6 min to build once, cached after)
with the embedded SmolLM2 (or any --backend), a bearer token, and a person's
path through the page: ask a question with an ambiguous name (best match
taken), forecast a product found by typing, a new product, the PASTRY report.
It prints, per view, the seconds until the page showed the answer, the path
that answered and the notes saying why earlier paths gave way; screenshots go
to --out (eval/results/web/*-<backend>.png). Any request to anything but the
server is aborted and fails the check.

    .venv/bin/python eval/check_web.py | tee eval/results/web/check_web.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from agent.api.browser import chromium, loopback_page, screenshot
from agent.api.process import running_server
from agent.config import ensure_offline

TOKEN = "check-web-token"
WAIT_MS = 400_000  # the page itself gives up after 300 s on a question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="embedded", choices=["embedded", "http", "auto", "none"])
    parser.add_argument("--out", type=Path, default=Path("eval/results/web"))
    args = parser.parse_args()
    ensure_offline()
    print(f"# check_web: backend {args.backend}, built-in data; {platform.node()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    with running_server(["--backend", args.backend, "--log-level", "warning"], env={"SHELFCAST_API_TOKEN": TOKEN},
                        wait_s=1800) as server, chromium() as browser:
        print(f"server ready in {time.perf_counter() - started:.0f} s (data, index, LLM and regression loaded)")
        outside: list[str] = []
        errors: list[str] = []
        page = loopback_page(browser, outside, errors, WAIT_MS, viewport={"width": 1100, "height": 900})
        page.goto(f"{server.url}/")
        page.get_by_role("textbox", name="Token").fill(TOKEN)
        page.get_by_role("button", name="Use this token").click()
        page.locator("#token").wait_for(state="hidden")
        print(page.locator("#server").inner_text())
        suffix = f"-{args.backend}"

        def timed(view: str, submit, done: str, progress_shot: bool = False) -> None:
            tic = time.perf_counter()
            submit()
            if progress_shot:
                page.wait_for_timeout(10_000)
                screenshot(page, args.out / f"progress{suffix}.png", full_page=False)
            page.locator(done).first.wait_for()
            seconds = time.perf_counter() - tic
            panel = page.locator(f"#view-{view}")
            print(f"\n## {view}: shown after {seconds:.1f} s")
            for line in panel.locator(".sentence, .error").all_inner_texts():
                print(f"  {line}")
            for note in panel.locator(".notes li").all_inner_texts():
                print(f"  - {note}")
            screenshot(page, args.out / f"{view}{suffix}.png", full_page=view != "report")

        page.get_by_label("Your question").fill("how many bagels will sell in the next 4 weeks?")
        page.get_by_label("When a name matches several products").check()
        timed("ask", lambda: page.get_by_role("button", name="Ask", exact=True).click(),
              "#ask-result .sentence, #ask-result .error", progress_shot=True)

        page.get_by_role("tab", name="Forecast a product").click()
        search = page.get_by_role("combobox", name="Product (type a name or an id)")
        search.press_sequentially("rolls bagels 4 oz", delay=60)
        page.locator("#product-options [role=option]").first.wait_for()
        search.press("ArrowDown")
        search.press("Enter")
        page.locator("#forecast-horizon").fill("4")
        timed("forecast", lambda: page.get_by_role("button", name="Forecast", exact=True).click(),
              "#forecast-result .forecast, #forecast-result .error")

        page.get_by_role("tab", name="New product").click()
        view = page.locator("#view-new")
        view.get_by_label("Title").fill("cinnamon raisin bagels 6 ct")
        view.get_by_label("Department").select_option("PASTRY")
        view.get_by_label("Price ($)").fill("3.49")
        timed("new", lambda: view.get_by_role("button", name="Forecast the launch").click(),
              "#new-result .analogs, #new-result .error")
        print(f"  analogs drawn: {view.locator('.analog').count()}")

        page.get_by_role("tab", name="Trend report").click()
        page.locator("#report-department").select_option("PASTRY")
        timed("report", lambda: page.get_by_role("button", name="Build the report").click(),
              "#report-result iframe, #report-result .error")
        narrative = page.frame_locator("#report-result iframe").get_by_text("Written by").first
        print(f"  {narrative.inner_text()}")
        page.context.close()
    print(f"\nJavaScript errors: {errors or 'none'}; requests outside the server: {outside or 'none'}")
    if errors or outside:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
