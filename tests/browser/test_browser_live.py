"""Live updates in a real Chromium: in-place changes, the Live indicator, the detail page, toasts.

The first test serves the app from a separate ``flask run`` process on the test's database, so
that it can really stop the server and start it again; the test changes jobs through the
in-process app, as another process would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from jobs_admin.models import JobStatus

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
GHOST = "ghost:1:test"  # the worker make_job("running") claims jobs for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FlaskRun:
    """``flask run`` (the development server, threaded) on the test's database, in a process."""

    def __init__(self, url: str, secret: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "FLASK_SQLALCHEMY_DATABASE_URI": url,
            "FLASK_SECRET_KEY": secret,
            "FLASK_JOBS_ADMIN_WORKER": "off",
            "FLASK_JOBS_ADMIN_LIVE_INTERVAL": "0.1",
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "flask", "--app", "tests.scaleout_app:create_app"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*command, "run", "--port", str(self.port), "--no-reload", "--no-debugger"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"flask run did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def flask_run(app: Any, db: Any, tmp_path: Path) -> Iterator[FlaskRun]:
    url = db.engine.url.render_as_string(hide_password=False)
    server = FlaskRun(url, app.config["SECRET_KEY"], tmp_path / "flask-run.log")
    server.start()
    yield server
    server.stop()


def progress(jobs: Any, db: Any, job_id: int, **values: Any) -> None:
    with db.engine.begin() as conn:
        assert jobs.store.progress(conn, job_id, GHOST, values)


def finish(jobs: Any, db: Any, job_id: int) -> None:
    with db.engine.begin() as conn:
        assert jobs.store.finish(conn, job_id, GHOST, JobStatus.COMPLETED, {"phase": None})


def test_browser_badge_and_progress_change_in_place_and_the_indicator_follows_the_server(
    chromium: Any, flask_run: FlaskRun, jobs: Any, db: Any, make_job: Any
) -> None:
    job_id = make_job("running")
    progress(jobs, db, job_id, progress_total=10, progress_done=2, phase="Resolving images")
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(flask_run.base + "/login")
        page.fill("#username", "admin")
        page.fill("#password", "admin")
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(flask_run.base + "/admin/jobs/")
        indicator = page.locator("#jobs-admin-live")
        expect(indicator).to_have_attribute("data-state", "live")
        expect(indicator).to_have_text("Live")
        expect(indicator).to_contain_class("badge-success")
        expect(indicator).not_to_contain_class("badge-secondary")
        page.evaluate("window.jobsAdminTestMark = 1")  # gone if the page reloads

        row = page.locator(f'tr:has([data-jobs-admin-job="{job_id}"])')
        expect(row.locator("td.col-progress_done small")).to_have_text("2/10")
        progress(jobs, db, job_id, progress_done=7, phase="Building pages")
        expect(row.locator("td.col-progress_done small")).to_have_text("7/10")
        bar = row.locator("td.col-progress_done .progress-bar.bg-success")
        expect(bar).to_have_attribute("style", re.compile(r"width: 70(\.0)?%"))
        expect(row.locator(".jobs-admin-phase")).to_have_text("Building pages")
        badge = row.locator(".jobs-admin-status")
        expect(badge).to_have_text("Running")

        finish(jobs, db, job_id)
        expect(badge).to_have_text("Completed")
        expect(badge).to_contain_class("badge-success")
        expect(row.locator(".jobs-admin-phase")).to_have_count(0)
        expect(row.locator('button[aria-label^="Cancel job"]')).to_be_hidden()
        expect(page.locator('[data-count="completed"]')).to_have_text("1")
        expect(page.locator('[data-count="running"]')).to_have_text("0")
        assert page.evaluate("window.jobsAdminTestMark") == 1, "the page did not reload"

        # The server goes away: the indicator turns grey...
        flask_run.stop()
        expect(indicator).to_have_attribute("data-state", "offline")
        expect(indicator).to_have_text("Disconnected")
        expect(indicator).to_contain_class("badge-secondary")
        expect(indicator).not_to_contain_class("badge-success")
        # ...a job is added meanwhile...
        new = jobs.enqueue("test.noop", created_by="operator", commit=True).id
        # ...and when it is back the page reconnects, catches up and says so.
        flask_run.start()
        expect(indicator).to_have_attribute("data-state", "live", timeout=30_000)
        expect(indicator).to_have_text("Live")
        expect(page.locator("#jobs-admin-new-jobs")).to_have_text("1 new job \u2014 show")
        expect(page.locator('[data-count="pending"]')).to_have_text("1")
        assert page.evaluate("window.jobsAdminTestMark") == 1
        assert not page.locator(f'[data-jobs-admin-job="{new}"]').count()
        # "show" reloads the table in place (the list's Refresh), not the page.
        page.click("#jobs-admin-new-jobs a")
        expect(page.locator(f'[data-jobs-admin-job="{new}"]')).to_have_count(1)
        expect(page.locator("#jobs-admin-new-jobs")).to_have_count(0)
        assert page.evaluate("window.jobsAdminTestMark") == 1
    finally:
        context.close()
    assert not errors, errors


def test_browser_detail_page_follows_its_job_and_a_toast_says_it_finished(
    ui: Any, jobs: Any, db: Any, make_job: Any
) -> None:
    job_id = make_job("running", created_by="admin")
    ui.login("admin")
    ui.go(f"/admin/jobs/details/?id={job_id}")
    page = ui.page
    expect(page.locator("#jobs-admin-live")).to_have_attribute("data-state", "live")
    page.evaluate("window.jobsAdminTestMark = 1")
    # What a running job's context writes: a step, a log line and progress, in one transaction.
    with db.engine.begin() as conn:
        jobs.store.add_events(
            conn,
            [
                {
                    "job_id": job_id,
                    "kind": "step",
                    "message": "Resolving images",
                    "data": {"attempt": 1},
                },
                {"job_id": job_id, "kind": "log", "message": "resolved <b>3</b> images"},
            ],
        )
        jobs.store.progress(
            conn,
            job_id,
            GHOST,
            {"progress_total": 5, "progress_done": 3, "phase": "Resolving images"},
        )
    expect(page.locator(".jobs-admin-steps")).to_contain_text("Resolving images")
    expect(page.locator(".jobs-admin-log")).to_contain_text("resolved <b>3</b> images")
    expect(page.locator("[data-job-progress] small")).to_have_text("3/5")
    finish(jobs, db, job_id)
    expect(page.locator(".jobs-admin-detail h2 .jobs-admin-status")).to_have_text("Completed")
    toast = page.locator(f'.jobs-admin-toast[data-job-id="{job_id}"]')
    expect(toast).to_contain_text("Job completed")
    link = toast.locator("a")
    expect(link).to_have_attribute("href", f"/admin/jobs/details/?id={job_id}")
    assert page.evaluate("window.jobsAdminTestMark") == 1, "the page did not reload"
    toast.locator("button.close").click()
    expect(toast).to_have_count(0)


@pytest.mark.app_config(JOBS_ADMIN_LIVE_MAX_SOCKETS_PER_USER=1, JOBS_ADMIN_LIVE_RECHECK=0.3)
def test_browser_live_indicator_says_too_many_tabs_then_signed_out(
    ui: Any, app: Any, db: Any
) -> None:
    ui.login("admin")
    ui.go("/admin/jobs/")
    first = ui.page.locator("#jobs-admin-live")
    expect(first).to_have_attribute("data-state", "live")
    # A second tab of the same session is one socket too many: it says so instead of looping.
    second_page = ui.page.context.new_page()
    try:
        second_page.goto(ui.base + "/admin/jobs/")
        second = second_page.locator("#jobs-admin-live")
        expect(second).to_have_attribute("data-state", "toomany")
        expect(second).to_have_text("Too many open tabs")
        expect(second).to_contain_class("badge-secondary")
    finally:
        second_page.close()
    expect(first).to_have_attribute("data-state", "live")
    # The user loses the panel: the open page says "Signed out" and stops reconnecting.
    from host_app.models import User

    with app.app_context():
        db.session.get(User, 1)
        db.session.execute(db.update(User).where(User.username == "admin").values(role="nobody"))
        db.session.commit()
    expect(first).to_have_attribute("data-state", "signedout")
    expect(first).to_have_text("Signed out")
