"""Actions on everything a filter matches, in a real Chromium: the select-all bar, the
confirmation naming the exact count and the filter, and the flash linking to the bulk job."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_browser_select_all_matching_and_retry(ui: Any, app: Any, jobs: Any, probe: Any) -> None:
    with app.app_context():
        for _ in range(30):
            jobs.enqueue("test.fail_once", commit=True)
        assert jobs.work_off() == 30
        jobs.enqueue("test.noop", commit=True)  # pending: not in the filter
    page = ui.page
    ui.login("admin")
    ui.go("/admin/jobs/?flt0_status_equals=failed")
    bar = page.locator("#jobs-admin-selectall")
    expect(bar).to_be_hidden()
    page.locator("input.action-rowtoggle").check()
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("All 25 jobs on this page are selected.")
    bar.get_by_role("button", name="Select all 30 jobs matching this filter").click()
    expect(bar).to_contain_text("All 30 jobs matching this filter are selected")
    page.get_by_role("button", name="With selected").click()
    page.get_by_role("link", name="Retry").click()
    dialog = page.locator("#jobs-admin-confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Retry all 30 jobs matching this filter?")
    expect(dialog).to_contain_text("Filter: Status: Failed")
    with page.expect_navigation():
        dialog.get_by_role("button", name="Retry 30 jobs").click()
    flash = page.locator(".alert-success")
    expect(flash).to_contain_text("Retry of 30 jobs matching Status: Failed")
    link = flash.locator("a")
    expect(link).to_have_attribute("href", __import__("re").compile(r"/admin/jobs/details/"))
    (bulk,) = probe.jobs(type="jobs_admin.bulk")
    assert bulk["params"]["action"] == "retry" and bulk["status"] == "pending"
