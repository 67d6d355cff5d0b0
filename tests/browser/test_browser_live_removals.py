"""Live removals and sign-out in a real Chromium: a deleted job's row leaves the open list (its
tile follows), its open detail page says it was deleted, and signing out in one tab turns every
open Jobs page of that session to "Signed out"."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.app_config(JOBS_ADMIN_LIVE_RECHECK=0.3)
def test_browser_deleted_job_leaves_the_list_and_its_detail_page_says_deleted(
    ui: Any, app: Any, jobs: Any, make_job: Any
) -> None:
    keep = make_job("completed", created_by="admin")
    doomed = make_job("completed", created_by="admin")
    ui.login("admin")
    ui.go("/admin/jobs/?flt0_created_within=all")
    page = ui.page
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    detail = page.context.new_page()
    detail.on("pageerror", lambda exc: pytest.fail(f"JavaScript error: {exc}"))
    detail.goto(f"{ui.base}/admin/jobs/details/?id={doomed}")
    expect(detail.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    row = page.locator(f'tr:has([data-jobs-admin-job="{doomed}"])')
    expect(row).to_have_count(1)
    expect(page.locator('[data-count="completed"]')).to_have_text("2")

    with app.app_context():
        jobs.delete(jobs.get(doomed))

    expect(row).to_have_count(0)
    expect(page.locator(f'tr:has([data-jobs-admin-job="{keep}"])')).to_have_count(1)
    expect(page.locator('[data-count="completed"]')).to_have_text("1")
    note = detail.locator(".jobs-admin-deleted")
    expect(note).to_contain_text("This job was deleted")
    expect(detail.locator(".jobs-admin-detail-actions button:not([disabled])")).to_have_count(0)

    # Signing out in the detail tab ends the session: the list tab's socket is closed at its
    # next recheck and the page says so instead of reconnecting.
    detail.goto(f"{ui.base}/logout")
    detail.locator("form[action='/logout'] button[type=submit]").first.click()
    live = page.locator("#jobs-admin-live")
    expect(live).to_have_attribute("data-state", "signedout")
    expect(live).to_have_text("Signed out")
    detail.close()
