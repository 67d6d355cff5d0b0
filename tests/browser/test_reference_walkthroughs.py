"""One walk per reference page (``shared/reference/*.txt``, issue 14): its numbered how-to steps
followed in Chromium on the demo shop, as that page's user would, in the product's names.

Each test builds the demo the way ``flask demo init`` and ``flask demo seed`` do (or runs the
demo's own job types), clicks and types in the browser, reads what the page shows, and after
each step checks the state: job statuses in the database, tile counts, rows, flashes, files.
Jobs run through ``jobs.work_off()`` in the test (the worker of the served app is off) or, where
a step watches a job that is really running, through the app's own worker thread.

Where a page describes something the product does not have, a comment says so and the test
checks the nearest thing the product does.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from jobs_admin.i18n import format_datetime
from jobs_admin.models import utcnow

pytestmark = [pytest.mark.browser, pytest.mark.app_config(SEND_FILE_MAX_AGE_DEFAULT=600)]

#: ``flask demo seed --random-seed 1 --count 20 --days 6``: every status, among them a failed
#: flaky sales report (its warehouse timed out on every attempt) and a failed VAT report.
SEED = ["--count", "20", "--days", "6", "--random-seed", "1"]

FINISHED = ("completed", "partial", "failed", "cancelled")


@pytest.fixture
def demo(app: Any) -> Callable[..., None]:
    """``demo(*seed_args)``: ``flask demo init``, then ``flask demo seed`` with those args."""

    def run(*seed_args: str) -> None:
        runner = app.test_cli_runner()
        result = runner.invoke(args=["demo", "init"])
        assert result.exit_code == 0, result.output
        if seed_args:
            result = runner.invoke(args=["demo", "seed", *seed_args])
            assert result.exit_code == 0, result.output

    return run


@pytest.fixture
def worker(app: Any, jobs: Any) -> Iterator[Callable[[], Any]]:
    """``worker()`` starts the served app's own worker thread (stopped after the test)."""

    def start() -> Any:
        return jobs.start_worker(1)

    yield start
    jobs.stop_worker(wait=True)


def table_ids(page: Any) -> list[int]:
    texts = page.locator("table.model-list td.col-id a").all_inner_texts()
    return [int(t.strip().lstrip("#")) for t in texts]


def row(page: Any, job_id: int) -> Any:
    return page.locator(f'table.model-list tr:has(a[data-jobs-admin-job="{job_id}"])')


def tiles(page: Any) -> dict[str, int]:
    counts = {}
    for tile in page.locator("[data-count]").all():
        counts[str(tile.get_attribute("data-count"))] = int(tile.inner_text())
    return counts


def db_counts(probe: Any) -> dict[str, int]:
    """Jobs per status in the database, with the total, as the tiles show them."""
    by_status = probe.group_by_status()
    statuses = ("pending", "running", "completed", "partial", "failed", "cancelled")
    counts = {s: by_status.get(s, 0) for s in statuses}
    return {"total": sum(counts.values()), **counts}


def ids_where(probe: Any, **where: Any) -> list[int]:
    return sorted(int(j["id"]) for j in probe.jobs(**where))


def add_filter(page: Any, name: str, *, option: str | None = None, text: str = "") -> None:
    """Flask-Admin's "Add Filter" menu: pick the filter ``name``, choose ``option`` in its
    select2 box or type ``text``, then Apply."""
    page.click("a.nav-link:has-text('Add Filter')")
    page.click(f".field-filters a:text-is('{name}')")
    line = page.locator("#filter_form table.filters tr").last
    if option is not None:
        line.locator(".select2-container.filter-val").click()
        page.locator(".select2-drop-active .select2-result-label", has_text=option).first.click()
    else:
        line.locator("input.filter-val").fill(text)
    with page.expect_navigation():
        page.click("#filter_form button:has-text('Apply')")


def enqueue(jobs: Any, job_type: str, by: str, **params: Any) -> int:
    options = {k: params.pop(k) for k in ("name", "reference", "priority") if k in params}
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **options, params=params).id)


# -- background-jobs-retry -----------------------------------------------------------------


def test_walkthrough_background_jobs_retry(
    ui: Any, jobs: Any, demo: Any, probe: Any, app: Any
) -> None:
    """background-jobs-retry.txt, as an operator (the page's "View" and "Retry" roles).

    - Access Background Jobs: open the jobs panel from the menu; every job is listed.
    - Job information: the optional Message, Last updated and Updated by columns.
    - Filter and search jobs: by status (Error), by type, by the user who created them.
    - Resolve failed jobs, step 1: View Details of the failed job; read its error message,
      its parameters JSON, its timestamps.
    - Step 2: correct the underlying issue (outside the product).
    - Step 3: back to the overview, locate the failed job, click Retry; it is requeued and
      processed again.
    - Download Results: the completed job's result file downloads.
    """
    demo(*SEED)
    (flaky,) = ids_where(probe, status="failed", type="reports.flaky")
    failed = probe.job(flaky)
    page = ui.page
    ui.login("operator")

    # Access: the menu's "Jobs" (the page's "Connect > Background Jobs") lists every job.
    ui.go("/admin/")
    with page.expect_navigation():
        page.click("nav a.nav-link:has-text('Jobs')")
    assert page.url.endswith("/admin/jobs/")
    assert sorted(table_ids(page)) == ids_where(probe)
    assert tiles(page) == db_counts(probe)

    # Job information: Message, Last updated and Updated by are optional columns.
    page.click("#jobs-admin-columns")
    for column in ("message", "updated_at", "updated_by"):
        page.check(f'input[data-column="{column}"]')
    page.keyboard.press("Escape")
    failed_row = row(page, flaky)
    expect(failed_row.locator("td.col-updated_by")).to_have_text(failed["updated_by"])
    expect(failed_row.locator("td.col-updated_at time")).to_be_visible()
    expect(failed_row.locator("td.col-status .jobs-admin-status")).to_have_text("Failed")
    # "Message: status updates or error information": the job's last message in its column,
    # and a failed job's error on hover of the icon beside its badge.
    expect(failed_row.locator("td.col-message")).to_have_text(failed["message"] or "—")
    expect(failed_row.locator(".jobs-admin-error-icon")).to_have_attribute(
        "title", "ConnectionError: warehouse API timed out after 30 s"
    )

    # Filter: Job Status "Error" is the Failed tile (or the status filter).
    with page.expect_navigation():
        page.click('[data-kpi="failed"]')
    assert sorted(table_ids(page)) == ids_where(probe, status="failed")
    # ...by job type and by the user who created them, with "Add Filter".
    with page.expect_navigation():
        page.click('[data-kpi="total"]')
    add_filter(page, "Type", option="Import products")
    imports = ids_where(probe, type="products.import")
    assert sorted(table_ids(page)) == imports
    # A user who created some of the imports but not all (who that is depends on the seed).
    creators = sorted({j["created_by"] for j in probe.jobs(type="products.import")} - {None})
    who = next(
        c
        for c in creators
        if 0 < len(ids_where(probe, type="products.import", created_by=c)) < len(imports)
    )
    add_filter(page, "Created by", text=who)
    by_user = ids_where(probe, type="products.import", created_by=who)
    assert sorted(table_ids(page)) == by_user and 0 < len(by_user) < len(imports)
    # The search box finds a user's jobs too.
    ui.go("/admin/jobs/")
    box = page.locator("form[role=search] input[name=search]")
    box.fill("viewer")
    with page.expect_navigation():
        box.press("Enter")
    assert sorted(table_ids(page)) == ids_where(probe, created_by="viewer")

    # Step 1: View Details on the failed job.
    ui.go("/admin/jobs/?flt0_status_equals=failed")
    with page.expect_navigation():
        page.click(f'a[aria-label="View job {flaky}"]')
    assert f"id={flaky}" in page.url
    expect(page.locator(".jobs-admin-error-message")).to_have_text(failed["error"])
    params = page.locator(".card:has(.card-header:text-is('Params'))")
    assert failed["params"]["month"] in params.inner_text()
    overview = page.locator(".jobs-admin-overview")
    finished_at = failed["finished_at"]
    assert format_datetime(finished_at) in overview.inner_text()  # when it failed
    assert "3 of 3 (2 retries)" in overview.inner_text()
    # Every attempt's failure is in the history.
    history = page.locator(".card:has(.card-header:text-is('History'))").inner_text()
    assert history.count("warehouse API timed out") >= 2

    # Step 2: the warehouse answers again (the demo's report fails on its first attempt only);
    # nothing to do in the panel.

    # Step 3: back to the overview, locate the failed job, Retry.
    with page.expect_navigation():
        page.click("a:has-text('Back to jobs')")
    assert "flt0_status_equals=failed" in page.url
    with page.expect_navigation():
        row(page, flaky).locator(f'button[aria-label="Retry job {flaky}"]').click()
    assert any(
        f.startswith(f"Job #{flaky} ") and f.endswith("is queued again.") for f in ui.flashes()
    )
    assert probe.status(flaky) == "pending"
    assert probe.job(flaky)["updated_by"] == "operator"
    assert flaky not in table_ids(page)  # no longer failed
    # The worker processes it again, and this time it completes.
    ui.go(f"/admin/jobs/details/?id={flaky}")
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    assert jobs.work_off() >= 1
    assert probe.status(flaky) == "completed"
    badge = page.locator(".jobs-admin-detail h2 .jobs-admin-status")
    expect(badge).to_have_text("Completed")

    # Download Results: the report's CSV.
    ui.go(f"/admin/jobs/details/?id={flaky}")
    with page.expect_download() as info:
        page.click("#jobs-admin-download")
    month = failed["params"]["month"]
    assert info.value.suggested_filename == f"sales-{month}.csv"
    target = ui.downloads / "report.csv"
    info.value.save_as(target)
    lines = list(csv.reader(io.StringIO(target.read_text())))
    assert lines[0] == ["day", "orders", "revenue"] and lines[1][0] == f"{month}-01"
    # The Download row action is in the list too.
    ui.go("/admin/jobs/?flt0_status_equals=completed")
    expect(row(page, flaky).locator("a.jobs-admin-download")).to_have_count(1)


# -- jobs-dashboard-housekeeping -----------------------------------------------------------


def test_walkthrough_jobs_dashboard_housekeeping(ui: Any, jobs: Any, demo: Any, probe: Any) -> None:
    """jobs-dashboard-housekeeping.txt, as an administrator.

    - Open the dashboard: sign in; the jobs URL needs it; the list has the statistics cards.
    - Find a specific job: pick a status and filter; order by name; clear back to all jobs.
    - View a job's detail: the eye icon; the failed job's error and its stack trace; a
      completed export's Download Result; Back to Jobs.
    - Investigate a failure: filter Failed; open each; read the error; expand the stack trace.
    - Export the list for reporting: Export CSV downloads jobs-export.csv.
    - Clear out old jobs: Clear Old Jobs, confirm; finished jobs older than 30 days go and a
      message says so; pending and running jobs stay.
    """
    demo("--count", "40", "--days", "60", "--random-seed", "1")
    export = enqueue(
        jobs,
        "catalog.export",
        "admin",
        definition="summer",
        skus=["TS-001", "HD-002"],
        priority=100,  # before the seeded pending jobs
    )
    jobs.work_off(limit=1)
    assert probe.status(export) == "completed"
    page = ui.page

    # Open the dashboard: signed out, the jobs URL asks to sign in first.
    ui.go("/admin/jobs/")
    assert "/login" in page.url
    ui.login("admin")
    ui.go("/admin/jobs/")
    # Seven cards (the page's six and Partial); each counts every job, whatever the range.
    assert tiles(page) == db_counts(probe)
    # The list shows the last 7 days by default (the page's list has no default range).
    expect(page.locator(".jobs-admin-default-range")).to_be_visible()
    week_ago = utcnow() - timedelta(days=7)
    recent = sorted(int(j["id"]) for j in probe.jobs() if j["created_at"] >= week_ago)
    assert sorted(table_ids(page)) == recent
    with page.expect_navigation():
        page.click('a[data-range="all"]')
    assert "flt0_created_within=all" in page.url
    assert len(table_ids(page)) == 25  # 25 jobs a page, as on the reference page

    # Find a specific job: status "Failed", Filter (Flask-Admin's filter bar).
    add_filter(page, "Status", option="Failed")
    failed = ids_where(probe, status="failed")
    assert sorted(table_ids(page)) == failed
    # Order by name (A to Z) with the Name header.
    with page.expect_navigation():
        page.click("th.col-name a")
    names = page.locator("table.model-list td.col-name > a").all_inner_texts()
    assert names == sorted(names, key=str.lower) and len(names) == len(failed)
    # Clear: "Reset Filters" beside the filters goes back to all jobs (of the default range);
    # it keeps the sort, and the menu's Jobs link goes back to newest first.
    with page.expect_navigation():
        page.click("a:has-text('Reset Filters')")
    assert "status_equals" not in page.url and "created_within" not in page.url
    assert sorted(table_ids(page)) == recent
    with page.expect_navigation():
        page.click("nav a.nav-link:has-text('Jobs')")
    assert table_ids(page) == sorted(recent, reverse=True)

    # View a job's detail: the eye icon of a failed report (the VAT report has a traceback).
    broken = ids_where(probe, status="failed", type="reports.broken")[0]
    ui.go("/admin/jobs/?flt0_status_equals=failed&flt1_created_within=all")
    with page.expect_navigation():
        page.click(f'a[aria-label="View job {broken}"]')
    assert re.search(rf"/admin/jobs/details/\?id={broken}\b", page.url)
    expect(page.locator(".jobs-admin-error-message")).to_have_text(probe.job(broken)["error"])
    trace = page.locator("#jobs-admin-traceback")
    expect(trace).to_be_hidden()
    page.click("text=Stack trace")
    expect(trace).to_be_visible()
    expect(trace).to_contain_text("_build_vat_report")
    with page.expect_navigation():
        page.click("a:has-text('Back to jobs')")
    assert "flt0_status_equals=failed" in page.url
    # A completed export: Download Result.
    ui.go(f"/admin/jobs/details/?id={export}")
    with page.expect_download() as info:
        page.click("#jobs-admin-download")
    target = ui.downloads / "catalog.zip"
    info.value.save_as(target)
    with zipfile.ZipFile(target) as archive:
        assert "Summer catalog" in archive.read("index.html").decode()

    # Investigate a failure: each failed job's error, as stored.
    for job_id in failed:
        ui.go(f"/admin/jobs/details/?id={job_id}")
        stored = probe.job(job_id)
        expect(page.locator(".jobs-admin-error-message")).to_have_text(stored["error"])
        if stored["traceback"]:
            page.click("text=Stack trace")
            expect(trace).to_contain_text("Traceback (most recent call last)")
    # "Re-run the originating action": the product can also retry from the panel (see the
    # background-jobs-retry walk).

    # Export the list for reporting.
    ui.go("/admin/jobs/?flt0_created_within=all")
    with page.expect_download() as info:
        page.click("a:has-text('Export CSV')")
    assert info.value.suggested_filename == "jobs-export.csv"
    target = ui.downloads / "jobs.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert sorted(int(r["ID"]) for r in rows) == ids_where(probe)
    for column in ("ID", "Name", "Type", "Status", "Created", "Finished", "Duration (s)"):
        assert column in rows[0], column
    by_id = {int(r["ID"]): r for r in rows}
    assert by_id[broken]["Status"] == "failed" and by_id[broken]["Type"] == "reports.broken"

    # Clear out old jobs.
    cutoff = utcnow() - timedelta(days=30)
    old = sorted(
        int(j["id"])
        for j in probe.jobs()
        if j["status"] in FINISHED and j["finished_at"] and j["finished_at"] < cutoff
    )
    active = sorted(int(j["id"]) for j in probe.jobs() if j["status"] not in FINISHED)
    assert old and active
    page.click("#jobs-admin-prune-open")
    modal = page.locator("#jobs-admin-prune")
    expect(modal).to_be_visible()
    expect(page.locator("#jobs-admin-prune-days")).to_have_value("30")
    expect(page.locator("#jobs-admin-prune-count")).to_have_text(
        f"{len(old)} finished jobs finished more than 30 days ago will be deleted."
    )
    with page.expect_navigation():
        page.click("#jobs-admin-prune-submit")
    (prune,) = probe.jobs(type="jobs_admin.prune")
    assert f"Clearing finished jobs older than 30 days in job #{prune['id']}." in ui.flashes()
    # The clearing runs as a job: the worker does it.
    jobs.work_off()
    assert probe.job(prune["id"])["result"] == {"deleted": len(old), "days": 30}
    assert all(probe.job(job_id) is None for job_id in old)
    # Pending and running jobs are left (the pending ones due have run meanwhile).
    assert all(probe.job(job_id) is not None for job_id in active)
    ui.go(f"/admin/jobs/details/?id={prune['id']}")
    expect(page.locator(".jobs-admin-detail h2 .jobs-admin-status")).to_have_text("Completed")
    assert f'"deleted": {len(old)}' in page.locator(".jobs-admin-result").inner_text()


# -- jobs-progress-and-cancel --------------------------------------------------------------


@pytest.mark.app_config(DEMO_JOB_DELAY=0.05)
def test_walkthrough_jobs_progress_and_cancel(
    ui: Any, jobs: Any, demo: Any, probe: Any, worker: Any
) -> None:
    """jobs-progress-and-cancel.txt, as an operator.

    - Viewing jobs: Jobs in the menu; the list of all jobs; click any job to see details.
    - Jobs list columns: job type and ID, status, progress bar, Items processed/total,
      Started, Duration (optional columns in the product).
    - Filtering jobs: type, status, user, date range.
    - Job detail page: Overview, Progress, Items, Errors; progress statistics.
    - Real-time monitoring: progress updates without a refresh.
    - Cancelling jobs: open the running job, "Cancel Job", confirm; processed items are
      kept and the status becomes cancelled.
    - Retrying failed items: a partial job's failed items are resubmitted.
    """
    demo()
    page = ui.page
    ui.login("operator")
    export = enqueue(
        jobs,
        "catalog.export",
        "operator",
        name="Spring catalog",
        definition="spring",
        skus=["TS-001", "X-404", "MUG-002", "X-017", "PST-003"],
    )
    imported = enqueue(jobs, "products.import", "admin", rows=20, invalid_every=0)
    jobs.work_off()
    assert probe.status(export) == "partial" and probe.status(imported) == "completed"

    # Viewing jobs: Jobs in the menu, every job listed.
    ui.go("/admin/")
    with page.expect_navigation():
        page.click("nav a.nav-link:has-text('Jobs')")
    assert sorted(table_ids(page)) == sorted([export, imported])
    # Columns: Items ("3 of 5"), Started and Progress % come from the Columns menu.
    page.click("#jobs-admin-columns")
    for column in ("items", "started_at", "percent"):
        page.check(f'input[data-column="{column}"]')
    page.keyboard.press("Escape")
    listed = row(page, export)
    expect(listed.locator("td.col-items")).to_have_text("3 of 5")
    expect(listed.locator("td.col-percent")).to_have_text("100%")
    expect(listed.locator("td.col-progress_done small")).to_have_text("3/5 · 2 failed")
    expect(listed.locator("td.col-name .jobs-admin-type")).to_have_text("catalog.export")
    expect(listed.locator("td.col-started_at time")).to_be_visible()
    expect(listed.locator("td.col-duration")).not_to_have_text("—")

    # Filtering: type, status, user, date range.
    add_filter(page, "Type", option="Import products")
    assert table_ids(page) == [imported]
    ui.go("/admin/jobs/")
    add_filter(page, "Status", option="Partial")
    assert table_ids(page) == [export]
    ui.go("/admin/jobs/")
    add_filter(page, "Created by", text="admin")
    assert table_ids(page) == [imported]
    with page.expect_navigation():
        page.click('a[data-range="today"]')
    assert "created_by_equals=admin" in page.url  # the range adds to the filter
    assert table_ids(page) == [imported]
    ui.go("/admin/jobs/?flt0_created_within=today")
    assert sorted(table_ids(page)) == sorted([export, imported])

    # Click a job: its detail page with Overview, Progress, Items and errors.
    row(page, export).locator("td.col-created_by").click()
    page.wait_for_url(re.compile(rf"/details/\?id={export}&"))
    stats = page.locator(".jobs-admin-stats").inner_text()
    assert re.search(r"Total items\s+5", stats) and re.search(r"Succeeded\s+3", stats)
    assert re.search(r"Failed\s+2", stats)
    items = page.locator("#jobs-admin-items")
    keys = items.locator("td.text-monospace").all_inner_texts()
    assert sorted(keys) == sorted(["TS-001", "X-404", "MUG-002", "X-017", "PST-003"])
    # The Errors: only the failed items, with why.
    with page.expect_navigation():
        items.locator("a:has-text('Failed')").first.click()
    failed_keys = page.locator("#jobs-admin-items td.text-monospace").all_inner_texts()
    assert sorted(failed_keys) == ["X-017", "X-404"]
    assert "no image for discontinued SKU X-404" in page.locator("#jobs-admin-items").inner_text()

    # Retrying failed items: a new job over only those two.
    with page.expect_navigation():
        page.click("button:has-text('Retry the 2 failed items')")
    (again,) = probe.jobs(retry_of=export)
    assert again["params"]["skus"] == ["X-404", "X-017"]
    assert any(f.startswith(f"Started job #{again['id']} ") for f in ui.flashes())

    # Real-time monitoring: a long reindex, run by the app's worker, moves on its own.
    long = enqueue(jobs, "search.reindex", "operator", name="Reindex", items=400, priority=9)
    ui.go(f"/admin/jobs/details/?id={long}")
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    page.evaluate("window.jobsAdminTestMark = 1")
    worker()
    bar = page.locator("[data-job-progress] small")
    expect(bar).to_have_text(re.compile(r"^\d+/400$"))
    first = int(bar.inner_text().split("/")[0])
    expect(bar).not_to_have_text(f"{first}/400")  # it moved, without a reload
    assert page.evaluate("window.jobsAdminTestMark") == 1

    # Cancelling: "Cancel", then the confirmation's explicit "Stop job".
    page.click(".jobs-admin-detail-actions button:has-text('Cancel')")
    dialog = page.locator("#jobs-admin-confirm")
    expect(dialog.locator(".modal-body")).to_contain_text("The items it has done are kept")
    with page.expect_navigation():
        dialog.locator("button:has-text('Stop job')").click()
    badge = page.locator(".jobs-admin-detail h2 .jobs-admin-status")
    expect(badge).to_have_text("Cancelled", timeout=20_000)
    stopped = probe.job(long)
    assert stopped["status"] == "cancelled" and 0 < stopped["progress_done"] < 400
    stats = page.locator(".jobs-admin-stats")
    expect(stats).to_contain_text(re.compile(rf"Succeeded\s*{stopped['progress_done']}(?!\d)"))


# -- monitor-page-kpi-tiles ----------------------------------------------------------------


def test_walkthrough_monitor_page_kpi_tiles(
    ui: Any, jobs: Any, demo: Any, probe: Any, make_job: Any
) -> None:
    """monitor-page-kpi-tiles.txt, as an administrator.

    1. Open Monitor from the menu.
    2. Review the KPI tiles; click one (Failed) to filter the table to that status; it stays
       highlighted, the counts still cover every job.
    3. Click a job row to open its details: execution metadata and the error message.
    4. The Retry icon on a failed row resubmits it.
    5. Refresh reloads the KPIs and the table.
    Then "Delete a job": the trash icon, a dialog that says what goes, Delete; and a completed
    catalog's View HTML and Download ZIP.
    """
    demo(*SEED)
    page = ui.page
    ui.login("admin")

    # 1. Open the jobs panel from the menu; Live in the header.
    ui.go("/admin/")
    with page.expect_navigation():
        page.click("nav a.nav-link:has-text('Jobs')")
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    expect(page.locator("#jobs-admin-live")).to_have_text("Live")
    # The default range is the last 7 days (the seed spans 6).
    expect(page.locator('a[data-range="7d"]')).to_have_attribute("aria-current", "true")

    # 2. The tiles count every job; Failed filters the table and stays highlighted.
    counts = db_counts(probe)
    assert tiles(page) == counts
    with page.expect_navigation():
        page.click('[data-kpi="failed"]')
    failed = ids_where(probe, status="failed")
    assert sorted(table_ids(page)) == failed
    expect(page.locator('[data-kpi="failed"]')).to_have_attribute("aria-current", "true")
    assert tiles(page) == counts  # whatever the table's filter
    assert "whatever the table's filter" in str(
        page.locator('[data-kpi="failed"]').get_attribute("title")
    )
    # Search by reference.
    broken = ids_where(probe, status="failed", type="reports.broken")[0]
    reference = probe.job(broken)["reference"]
    box = page.locator("form[role=search] input[name=search]")
    box.fill(reference)
    with page.expect_navigation():
        box.press("Enter")
    # The job, and any other whose reference or name holds the same text (the seed may reuse it).
    found = sorted(table_ids(page))
    assert broken in found
    for other in found:
        job = probe.job(other)
        assert reference in (job["reference"] or "") + " " + (job["name"] or "")

    # 3. A click on the row opens the job (a page of its own, not a drawer).
    row(page, broken).locator("td.col-created_at").click()
    page.wait_for_url(re.compile(rf"/details/\?id={broken}&"))
    stored = probe.job(broken)
    overview = page.locator(".jobs-admin-overview").inner_text()
    for label in ("Created", "Started", "Finished", "Duration", "Attempts"):
        assert label in overview, label
    assert format_datetime(stored["started_at"]) in overview
    expect(page.locator(".jobs-admin-error-message")).to_have_text(stored["error"])
    page.go_back()

    # 4. Retry on the failed row; only failed (and partial, cancelled) rows offer it.
    ui.go("/admin/jobs/?flt0_status_equals=failed")
    for job_id in ids_where(probe, status="completed"):
        assert page.locator(f'button[aria-label="Retry job {job_id}"]').count() == 0
    with page.expect_navigation():
        page.click(f'button[aria-label="Retry job {broken}"]')
    assert probe.status(broken) == "pending"
    assert broken not in table_ids(page)
    expect(page.locator('[data-count="failed"]')).to_have_text(str(counts["failed"] - 1))
    expect(page.locator('[data-count="pending"]')).to_have_text(str(counts["pending"] + 1))

    # 5. Refresh, with the live connection down: changes made elsewhere appear in place.
    page.route_web_socket("**/admin/jobs/ws**", lambda ws: ws.close(code=1011))
    ui.go("/admin/jobs/?flt0_status_equals=failed")
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "offline")
    expect(page.locator("#jobs-admin-live")).to_have_text("Disconnected")
    page.evaluate("window.jobsAdminTestMark = 1")
    assert jobs.work_off() >= 1  # the retried VAT report fails again, elsewhere
    assert probe.status(broken) == "failed"
    assert broken not in table_ids(page)
    page.click("#jobs-admin-refresh")
    expect(row(page, broken)).to_have_count(1)
    assert tiles(page) == db_counts(probe)
    assert "flt0_status_equals=failed" in page.url
    assert page.evaluate("window.jobsAdminTestMark") == 1  # no page load

    # Delete: the trash icon on a finished row, a dialog that says what goes, Delete.
    page.unroute_all()
    page.click(f'button[aria-label="Delete job {broken}"]')
    dialog = page.locator("#jobs-admin-confirm")
    expect(dialog.locator(".modal-body")).to_have_text(
        f"Job #{broken} is deleted with its log and result file. This cannot be undone."
    )
    with page.expect_navigation():
        dialog.locator("button:has-text('Delete job')").click()
    assert f"Job {broken} is deleted." in ui.flashes()
    assert probe.job(broken) is None
    # Pending and running rows have no trash icon.
    ui.go("/admin/jobs/")
    for job_id in ids_where(probe, status="running") + ids_where(probe, status="pending"):
        assert page.locator(f'button[aria-label="Delete job {job_id}"]').count() == 0

    # The generated catalog: View HTML and Download ZIP on a completed export.
    export = enqueue(
        jobs, "catalog.export", "admin", name="Autumn", definition="autumn", skus=["HD-002"]
    )
    jobs.work_off()
    ui.go(f"/admin/jobs/details/?id={export}")
    with page.context.expect_page() as popup:
        page.click("#jobs-admin-preview")
    preview = popup.value
    preview.wait_for_load_state()
    assert preview.locator("h1").inner_text() == "Autumn catalog"
    assert "HD-002" in preview.locator(".grid").inner_text()
    preview.close()
    with page.expect_download() as info:
        page.click("#jobs-admin-download")
    assert info.value.suggested_filename == "catalog.zip"


# -- process-tracker -----------------------------------------------------------------------


@pytest.mark.app_config(DEMO_JOB_DELAY=0.05)
def test_walkthrough_process_tracker(
    ui: Any, jobs: Any, demo: Any, probe: Any, worker: Any, db: Any, wait_for: Any
) -> None:
    """process-tracker.txt, as an operator.

    What happens when you launch a job:
    1. A flash message says the job started.
    2. While it runs it is listed among the other jobs; the dashboard (the tiles) counts it.
    3. A notification appears when it is complete.
    A job's detail: its status, the number of steps, a time estimate above each step, the
    actions performed under each step. Searching: by name, type, user, status. Stopping a job:
    from the list (Stop at the end of its line) and from the job's page (top right).
    """
    demo()
    page = ui.page
    # History for the step estimates: two earlier exports, their steps spaced out.
    for _ in range(2):
        done = enqueue(jobs, "catalog.export", "admin", definition="spring", skus=["TS-001"])
        jobs.work_off()
        e = jobs.JobEvent
        steps = db.session.scalars(
            db.select(e).where(e.job_id == done, e.kind == "step").order_by(e.id)
        ).all()
        finished = probe.job(done)["finished_at"]
        for event, minutes in zip(steps, (6, 3, 1), strict=True):
            event.at = finished - timedelta(minutes=minutes)
        db.session.commit()
    ui.login("operator")
    worker()

    # 1. Launch: the run form; a flash says the job started and links to it.
    ui.go("/admin/jobs/new")
    page.select_option("#jobs-admin-type", "catalog.export")
    page.locator("#jobs-admin-run-form[data-type='catalog.export']").wait_for()
    page.fill("input[name=job-name]", "Winter catalog")
    page.fill("textarea[name=skus]", "TS-001, HD-002, X-404, MUG-003")
    page.fill("input[name=definition]", "winter")
    with page.expect_navigation():
        page.click("#jobs-admin-run-form button[type=submit]")
    (launched,) = probe.jobs(name="Winter catalog")
    assert any(f.startswith(f"Started job #{launched['id']} Winter catalog") for f in ui.flashes())
    link = page.locator(f".alert a:has-text('#{launched['id']}')")
    expect(link).to_have_attribute("href", re.compile(rf"details/\?id={launched['id']}"))
    # The worker picks it up: a toast says it started, then 3. a toast says it is finished.
    expect(page.locator(".jobs-admin-start-toast")).to_contain_text("Winter catalog")
    expect(page.locator(".jobs-admin-start-toast")).to_contain_text("started")
    finished = page.locator(
        f'.jobs-admin-toast[data-job-id="{launched["id"]}"]:not(.jobs-admin-start-toast)'
    )
    expect(finished).to_contain_text("Job finished with failed items")
    assert probe.status(launched["id"]) == "partial"

    # The job's detail: steps, "Step 3 of 3", an estimate per step, what ran under each.
    with page.expect_navigation():
        finished.locator("a").click()
    expect(page.locator(".jobs-admin-detail h2 .jobs-admin-status")).to_have_text("Partial")
    message = page.locator(".jobs-admin-detail .jobs-admin-message")
    expect(message).to_have_text("3 of 4 SKUs exported")
    assert message.evaluate("e => e.scrollWidth <= e.clientWidth")  # shown whole, not cut
    estimates = page.locator(".jobs-admin-step-estimate").all_inner_texts()
    assert estimates == ["about 3 min", "about 2 min", "about 1 min"]
    page.click("a[aria-controls=jobs-admin-step-1]")
    first_step = page.locator("#jobs-admin-step-1")
    expect(first_step).to_be_visible()
    keys = first_step.locator(".jobs-admin-step-items td.text-monospace").all_inner_texts()
    assert keys == ["TS-001", "HD-002", "X-404", "MUG-003"]
    page.click("a[aria-controls=jobs-admin-step-2]")
    expect(page.locator("#jobs-admin-step-2")).to_contain_text("built 1 page with 3 products")

    # 2. While a job runs it is in the list, and the Running tile counts it.
    long = enqueue(jobs, "search.reindex", "operator", name="Nightly reindex", items=400)
    ui.go("/admin/jobs/")
    badge = row(page, long).locator(".jobs-admin-status")
    expect(badge).to_have_text("Running")
    expect(page.locator('[data-count="running"]')).to_have_text("1")

    # Searching: by name, by type, by user, by status.
    box = page.locator("form[role=search] input[name=search]")
    box.fill("Nightly")
    with page.expect_navigation():
        box.press("Enter")
    assert table_ids(page) == [long]
    ui.go("/admin/jobs/")
    add_filter(page, "Type", option="Reindex search")
    assert table_ids(page) == [long]
    ui.go("/admin/jobs/")
    add_filter(page, "Created by", text="operator")
    assert sorted(table_ids(page)) == sorted([launched["id"], long])
    ui.go("/admin/jobs/")
    add_filter(page, "Status", option="Running")
    assert table_ids(page) == [long]

    # Stop a job from the list: Stop at the end of its line.
    page.click(f'button[aria-label="Cancel job {long}"]')
    dialog = page.locator("#jobs-admin-confirm")
    expect(dialog.locator(".modal-title")).to_have_text(f"Stop job #{long}?")
    with page.expect_navigation():
        dialog.locator("button:has-text('Stop job')").click()
    assert "was asked to stop" in " ".join(ui.flashes())
    # It stops after its current document (maybe before the page is back).
    wait_for(lambda: probe.status(long) == "cancelled")
    ui.go("/admin/jobs/?flt0_status_equals=cancelled")
    expect(row(page, long).locator(".jobs-admin-status")).to_have_text("Cancelled")
    # "Stopping won't revert the actions already performed": what it did is kept.
    assert probe.job(long)["progress_done"] > 0

    # Stop a job from its own page: top right.
    other = enqueue(jobs, "search.reindex", "operator", name="Manual reindex", items=400)
    ui.go(f"/admin/jobs/details/?id={other}")
    status = page.locator(".jobs-admin-detail h2 .jobs-admin-status")
    expect(status).to_have_text("Running")
    page.click(".jobs-admin-detail-actions button:has-text('Cancel')")
    with page.expect_navigation():
        dialog.locator("button:has-text('Stop job')").click()
    expect(status).to_have_text("Cancelled", timeout=20_000)
    assert probe.status(other) == "cancelled"
    # "Stop a job from an export/import profile": the demo has no profiles; the jobs panel is
    # where jobs are stopped.
