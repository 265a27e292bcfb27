"""Browser fixtures: the real app served over HTTP on a free port, and Debian's chromium driven
through Playwright's sync API (never a downloaded browser)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

from tests.conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: fail in seconds rather than Playwright's 30: every page here is local and small
TIMEOUT_MS = 10_000


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared test settings, with CSRF back on: the browser must post the forms' real tokens."""
    return app_config | {"WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False}


@pytest.fixture
def live_server(app: Flask, demo: None) -> Iterator[str]:
    """The app with the demo municipality, served by Werkzeug in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # QR codes and tracking links must lead back to this server
    app.config["PUBLIC_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="live-server", daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module: Playwright's sync API runs an event loop in this thread, so
    it stops before the next module, where code may run ``asyncio.run`` (pyHanko does)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_context(browser: Browser, live_server: str) -> Iterator[Callable[[], BrowserContext]]:
    """Makes fresh browser contexts (own cookies: another person) on the live server; closes
    them before the server stops."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(base_url=live_server, accept_downloads=True, locale="es-MX",
                                      timezone_id="America/Mexico_City")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    return new_context().new_page()
