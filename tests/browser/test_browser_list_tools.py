"""The job list's tools in a real Chromium (issue 14): Refresh, the collapsible filter bar and
its chips, the Columns menu, rows that open their job, the live row buttons, 1024 px.

Each test reads or changes the database directly, as another process would.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from jobs_admin.models import JobStatus

pytestmark = [pytest.mark.browser, pytest.mark.app_config(SEND_FILE_MAX_AGE_DEFAULT=600)]

GHOST = "ghost:1:test"  # the worker make_job("running") claims jobs for


def table_ids(page: Any) -> list[int]:
    texts = page.locator("table.model-list td.col-id a").all_inner_texts()
    return [int(t.strip().lstrip("#")) for t in texts]


def mark(page: Any) -> None:
    """Mark the page: the mark survives anything but a new page load."""
    page.evaluate("window.jobsAdminTestMark = 1")


def same_page(page: Any) -> bool:
    return bool(page.evaluate("window.jobsAdminTestMark === 1"))


def test_browser_refresh_reloads_tiles_and_table_in_place_with_the_socket_down(
    ui: Any, jobs: Any, make_job: Any
) -> None:
    page = ui.page
    # The live socket cannot connect: Refresh is what brings the changes.
    page.route_web_socket("**/admin/jobs/ws**", lambda ws: ws.close(code=1011))
    old = make_job("failed", name="First failure")
    ui.login("admin")
    ui.go("/admin/jobs/?flt0_status_equals=failed&sort=1")
    url = page.url
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "offline")
    assert table_ids(page) == [old]
    expect(page.locator('[data-count="failed"]')).to_have_text("1")
    mark(page)
    new = make_job("failed", name="Second failure")
    make_job("completed")
    page.click("#jobs-admin-refresh")
    expect(page.locator("table.model-list td.col-id a")).to_have_count(2)
    assert sorted(table_ids(page)) == sorted([old, new])  # the filter is kept
    expect(page.locator('[data-count="failed"]')).to_have_text("2")
    expect(page.locator('[data-count="total"]')).to_have_text("3")
    expect(page.locator(".nav-tabs .nav-link.active")).to_have_text("List (2)")
    assert page.url == url and same_page(page)
    # Ticks survive on the rows still listed, and "select all" reaches the new rows.
    page.check(f'input.action-checkbox[value="{old}"]')
    page.evaluate("document.querySelector('table.model-list tbody').dataset.before = '1'")
    page.click("#jobs-admin-refresh")
    expect(page.locator("table.model-list tbody[data-before]")).to_have_count(0)
    expect(page.locator(f'input.action-checkbox[value="{old}"]')).to_be_checked()
    expect(page.locator(f'input.action-checkbox[value="{new}"]')).not_to_be_checked()
    page.check("input.action-rowtoggle")
    expect(page.locator("input.action-checkbox:checked")).to_have_count(2)
    # The new rows open their job like the old ones.
    page.locator(f'tr:has(a[data-jobs-admin-job="{new}"]) td.col-status').click()
    page.wait_for_url(re.compile(rf"/details/\?id={new}&"))


def test_browser_filter_bar_collapses_to_removable_chips_and_stays_so(
    ui: Any, jobs: Any, make_job: Any
) -> None:
    make_job("failed", name="Broken export")
    ui.login("admin")
    page = ui.page
    ui.go("/admin/jobs/?flt0_status_equals=failed&search=export")
    search = page.locator("form[role=search]")
    chips = page.locator(".jobs-admin-chips")
    expect(search).to_be_visible()
    expect(chips).to_be_hidden()
    toggle = page.locator("#jobs-admin-filters-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(search).to_be_hidden()
    expect(page.locator(".jobs-admin-presets")).to_be_hidden()
    expect(chips).to_be_visible()
    expect(chips.locator(".jobs-admin-chip")).to_have_text(
        [
            "Status: Failed \u00d7",
            "Search: export \u00d7",
            "Created: Last 7 days (default) \u00d7",
        ]
    )
    # Remembered: a new page of the list opens collapsed.
    ui.go("/admin/jobs/?flt0_status_equals=failed&search=export")
    expect(search).to_be_hidden()
    expect(toggle).to_have_text("Show filters")
    # A chip's remove link drops its filter only.
    with page.expect_navigation():
        chips.locator(".jobs-admin-chip:has-text('Status: Failed') a").click()
    assert "status_equals" not in page.url and "search=export" in page.url
    expect(chips.locator(".jobs-admin-chip")).to_have_count(2)
    toggle.click()
    expect(search).to_be_visible()
    ui.go("/admin/jobs/")
    expect(search).to_be_visible()
    expect(chips).to_be_hidden()


def test_browser_columns_menu_shows_hides_and_remembers_optional_columns(
    ui: Any, jobs: Any, db: Any, make_job: Any
) -> None:
    job_id = make_job("running", name="Import")
    with db.engine.begin() as conn:
        jobs.store.progress(
            conn, job_id, GHOST, {"progress_total": 100, "progress_done": 45, "message": "Row 45"}
        )
    ui.login("admin")
    page = ui.page
    ui.go("/admin/jobs/")
    message = page.locator("table.model-list td.col-message")
    items = page.locator("table.model-list td.col-items")
    expect(message).to_be_hidden()
    page.click("#jobs-admin-columns")
    page.check('input[data-column="message"]')
    page.check('input[data-column="items"]')
    expect(message).to_be_visible()
    expect(message).to_have_text("Row 45")
    expect(items).to_have_text("45 of 100")
    expect(page.locator("table.model-list th.col-items")).to_be_visible()
    # The live updates fill them as the job moves on.
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    with db.engine.begin() as conn:
        jobs.store.progress(
            conn, job_id, GHOST, {"progress_done": 60, "message": "Row 60 <of> 100"}
        )
    expect(items).to_have_text("60 of 100")
    expect(message).to_have_text("Row 60 <of> 100")
    # Remembered per browser: another page load shows them, and the boxes are ticked.
    ui.go("/admin/jobs/?sort=1")
    expect(message).to_be_visible()
    stored = page.evaluate("localStorage.getItem('jobs_admin.columns')")
    assert json.loads(stored) == ["message", "items"]
    page.click("#jobs-admin-columns")
    expect(page.locator('input[data-column="items"]')).to_be_checked()
    page.uncheck('input[data-column="message"]')
    expect(message).to_be_hidden()
    page.click("#jobs-admin-columns-reset")
    expect(items).to_be_hidden()
    assert page.evaluate("localStorage.getItem('jobs_admin.columns')") is None


def test_browser_a_row_opens_its_job_by_click_or_enter_but_not_from_its_controls(
    ui: Any, jobs: Any, make_job: Any, probe: Any
) -> None:
    first = make_job("failed")
    second = make_job("completed")
    ui.login("admin")
    page = ui.page
    ui.go("/admin/jobs/")
    row = page.locator(f'tr:has(a[data-jobs-admin-job="{first}"])')
    # The checkbox ticks; the retry button asks nothing and posts; neither opens the job.
    row.locator("input.action-checkbox").click()
    expect(row.locator("input.action-checkbox")).to_be_checked()
    assert "/details/" not in page.url
    # Anywhere else on the row opens it.
    row.locator("td.col-created_by").click()
    page.wait_for_url(re.compile(rf"/details/\?id={first}&"))
    page.go_back()
    other = page.locator(f'tr:has(a[data-jobs-admin-job="{second}"])')
    other.focus()
    expect(other).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/details/\?id={second}&"))
    page.go_back()
    with page.expect_navigation():
        page.locator(
            f'tr:has(a[data-jobs-admin-job="{first}"]) button[aria-label="Retry job {first}"]'
        ).click()
    assert "/details/" not in page.url and probe.status(first) == "pending"


def test_browser_row_buttons_follow_the_jobs_live_changes(
    ui: Any, jobs: Any, db: Any, make_job: Any
) -> None:
    running = make_job("running", "test.result_file", created_by="admin")
    queued = make_job("pending", created_by="admin")
    ui.login("operator")  # may retry and cancel, not delete
    page = ui.page
    ui.go("/admin/jobs/")
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    mark(page)
    row = page.locator(f'tr:has(a[data-jobs-admin-job="{running}"]) td.list-buttons-column')
    expect(row.locator(f'button[aria-label="Cancel job {running}"]')).to_have_count(1)
    # It fails with a result file: Cancel goes, Retry and Download come.
    with db.engine.begin() as conn:
        jobs.store.finish(
            conn,
            running,
            GHOST,
            JobStatus.FAILED,
            {"error": "boom", "result_file": f"{running}/report.txt", "phase": None},
        )
    expect(row.locator(f'button[aria-label="Retry job {running}"]')).to_have_count(1)
    expect(row.locator(f'button[aria-label="Cancel job {running}"]')).to_have_count(0)
    expect(row.locator("a.jobs-admin-download")).to_have_count(1)
    expect(row.locator("button[aria-label^='Delete']")).to_have_count(0)  # not permitted
    # A queued job that an admin cancels: its Cancel goes, Retry comes.
    other = page.locator(f'tr:has(a[data-jobs-admin-job="{queued}"]) td.list-buttons-column')
    expect(other.locator(f'button[aria-label="Cancel job {queued}"]')).to_have_count(1)
    jobs.cancel(queued)
    expect(other.locator(f'button[aria-label="Retry job {queued}"]')).to_have_count(1)
    expect(other.locator(f'button[aria-label="Cancel job {queued}"]')).to_have_count(0)
    assert same_page(page)


def test_browser_the_stop_dialog_says_what_happens_to_a_running_job_on_list_and_detail(
    ui: Any, make_job: Any, probe: Any
) -> None:
    running = make_job("running")
    ui.login("admin")
    page = ui.page
    ui.go("/admin/jobs/")
    page.click(f'button[aria-label="Cancel job {running}"]')
    dialog = page.locator("#jobs-admin-confirm")
    expect(dialog.locator(".modal-title")).to_have_text(f"Stop job #{running}?")
    expect(dialog.locator(".modal-footer button")).to_have_text(["Keep running", "Stop job"])
    expect(dialog.locator(".jobs-admin-confirm-no")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert probe.job(running)["cancel_requested"] in (False, 0)
    # The detail page asks the same way.
    ui.go(f"/admin/jobs/details/?id={running}")
    page.click(".jobs-admin-detail-actions button:has-text('Cancel')")
    expect(dialog.locator(".modal-title")).to_have_text(f"Stop job #{running}?")
    with page.expect_navigation():
        dialog.locator("button:has-text('Stop job')").click()
    assert probe.job(running)["cancel_requested"] in (True, 1)


def test_browser_at_1024_px_tiles_wrap_evenly_and_default_columns_fit(
    ui: Any, jobs: Any, make_job: Any
) -> None:
    for status in ("failed", "partial", "completed", "running", "pending", "cancelled"):
        make_job(status, name=f"A {status} job with a long name", reference="CAT-2026-0815")
    ui.login("admin")
    page = ui.page
    page.set_viewport_size({"width": 1024, "height": 800})
    ui.go("/admin/jobs/")
    tops = page.evaluate(
        "[...document.querySelectorAll('.jobs-admin-kpi')].map(t => t.getBoundingClientRect().top)"
    )
    rows: dict[float, int] = {}
    for top in tops:
        rows[round(top)] = rows.get(round(top), 0) + 1
    assert sorted(rows.values()) == [3, 4], rows  # 4 + 3, never one alone
    box = "document.querySelector('.table-responsive')"
    assert page.evaluate(f"{box}.scrollWidth <= {box}.clientWidth + 1")
    expect(page.locator("table.model-list td.col-reference").first).to_be_visible()
    # Every optional column chosen: those without room are dropped, never the default ones.
    page.evaluate(
        "localStorage.setItem('jobs_admin.columns', JSON.stringify(["
        "'message','started_at','updated_at','updated_by','percent','items','attempts',"
        "'priority','worker']))"
    )
    ui.go("/admin/jobs/")
    assert page.evaluate(f"{box}.scrollWidth <= {box}.clientWidth + 1")
    expect(page.locator("table.model-list td.col-reference").first).to_be_visible()
    page.click("#jobs-admin-columns")
    expect(page.locator(".jobs-admin-no-room:visible").first).to_be_visible()
    # Wider, they come back.
    page.set_viewport_size({"width": 1400, "height": 800})
    expect(page.locator("table.model-list th.col-message")).to_be_visible()
