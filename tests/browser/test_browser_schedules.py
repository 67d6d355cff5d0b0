"""The Schedules page in a real Chromium: times in the browser's zone, Run now, the switch, and
the last run updating without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from jobs_admin.service import find_schedule

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _forget_declared(jobs: Any) -> Iterator[None]:
    before = dict(jobs.registry.schedules)
    yield
    jobs.registry.schedules.clear()
    jobs.registry.schedules.update(before)


def test_schedules_page_run_now_switch_and_live_last_run(ui: Any, app: Any, jobs: Any) -> None:
    with app.app_context():
        jobs.schedule("nightly-reindex", "search.reindex", "0 3 * * *", timezone="Europe/Berlin")
        sid = find_schedule(jobs.runtime(), "nightly-reindex")["id"]
    ui.login("admin")
    ui.go("/admin/jobs/schedules/")
    row = ui.page.locator(f'tr[data-schedule-id="{sid}"]')
    expect(row).to_contain_text("At 03:00, every day")
    # The next run is shown in the browser's zone; the UTC time is on hover.
    next_time = row.locator(".jobs-admin-next time")
    assert "UTC" in (next_time.get_attribute("title") or "")
    assert "UTC" not in next_time.inner_text()
    # Run now: a job, flashed with its link; the last run cell links to it.
    row.get_by_role("button", name="Run now").click()
    expect(ui.page.locator(".alert-success")).to_contain_text("Started nightly-reindex now")
    row = ui.page.locator(f'tr[data-schedule-id="{sid}"]')
    expect(row.locator(".jobs-admin-last a")).to_contain_text("pending")
    # The job runs elsewhere (here: in the test): the badge follows without a reload.
    with app.app_context():
        jobs.work_off()
    expect(row.locator(".jobs-admin-last .badge")).to_have_text("completed", timeout=15000)
    # Off: the switch says so, and nothing is due.
    row.locator("form[action$='/disable'] button").click()
    row = ui.page.locator(f'tr[data-schedule-id="{sid}"]')
    expect(row.locator("form[action$='/enable'] button")).to_contain_text("Off")
    expect(row.locator(".jobs-admin-next")).to_have_text("—")
    with app.app_context():
        assert find_schedule(jobs.runtime(), sid)["enabled"] is False


def test_schedules_page_viewer_has_no_controls(ui: Any, app: Any, jobs: Any) -> None:
    ui.login("viewer")
    ui.go("/admin/jobs/schedules/")
    expect(ui.page.locator("#jobs-admin-schedules")).to_contain_text("jobs_admin.housekeeping")
    assert ui.page.locator("#jobs-admin-schedules form").count() == 0
    assert ui.page.locator("#jobs-admin-new-schedule").count() == 0
