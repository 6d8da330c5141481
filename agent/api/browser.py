"""Headless Debian Chromium driven by Playwright: for the web page's browser tests and its check under eval/.

Playwright's own browser downloads are never used (nothing is fetched from
outside): it drives /usr/bin/chromium from Debian's `chromium` package, which
`make test` installs when it is missing. Playwright gives every launch a fresh
temporary profile (--user-data-dir) and removes it afterwards. Playwright is a
test dependency, so it is imported only when a browser is launched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# The flags that work on these machines: no GPU, no sandbox as root, nothing phoning home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOOPBACK_ONLY = re.compile(r"^(?!http://127\.0\.0\.1:\d+/).*")


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (playwright Browser); FileNotFoundError naming the fix when it is missing."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`, or "
                                "apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def loopback_page(browser: Any, outside: list[str], errors: list[str], timeout_ms: float, **options: Any) -> Any:
    """A page in a fresh context that may load from 127.0.0.1 only: any other request is aborted and its URL
    appended to `outside`; uncaught JavaScript errors are appended to `errors`."""
    context = browser.new_context(**options)
    context.route(LOOPBACK_ONLY, lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(timeout_ms)
    return page


def screenshot(page: Any, path: Path, full_page: bool = True) -> Path:
    """A PNG of the page, reduced to 256 colours (about a third of the size; the page's flat colours survive)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)
    return path
