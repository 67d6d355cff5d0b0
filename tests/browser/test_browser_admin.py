"""The jobs panel in a real Chromium: tiles, search, confirmations, details, export, clear old jobs.

Each test reads the database directly to check what the clicks did.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from jobs_admin.models import utcnow

pytestmark = [
    pytest.mark.browser,
    # Static files cached by the browser between the pages of one test: fewer requests.
    pytest.mark.app_config(SEND_FILE_MAX_AGE_DEFAULT=600),
]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def add(jobs: Any, job_type: str = "test.noop", by: str = "admin", **kw: Any) -> int:
    options = {k: kw.pop(k) for k in ("name", "reference") if k in kw}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, **kw).id)


def one_of_each(jobs: Any, db: Any) -> dict[str, int]:
    """One job per status; returns status -> id."""
    ids = {
        "completed": add(jobs, "test.noop", name="Nightly report"),
        "failed": add(jobs, "test.fail_once", name="Broken import", reference="PO-4711"),
        "partial": add(jobs, "test.items", "operator", count=4, fail_every=2, name="Items"),
    }
    jobs.work_off()
    ids["running"] = add(jobs, "test.items", name="Long export", count=3)
    with db.engine.begin() as conn:
        assert jobs.store.claim(conn, "test-host:1:admin", 10) == [ids["running"]]
    ids["pending"] = add(jobs, name="Waiting job")
    ids["cancelled"] = add(jobs, name="Stopped job")
    jobs.cancel(ids["cancelled"])
    return ids


def table_ids(page: Any) -> list[int]:
    texts = page.locator("table.model-list td.col-id a").all_inner_texts()
    return [int(t.strip().lstrip("#")) for t in texts]


def test_browser_tile_click_filters_the_table_and_highlights_the_tile(
    ui: Any, jobs: Any, db: Any, probe: Any
) -> None:
    ids = one_of_each(jobs, db)
    ui.login("admin")
    ui.go("/admin/jobs/")
    page = ui.page
    assert sorted(table_ids(page)) == sorted(ids.values())
    total = page.locator('[data-kpi="total"]')
    assert total.get_attribute("aria-current") == "true"
    assert page.locator('[data-count="failed"]').inner_text() == "1"
    with page.expect_navigation():
        page.click('[data-kpi="failed"]')
    assert "flt0_status_equals=failed" in page.url
    assert table_ids(page) == [ids["failed"]]
    failed = page.locator('[data-kpi="failed"]')
    assert failed.get_attribute("aria-current") == "true"
    assert "active" in (failed.get_attribute("class") or "").split()
    assert total.get_attribute("aria-current") == "false"
    # The highlighted tile looks different (filled), and the counts still cover everything.
    bg = failed.evaluate("e => getComputedStyle(e).backgroundColor")
    other_bg = page.locator('[data-kpi="pending"]').evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert bg != other_bg
    assert page.locator('[data-count="total"]').inner_text() == "6"
    # Flask-Admin's filter UI shows the same filter as active.
    assert page.locator("#filter_form table.filters tr").count() == 1
    with page.expect_navigation():
        page.click('[data-kpi="total"]')
    assert sorted(table_ids(page)) == sorted(ids.values())


def test_browser_search(ui: Any, jobs: Any, db: Any) -> None:
    ids = one_of_each(jobs, db)
    ui.login("operator")
    ui.go("/admin/jobs/")
    page = ui.page
    box = page.locator("form[role=search] input[name=search]")
    box.fill("PO-4711")
    with page.expect_navigation():
        box.press("Enter")
    assert "search=PO-4711" in page.url
    assert table_ids(page) == [ids["failed"]]
    assert box.input_value() == "PO-4711"
    box.fill("job")
    with page.expect_navigation():
        page.click("form[role=search] button[type=submit]")
    assert sorted(table_ids(page)) == sorted([ids["pending"], ids["cancelled"]])


def test_browser_retry_and_delete_with_confirmation(
    ui: Any, jobs: Any, db: Any, probe: Any
) -> None:
    ids = one_of_each(jobs, db)
    extra_failed = add(jobs, "test.fail_once", name="Another failure")
    jobs.work_off()  # (runs the pending one too)
    waiting = add(jobs, name="Waiting again")
    ui.login("admin")
    ui.go("/admin/jobs/?flt0_status_equals=failed")
    page = ui.page
    filtered_url = page.url

    # Retry: no confirmation, back on the same filtered page.
    with page.expect_navigation():
        page.click(f'button[aria-label="Retry job {ids["failed"]}"]')
    assert "flt0_status_equals=failed" in page.url
    filtered_url = page.url
    assert any(
        f.startswith(f"Job #{ids['failed']} ") and f.endswith("is queued again.")
        for f in ui.flashes()
    )
    assert probe.status(ids["failed"]) == "pending"
    assert table_ids(page) == [extra_failed]

    # Delete asks in an in-page dialog (never the browser's own); "Keep" changes nothing.
    seen: list[str] = []
    page.on("dialog", lambda dialog: seen.append(dialog.message))
    dialog = page.locator("#jobs-admin-confirm")
    page.click(f'button[aria-label="Delete job {extra_failed}"]')
    expect(dialog).to_be_visible()
    expect(dialog.locator(".modal-title")).to_have_text(f"Delete job #{extra_failed}?")
    expect(dialog.locator(".modal-body")).to_have_text(
        f"Job #{extra_failed} is deleted with its log and result file. This cannot be undone."
    )
    dialog.locator("button:has-text('Keep')").click()
    expect(dialog).to_be_hidden()
    assert page.url == filtered_url
    assert probe.status(extra_failed) == "failed"

    # "Delete job": the job is gone, same page.
    page.click(f'button[aria-label="Delete job {extra_failed}"]')
    with page.expect_navigation():
        dialog.locator("button:has-text('Delete job')").click()
    assert page.url == filtered_url
    assert f"Job {extra_failed} is deleted." in ui.flashes()
    assert probe.job(extra_failed) is None
    assert table_ids(page) == []

    # Cancel asks too, in words that cannot be misread; "Keep it queued" keeps it pending.
    ui.go("/admin/jobs/?flt0_status_equals=pending")
    page.click(f'button[aria-label="Cancel job {waiting}"]')
    expect(dialog.locator(".modal-title")).to_have_text(f"Cancel job #{waiting}?")
    buttons = dialog.locator(".modal-footer button")
    expect(buttons).to_have_text(["Keep it queued", "Cancel job"])
    dialog.locator("button:has-text('Keep it queued')").click()
    expect(dialog).to_be_hidden()
    assert probe.status(waiting) == "pending"
    assert seen == []


def test_browser_bulk_delete_with_confirmation(ui: Any, jobs: Any, db: Any, probe: Any) -> None:
    ids = one_of_each(jobs, db)
    ui.login("admin")
    ui.go("/admin/jobs/")
    page = ui.page
    for key in ("completed", "pending"):
        page.check(f'input.action-checkbox[value="{ids[key]}"]')
    seen: list[str] = []
    page.on("dialog", lambda dialog: seen.append(dialog.message))
    dialog = page.locator("#jobs-admin-confirm")
    page.get_by_role("button", name="With selected").click()
    page.click(".dropdown-menu >> text=Delete")
    expect(dialog.locator(".modal-title")).to_have_text("Delete 2 jobs?")
    expect(dialog.locator(".modal-body")).to_contain_text("Pending and running jobs are skipped.")
    dialog.locator("button:has-text('Keep them')").click()
    expect(dialog).to_be_hidden()
    assert probe.status(ids["completed"]) == "completed"
    page.get_by_role("button", name="With selected").click()
    page.click(".dropdown-menu >> text=Delete")
    with page.expect_navigation():
        dialog.locator("button:has-text('Delete jobs')").click()
    assert seen == []
    flashes = " ".join(ui.flashes())
    assert "Deleted 1 job." in flashes
    assert f"Skipped 1: #{ids['pending']} is pending" in flashes
    assert probe.job(ids["completed"]) is None
    assert probe.status(ids["pending"]) == "pending"


def test_browser_detail_page_sections_and_stack_trace(
    ui: Any, jobs: Any, db: Any, probe: Any
) -> None:
    ids = one_of_each(jobs, db)
    ui.login("admin")
    ui.go("/admin/jobs/")
    page = ui.page
    with page.expect_navigation():
        page.click(f'a[aria-label="View job {ids["failed"]}"]')
    assert f"id={ids['failed']}" in page.url
    headers = page.locator(".card-header").all_inner_texts()
    for section in ("Overview", "Progress", "Error", "Steps", "History", "Log", "Params", "Result"):
        assert any(h.strip().startswith(section) for h in headers), section
    trace = page.locator("#jobs-admin-traceback")
    assert not trace.is_visible()
    page.click("text=Stack trace")
    trace.wait_for(state="visible")
    assert "Traceback (most recent call last)" in trace.inner_text()
    assert 'raise ValueError("no luck")' in trace.inner_text()
    assert page.locator(".jobs-admin-error-message").inner_text() == "ValueError: no luck"
    # The allowed actions for an admin on a failed job.
    buttons = page.locator(".jobs-admin-detail-actions button").all_inner_texts()
    assert [b.strip() for b in buttons] == ["Retry", "Delete"]
    # A partial job: failed items and the retry-failed-items action.
    ui.go(f"/admin/jobs/details/?id={ids['partial']}")
    items = page.locator(".jobs-admin-failed-items td.text-monospace").all_inner_texts()
    assert items == ["items-0", "items-2"]
    buttons = page.locator(".jobs-admin-detail-actions button").all_inner_texts()
    assert [b.strip() for b in buttons] == [
        "Retry all 4 items",
        "Retry the 2 failed items",
        "Delete",
    ]
    with page.expect_navigation():
        page.click("button:has-text('Retry the 2 failed items')")
    (new,) = probe.jobs(retry_of=ids["partial"])
    assert any(
        f.startswith(f"Started job #{new['id']} ")
        and f.endswith(f"over the failed items of job #{ids['partial']}.")
        for f in ui.flashes()
    )
    with page.expect_navigation():
        page.click(f"a:has-text('#{new['id']}')")
    assert f"id={new['id']}" in page.url
    assert page.locator(".jobs-admin-overview").inner_text().count(f"#{ids['partial']}") == 1


def test_browser_result_file_download(ui: Any, jobs: Any) -> None:
    job_id = add(jobs, "test.result_file", filename="report.txt")
    jobs.work_off()
    ui.login("admin")
    ui.go(f"/admin/jobs/details/?id={job_id}")
    with ui.page.expect_download() as info:
        ui.page.click("#jobs-admin-download")
    download = info.value
    assert download.suggested_filename == "report.txt"
    target = ui.downloads / "report.txt"
    download.save_as(target)
    assert target.read_text() == f"job {job_id}\n"


def test_browser_export_downloads_the_filtered_csv(ui: Any, jobs: Any, db: Any) -> None:
    ids = one_of_each(jobs, db)
    ui.login("operator")
    ui.go("/admin/jobs/?flt0_status_equals=failed")
    page = ui.page
    with page.expect_download() as info:
        page.click("a:has-text('Export CSV')")
    download = info.value
    assert download.suggested_filename == "jobs-export.csv"
    target = ui.downloads / "jobs.csv"
    download.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [int(r["ID"]) for r in rows] == [ids["failed"]]
    assert rows[0]["Status"] == "failed" and rows[0]["Error"] == "ValueError: no luck"
    assert rows[0]["Reference"] == "PO-4711"


def test_browser_clear_old_jobs_modal(ui: Any, jobs: Any, db: Any, probe: Any) -> None:
    ids = one_of_each(jobs, db)
    long_ago = utcnow() - timedelta(days=45)
    for key in ("completed", "failed"):
        probe.update(ids[key], created_at=long_ago, finished_at=long_ago)
    probe.update(ids["pending"], created_at=long_ago)
    ui.login("admin")
    ui.go("/admin/jobs/?flt0_status_equals=partial")
    page = ui.page
    modal = page.locator("#jobs-admin-prune")
    assert not modal.is_visible()
    page.click("#jobs-admin-prune-open")
    modal.wait_for(state="visible")
    days = page.locator("#jobs-admin-prune-days")
    assert days.input_value() == "30"
    # It says how many jobs would go (the pending one, however old, is not among them).
    count = page.locator("#jobs-admin-prune-count")
    expect(count).to_have_text("2 finished jobs finished more than 30 days ago will be deleted.")
    days.fill("50")
    expect(count).to_have_text("No finished job is that old: nothing would be deleted.")
    expect(page.locator("#jobs-admin-prune-submit")).to_be_disabled()
    days.fill("30")
    expect(count).to_contain_text("2 finished jobs")
    # "Keep all jobs" closes it and deletes nothing.
    page.click("#jobs-admin-prune button:has-text('Keep all jobs')")
    modal.wait_for(state="hidden")
    assert probe.count() == 6
    page.click("#jobs-admin-prune-open")
    modal.wait_for(state="visible")
    days.fill("40")
    with page.expect_navigation():
        page.click("#jobs-admin-prune-submit")
    assert "flt0_status_equals=partial" in page.url
    # The request queued a built-in prune job and links it; nothing is deleted yet.
    (prune,) = probe.jobs(type="jobs_admin.prune")
    assert prune["params"] == {"days": 40} and prune["status"] == "pending"
    assert f"Clearing finished jobs older than 40 days in job #{prune['id']}." in ui.flashes()
    assert probe.count() == 7
    with page.expect_navigation():
        page.click(f".alert a:has-text('#{prune['id']}')")
    assert f"id={prune['id']}" in page.url
    assert jobs.work_off() == 2  # the prune and the pending no-op
    assert probe.job(prune["id"])["result"] == {"deleted": 2, "days": 40}
    assert probe.job(ids["completed"]) is None and probe.job(ids["failed"]) is None
    assert probe.count() == 5


def test_browser_operator_and_viewer_see_only_what_they_may_use(
    ui: Any, jobs: Any, db: Any
) -> None:
    ids = one_of_each(jobs, db)
    own = add(jobs, by="viewer", name="Viewer's own")
    ui.login("operator")
    ui.go("/admin/jobs/")
    page = ui.page
    assert page.locator("#jobs-admin-prune-open").count() == 0
    assert page.locator(f'button[aria-label="Delete job {ids["failed"]}"]').count() == 0
    assert page.locator(f'button[aria-label="Retry job {ids["failed"]}"]').count() == 1
    ui.page.context.clear_cookies()
    ui.login("viewer")
    ui.go("/admin/jobs/")
    assert table_ids(page) == [own]
    assert page.locator("a:has-text('Export CSV')").count() == 0
    assert page.locator("a:has-text('Run job')").count() == 0
    assert page.locator("form.jobs-admin-action").count() == 0
    assert page.locator('[data-count="total"]').inner_text() == "1"


def test_browser_hostile_job_data_runs_no_script(ui: Any, jobs: Any, db: Any) -> None:
    job_id = add(jobs, "test.items", name=SCRIPT, reference=IMG, count=2, fail_every=1, label=IMG)
    failed = add(jobs, "test.fail", name=IMG, message=SCRIPT)
    jobs.work_off()
    dialogs: list[str] = []
    ui.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    ui.login("admin")
    ui.go("/admin/jobs/")
    assert ui.page.locator(f"text={SCRIPT}").count() >= 1
    ui.go(f"/admin/jobs/details/?id={job_id}")
    assert IMG in ui.page.locator(".jobs-admin-failed-items").inner_text()
    ui.go(f"/admin/jobs/details/?id={failed}")
    ui.page.click("text=Stack trace")
    ui.page.wait_for_timeout(200)
    assert ui.page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_browser_run_form(ui: Any, jobs: Any, probe: Any) -> None:
    ui.login("operator")
    ui.go("/admin/jobs/")
    page = ui.page
    with page.expect_navigation():
        page.click("a:has-text('Run job')")
    page.select_option("#jobs-admin-type", "test.items")  # the form follows at once
    page.locator("#jobs-admin-run-form[data-type='test.items']").wait_for()
    # The browser itself refuses a count below the form's minimum: nothing is posted.
    page.fill("#count", "-5")
    page.click("#jobs-admin-run-form button[type=submit]")
    page.wait_for_timeout(300)
    assert page.locator("#count").evaluate("e => e.validity.rangeUnderflow")
    assert "/admin/jobs/new" in page.url and probe.count() == 0
    # The server refuses it too (with the browser's check switched off).
    page.evaluate("document.getElementById('jobs-admin-run-form').noValidate = true")
    with page.expect_navigation():
        page.click("#jobs-admin-run-form button[type=submit]")
    feedback = page.locator(".invalid-feedback").inner_text()
    assert feedback == "Number must be between 0 and 100000."
    assert probe.count() == 0
    page.fill("#count", "3")
    with page.expect_navigation():
        page.click("#jobs-admin-run-form button[type=submit]")
    (job,) = probe.jobs()
    assert job["params"]["count"] == 3 and job["created_by"] == "operator"
    assert re.search(rf"Started job #{job['id']} Test: items", " ".join(ui.flashes()))
