"""Browser-only fixtures: the demo host served from a thread, and Debian's Chromium via Playwright.

The app is the shared ``app`` fixture (a SQLite file in ``tmp_path``, worker off) served by
``werkzeug.serving.make_server`` in a background thread of this process, so the test reads and
writes the same database the browser acts on. Never pytest-flask's forked ``live_server``.

Without ``/usr/bin/chromium`` or the ``playwright`` package the tests are skipped with the reason,
unless ``JOBS_ADMIN_REQUIRE_ALL=1`` (then they fail).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

#: Debian's Chromium (``JOBS_ADMIN_CHROMIUM`` points elsewhere); never ``playwright install``.
CHROMIUM = os.environ.get("JOBS_ADMIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: Playwright's default timeout for one action or expectation, in milliseconds.
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    if os.environ.get("JOBS_ADMIN_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (JOBS_ADMIN_REQUIRE_ALL=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed: {exc}")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        manager.stop()
        _unavailable(f"Chromium did not start: {exc}")
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    """The ``app`` served over HTTP from a background thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
        name="browser-test-server",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@dataclass
class UI:
    """A browser tab on the served app."""

    page: Any
    base: str
    downloads: Path

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, username: str = "admin", password: str | None = None) -> None:
        """Sign in through the host's login page."""
        self.go("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", username if password is None else password)
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")
        assert "/login" not in self.page.url, f"login as {username} failed"

    def flashes(self) -> list[str]:
        """The texts of the page's flash messages (without their close button)."""
        return [
            t.replace("\u00d7", "").strip() for t in self.page.locator(".alert").all_inner_texts()
        ]


@pytest.fixture
def ui(chromium: Any, served: str, tmp_path: Path) -> Iterator[UI]:
    """A fresh browser context (cookies, downloads) at 1400 px on the served app."""
    context = chromium.new_context(
        viewport={"width": 1400, "height": 900}, accept_downloads=True, base_url=served
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    try:
        yield UI(page, served, downloads)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
