"""The detail page's extras and the start notifications in a real Chromium: the sandboxed HTML
preview runs no script, the steps panel counts down and expands, the run form follows the
type select, and a toast says when a started job was picked up."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from jobs_admin.models import utcnow

pytestmark = [pytest.mark.browser, pytest.mark.app_config(SEND_FILE_MAX_AGE_DEFAULT=600)]

HOSTILE = (
    "<h1 id='shown'>Catalog</h1>"
    "<script>document.body.setAttribute('data-ran', 'script');"
    "fetch('/admin/jobs/1/delete', {method: 'POST'});</script>"
    "<img src='x' onerror=\"document.body.setAttribute('data-ran', 'onerror')\">"
    "<form action='/admin/jobs/new' method='post'><button id='go'>go</button></form>"
)


def add(jobs: Any, job_type: str, by: str = "admin", **params: Any) -> int:
    return int(jobs.enqueue(job_type, created_by=by, commit=True, params=params).id)


def test_browser_html_preview_runs_no_script(ui: Any, jobs: Any) -> None:
    job_id = add(jobs, "test.html_result", html=HOSTILE)
    jobs.work_off()
    ui.login("admin")
    blocked: list[str] = []
    ui.page.on("console", lambda msg: blocked.append(msg.text))
    response = ui.go(f"/admin/jobs/{job_id}/preview")
    assert response.headers["content-security-policy"] == "sandbox"
    assert ui.page.locator("#shown").inner_text() == "Catalog"
    ui.page.wait_for_load_state("load")
    assert ui.page.evaluate("document.body.getAttribute('data-ran')") is None
    # A unique origin: no access to the admin's cookies or storage.
    assert ui.page.evaluate("window.origin") == "null"
    assert any("sandbox" in text.lower() for text in blocked), blocked


def test_browser_running_step_counts_down_and_expands(ui: Any, jobs: Any, db: Any) -> None:
    # History: a completed run whose steps took 10 and 20 minutes.
    done = add(jobs, "test.record", count=4)
    jobs.work_off()
    e, j = jobs.models.JobEvent, jobs.models.Job
    now = utcnow()
    with db.engine.begin() as conn:
        conn.execute(sa.update(j).where(j.id == done).values(finished_at=now))
        steps = conn.execute(
            sa.select(e.id).where(e.job_id == done, e.kind == "step").order_by(e.id)
        ).scalars()
        for ev, ago in zip(steps, (30, 20), strict=True):
            conn.execute(sa.update(e).where(e.id == ev).values(at=now - timedelta(minutes=ago)))
    # A job now one minute into its second step.
    job_id = add(jobs, "test.record", count=6, fail_every=4)
    jobs.work_off()
    with db.engine.begin() as conn:
        conn.execute(sa.update(j).where(j.id == job_id).values(status="running", finished_at=None))
        steps = conn.execute(
            sa.select(e.id).where(e.job_id == job_id, e.kind == "step").order_by(e.id)
        ).scalars()
        for ev, ago in zip(steps, (3, 1), strict=True):
            conn.execute(sa.update(e).where(e.id == ev).values(at=now - timedelta(minutes=ago)))
    ui.login("admin")
    ui.go(f"/admin/jobs/details/?id={job_id}")
    page = ui.page
    assert "Step 2 of 2" in page.locator(".jobs-admin-step-position").inner_text()
    countdown = page.locator(".jobs-admin-countdown")
    page.wait_for_function("document.querySelector('.jobs-admin-countdown').textContent.length > 0")
    assert re.fullmatch(r"about (1[89]|20) min( \d+ s)? left", countdown.inner_text()), (
        countdown.inner_text()
    )
    estimates = page.locator(".jobs-admin-step-estimate").all_inner_texts()
    assert estimates == ["about 10 min", "about 20 min"]
    detail = page.locator("#jobs-admin-step-2")
    assert not detail.is_visible()
    page.click("a[aria-controls=jobs-admin-step-2]")
    detail.wait_for(state="visible")
    assert "starting Second half" in detail.inner_text()
    assert detail.locator(".jobs-admin-step-items td.text-monospace").all_inner_texts() == [
        "items-3",
        "items-4",
        "items-5",
    ]


def test_browser_run_form_follows_the_type_select(chromium: Any, served: str) -> None:
    context = chromium.new_context(
        viewport={"width": 1024, "height": 900}, base_url=served, timezone_id="Europe/Paris"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/login")
        page.fill("#username", "operator")
        page.fill("#password", "operator")
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto("/admin/jobs/new")
        assert not page.locator("#jobs-admin-choose").is_visible()  # scripts pick at once
        page.select_option("#jobs-admin-type", "test.items")
        page.locator("#jobs-admin-run-form[data-type='test.items']").wait_for()
        assert page.url.endswith("/admin/jobs/new?type=test.items")
        assert page.locator("input[name=count]").is_visible()
        assert page.input_value("input[name=job-timezone]") == "Europe/Paris"
        page.select_option("#jobs-admin-type", "test.echo")
        page.locator("#jobs-admin-run-form[data-type='test.echo']").wait_for()
        assert page.locator("input[name=count]").count() == 0
        assert "takes no parameters" in page.locator("#jobs-admin-run").inner_text()
    finally:
        context.close()
    assert not errors, errors


def test_browser_started_job_shows_a_toast_when_a_worker_takes_it(ui: Any, jobs: Any) -> None:
    ui.login("operator")
    ui.go("/admin/jobs/new?type=test.items")
    ui.page.fill("input[name=count]", "3")
    ui.page.fill("input[name=job-name]", "Toast <b>run</b>")
    with ui.page.expect_navigation():
        ui.page.click("#jobs-admin-run-form button[type=submit]")
    assert any(f.startswith("Started job #") for f in ui.flashes())
    assert ui.page.locator(".jobs-admin-start-toast").count() == 0  # pending: no worker yet
    jobs.work_off()  # the worker takes it while the page polls
    toast = ui.page.locator(".jobs-admin-start-toast")
    toast.wait_for()
    text = toast.inner_text()
    assert "Toast <b>run</b>" in text and "started" in text
    assert toast.locator("a").get_attribute("href").startswith("/admin/jobs/details/?id=")


def test_browser_stop_dialog_still_stops_after_the_page_refreshed_behind_it(
    ui: Any, jobs: Any, db: Any, make_job: Any, probe: Any
) -> None:
    from playwright.sync_api import expect

    job_id = make_job("running", created_by="admin")
    ui.login("admin")
    ui.go(f"/admin/jobs/details/?id={job_id}")
    page = ui.page
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    page.evaluate("document.querySelector('.jobs-admin-detail-actions form').dataset.old = '1'")
    page.click(".jobs-admin-detail-actions button:has-text('Cancel')")
    dialog = page.locator("#jobs-admin-confirm")
    expect(dialog.locator(".modal-title")).to_have_text(f"Stop job #{job_id}?")
    # The job moves on while the dialog is open: the live page replaces its actions' forms.
    with db.engine.begin() as conn:
        jobs.store.add_events(conn, [{"job_id": job_id, "kind": "log", "message": "row 3"}])
        jobs.store.progress(conn, job_id, "ghost:1:test", {"progress_total": 5, "progress_done": 3})
    expect(page.locator(".jobs-admin-log")).to_contain_text("row 3")
    expect(page.locator(".jobs-admin-detail-actions form[data-old]")).to_have_count(0)
    with page.expect_navigation():
        dialog.locator("button:has-text('Stop job')").click()
    assert probe.job(job_id)["cancel_requested"] in (True, 1)
    assert any("stop" in f.lower() for f in ui.flashes()), ui.flashes()
