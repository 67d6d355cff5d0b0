"""The Workers and Job types pages in a browser: Quiet and Resume a running worker, Pause a
type and set its limits, with the tables refreshing in place."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def test_workers_page_quiets_and_resumes_a_worker(app: Any, jobs: Any, ui: Any) -> None:
    with app.app_context():
        worker = jobs.start_worker()
    ui.login("admin")
    ui.go("/admin/jobs/workers/")
    row = ui.page.locator(f'tr[data-worker="{worker.name}"]')
    expect(row.locator(".jobs-admin-worker-state")).to_have_text("running")
    row.get_by_role("button", name="Quiet").click()
    assert any("go quiet" in f for f in ui.flashes())
    expect(row.locator(".jobs-admin-worker-state")).to_have_text("quiet")
    expect(row.get_by_role("button", name="Resume")).to_be_visible()
    # The worker obeys within its next tick; the page refreshes itself.
    with app.app_context():
        import time

        deadline = time.monotonic() + 2
        while not worker.control.quiet and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.control.quiet
    row.get_by_role("button", name="Resume").click()
    expect(row.locator(".jobs-admin-worker-state")).to_have_text("running")


def test_job_types_page_pauses_a_type_and_sets_limits(app: Any, jobs: Any, ui: Any) -> None:
    with app.app_context():
        jobs.enqueue("test.noop", commit=True)
    ui.login("admin")
    ui.go("/admin/jobs/types/")
    row = ui.page.locator('tr[data-type="test.noop"]')
    row.get_by_role("button", name="Pause").click()
    expect(row.locator(".jobs-admin-type-state")).to_have_text("Paused")
    row.locator('input[name="max_concurrency"]').fill("3")
    row.locator('input[name="rate_limit"]').fill("5/m")
    row.get_by_role("button", name="Set").click()
    assert any("Limits of test.noop set" in f for f in ui.flashes())
    expect(row.locator('input[name="rate_limit"]')).to_have_value("5/m")
    ui.go("/admin/jobs/")
    expect(ui.page.locator(".jobs-admin-held").first).to_have_text("Paused")
