"""The start notifications: flashes that name and link the job, and the state the start
toast polls (permission-checked)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.support import csrf_token, login


def _client(app: Flask, user: str) -> Any:
    client = app.test_client()
    login(client, user)
    return client


def test_job_state_says_the_status_of_a_visible_job_only(app: Flask, jobs: Any) -> None:
    with app.app_context():
        mine = jobs.enqueue("test.noop", name="<b>mine</b>", created_by="viewer", commit=True).id
        theirs = jobs.enqueue("test.noop", created_by="admin", commit=True).id
    viewer = _client(app, "viewer")
    state = viewer.get(f"/admin/jobs/{mine}/state.json")
    assert state.status_code == 200 and state.headers["Cache-Control"] == "no-store"
    assert state.json == {
        "id": mine,
        "name": "<b>mine</b>",  # JSON: the toast sets it as text, never as HTML
        "status": "pending",
        "phase": None,
        "url": f"/admin/jobs/details/?id={mine}",
    }
    refused = viewer.get(f"/admin/jobs/{theirs}/state.json")
    assert refused.status_code == 404 and "status" not in refused.json
    with app.app_context():
        jobs.work_off()
    assert viewer.get(f"/admin/jobs/{mine}/state.json").json["status"] == "completed"


def test_run_flash_names_links_and_watches_the_job(app: Flask, jobs: Any) -> None:
    client = _client(app, "operator")
    client.post(
        "/admin/jobs/new?type=test.items",
        data={"csrf_token": csrf_token(client), "count": "2", "label": "rows"},
    )
    html = client.get("/admin/jobs/").get_data(as_text=True)
    with app.app_context():
        (job,) = jobs.db.session.scalars(jobs.db.select(jobs.Job)).all()
    assert (
        f'Started job <a href="/admin/jobs/details/?id={job.id}">#{job.id} Test: items</a>.' in html
    )
    assert f'class="jobs-admin-watch" data-state="/admin/jobs/{job.id}/state.json"' in html
    assert "jobs_admin_notify.js" in html
