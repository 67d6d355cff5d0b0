"""The list and the detail page in German, in a real Chromium: the demo's language menu, the
server's strings, the live script's own strings and the times it writes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_browser_list_and_detail_in_german(ui: Any, jobs: Any, make_job: Any) -> None:
    failed = make_job("failed")
    make_job("completed")
    ui.login("admin")
    ui.go("/admin/jobs/")
    # The demo's navbar menu switches the whole admin's language, as a user would.
    ui.page.click("#shop-language button")
    with ui.page.expect_navigation():
        ui.page.click("#shop-language a[lang=de]")
    assert ui.page.url.endswith("/admin/jobs/")
    page = ui.page
    # Server-side strings: tiles, toolbar, status badges, column headers.
    expect(page.locator(".jobs-admin-kpis")).to_have_attribute("aria-label", "Jobs nach Status")
    expect(page.locator("#jobs-admin-refresh")).to_contain_text("Aktualisieren")
    row = page.locator(f'tr:has([data-jobs-admin-job="{failed}"])')
    expect(row.locator(".jobs-admin-status")).to_have_text("Fehlgeschlagen")
    # Flask-Admin's own strings follow the same locale (its own catalogue).
    expect(page.get_by_text("Filter hinzufügen")).to_be_visible()
    # The live script's strings: its state label and tooltip once the socket is open.
    live = page.locator("#jobs-admin-live")
    expect(live).to_have_attribute("title", "Live-Aktualisierung: verbunden")
    # Relative times written by the script are German too ("gerade eben", "vor 3 Minuten").
    times = page.locator(".jobs-admin-time").all_inner_texts()
    assert times and not any(re.search(r"\bago\b|just now", t) for t in times), times
    # The detail page.
    with page.expect_navigation():
        page.click(f'a[data-jobs-admin-job="{failed}"]')
    expect(page.get_by_text("Zurück zu den Jobs")).to_be_visible()
    expect(page.locator(".jobs-admin-error .card-header")).to_contain_text("Fehler")
    expect(page.locator(".jobs-admin-detail h2 .jobs-admin-status")).to_have_text("Fehlgeschlagen")
    expect(page.locator("#jobs-admin-live")).to_have_attribute(
        "title", "Live-Aktualisierung: verbunden"
    )
    assert "Back to jobs" not in page.content()
