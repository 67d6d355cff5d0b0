"""The job panel of an export profile's page and "My jobs" in a real Chromium: live updates over
the websocket, Stop from the panel, the navbar's dropdown and the "job finished" toast."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from host_app.extensions import db as host_db
from host_app.models import ExportProfile
from jobs_admin.models import JobStatus

pytestmark = pytest.mark.browser

GHOST = "ghost:1:test"  # a worker that never runs what it claims (the test moves the job)


def make_profile(app: Any) -> int:
    with app.app_context():
        row = ExportProfile(name="Spring catalog", definition="spring", skus="TS-001, TS-002")
        host_db.session.add(row)
        host_db.session.commit()
        return int(row.id)


def export(jobs: Any, ref: str, by: str = "admin") -> int:
    job = jobs.enqueue(
        "catalog.export",
        reference=ref,
        created_by=by,
        definition="spring",
        skus=["TS-001", "TS-002"],
        commit=True,
    )
    return int(job.id)


def claim(jobs: Any, db: Any, job_id: int) -> None:
    with db.engine.begin() as conn:
        assert jobs.store.claim(conn, GHOST, 1) == [job_id]


def progress(jobs: Any, db: Any, job_id: int, **values: Any) -> None:
    with db.engine.begin() as conn:
        assert jobs.store.progress(conn, job_id, GHOST, values)


def finish(jobs: Any, db: Any, job_id: int) -> None:
    with db.engine.begin() as conn:
        assert jobs.store.finish(conn, job_id, GHOST, JobStatus.COMPLETED, {"phase": None})


def test_browser_panel_follows_its_jobs_live_and_stop_cancels(
    app: Any, ui: Any, jobs: Any, db: Any, probe: Any
) -> None:
    pid = make_profile(app)
    ref = f"export-profile:{pid}"
    with app.app_context():
        running = export(jobs, ref)
        claim(jobs, db, running)
    ui.login("admin")
    ui.go(f"/admin/exportprofile/details/?id={pid}")
    page = ui.page
    panel = page.locator("[data-jobs-admin-panel]")
    row = panel.locator(f'[data-jobs-admin-panel-job="{running}"]')
    expect(row.locator(".jobs-admin-status")).to_have_text("Running")
    page.evaluate("window.jobsAdminTestMark = 1")

    # Progress moves in place.
    with app.app_context():
        progress(jobs, db, running, progress_total=4, progress_done=1, phase="Resolving images")
    expect(row.locator(".progress small")).to_have_count(0)  # the figures sit beside the bar
    expect(row.locator(".jobs-admin-progress small")).to_have_text("1/4")
    with app.app_context():
        progress(jobs, db, running, progress_done=3)
    expect(row.locator(".jobs-admin-progress small")).to_have_text("3/4")
    expect(row.locator(".jobs-admin-phase")).to_have_text("Resolving images")

    # A new execution of this record appears; one of another record does not.
    with app.app_context():
        pending = export(jobs, ref)
        other = export(jobs, "export-profile:999")
    new_row = panel.locator(f'[data-jobs-admin-panel-job="{pending}"]')
    expect(new_row.locator(".jobs-admin-status")).to_have_text("Pending")
    expect(panel.locator(f'[data-jobs-admin-panel-job="{other}"]')).to_have_count(0)

    # The running job finishes: its badge changes, and the "job finished" toast says so.
    with app.app_context():
        finish(jobs, db, running)
    expect(row.locator(".jobs-admin-status")).to_have_text("Completed")
    expect(page.locator(f'.jobs-admin-toast[data-job-id="{running}"]')).to_contain_text(
        "Job completed"
    )
    assert page.evaluate("window.jobsAdminTestMark") == 1, "the page reloaded"

    # Stop from the panel: asks first, cancels, comes back to the profile's page.
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        new_row.get_by_role("button", name="Stop").click()
    assert page.url.endswith(f"/admin/exportprofile/details/?id={pid}")
    assert any(f"Job {pending} is cancelled." in text for text in ui.flashes())
    expect(
        panel.locator(f'[data-jobs-admin-panel-job="{pending}"] .jobs-admin-status')
    ).to_have_text("Cancelled")
    with app.app_context():
        assert probe.status(pending) == "cancelled"


def test_browser_my_jobs_dropdown_badge_and_toast_on_a_host_page(
    app: Any, ui: Any, jobs: Any, db: Any, make_job: Any
) -> None:
    with app.app_context():
        done = make_job("completed", created_by="operator")
        running = make_job("running", created_by="operator")
        make_job("running", created_by="admin")
    ui.login("operator")
    ui.go("/admin/")
    page = ui.page
    badge = page.locator("[data-jobs-admin-running]")
    expect(badge).to_have_text("1")
    page.locator("#jobs-admin-my-jobs-toggle").click()
    menu = page.locator(".jobs-admin-my-jobs-menu")
    expect(menu).to_be_visible()
    items = menu.locator("[data-jobs-admin-my-job]")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-jobs-admin-my-job", str(running))
    expect(items.nth(1)).to_have_attribute("data-jobs-admin-my-job", str(done))
    expect(menu.locator(".jobs-admin-my-jobs-all")).to_have_attribute(
        "href", "/admin/jobs/?flt0_created_by_equals=operator"
    )
    # The job finishes while the menu is open: its badge there, the count and a toast follow.
    with app.app_context():
        finish(jobs, db, running)
    expect(menu.locator(f'[data-jobs-admin-my-job="{running}"] .jobs-admin-status')).to_have_text(
        "Completed"
    )
    expect(badge).to_be_hidden()
    toast = page.locator(f'.jobs-admin-toast[data-job-id="{running}"]')
    expect(toast).to_contain_text("Job completed")
    box = toast.bounding_box()
    assert box is not None and box["y"] < 200, box  # top right, clear of the tables
    # The widget on the index page follows too.
    widget = page.locator("[data-jobs-admin-my-jobs]")
    expect(widget.locator(f'[data-jobs-admin-my-job="{running}"] .jobs-admin-status')).to_have_text(
        "Completed"
    )


def test_browser_seed_steps_imports_exports_profile_last_execution_stop(
    app: Any, ui: Any, jobs: Any, probe: Any
) -> None:
    from host_app.cli import ensure_export_profiles

    with app.app_context():
        ensure_export_profiles()
        host_db.session.commit()
        profile = host_db.session.scalar(host_db.select(ExportProfile).filter_by(name="Clearance"))
        job = export(jobs, profile.reference, by="operator")
    ui.login("operator")
    ui.go("/admin/")
    page = ui.page
    page.get_by_role("link", name="Imports/Exports").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Export profiles").click()
    row = page.locator("tr", has_text="Clearance")
    with page.expect_navigation():
        row.locator("a[title='View Record']").click()
    last = page.locator(f'[data-jobs-admin-panel-job="{job}"]')
    expect(last.locator(".jobs-admin-status")).to_have_text("Pending")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        last.get_by_role("button", name="Stop").click()
    expect(last.locator(".jobs-admin-status")).to_have_text("Cancelled")
    with app.app_context():
        assert probe.status(job) == "cancelled"


def test_browser_panel_running_duration_counts_up(app: Any, ui: Any, jobs: Any, db: Any) -> None:
    pid = make_profile(app)
    with app.app_context():
        running = export(jobs, f"export-profile:{pid}")
        claim(jobs, db, running)
    ui.login("admin")
    ui.go(f"/admin/exportprofile/details/?id={pid}")
    span = ui.page.locator(f'[data-jobs-admin-panel-job="{running}"] .jobs-admin-duration')
    # It keeps counting: the text changes, then changes again.
    seen = [span.inner_text()]
    for _ in range(2):
        expect(span).not_to_have_text(seen[-1])
        seen.append(span.inner_text())
    assert len(set(seen)) == 3, seen
