"""The web page at `/`: plain HTML, CSS and JavaScript shipped in the package (agent/api/web/), no build step.

The page calls the same JSON endpoints as any client (/ask, /forecast,
/new-product, /report, /products/*), so it can do nothing the API does not
allow, and draws its fan charts as inline SVG with a table beside each one.
Nothing is fetched from outside: the Content-Security-Policy below lets the
page load scripts and styles from this server only and connect nowhere else,
and the report arrives as a self-contained HTML page shown in a sandboxed
frame (no scripts run in it). The page itself needs no token; the endpoints it
calls do.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).with_name("web")
ASSETS_URL = "/assets"
# 'unsafe-inline' styles only: the report frame's <style> inherits this policy; no inline script may run.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")


def add_page(app: FastAPI) -> None:
    """Serve index.html at / and its script and stylesheet under /assets (the page itself only at /, with its CSP)."""
    app.mount(ASSETS_URL, StaticFiles(directory=WEB_DIR / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html",
                            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                     "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                                     "Cache-Control": "no-cache"})
