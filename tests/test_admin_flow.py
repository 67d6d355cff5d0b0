"""The Workers and Job types pages: who sees them, who may act, CSRF, bad input, escaping."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from jobs_admin.service import _flow


def flashes(client: Any) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return [(c, str(m)) for c, m in session.pop("_flashes", [])]


def _record(jobs: Any, name: str = "host-a:42:abc") -> None:
    rt = jobs.runtime()
    with rt.connections.write() as conn:
        rt.store.register_worker(conn, name=name, hostname="host-a", pid=42, threads=3)


@pytest.mark.parametrize("path", ["/admin/jobs/workers/", "/admin/jobs/types/"])
def test_flow_pages_need_view_all(app: Flask, client: Any, auth: Any, path: str) -> None:
    auth.login("viewer")
    assert client.get(path).status_code == 403
    auth.login("operator")
    page = client.get(path)
    assert page.status_code == 200
    assert b'action="/admin/jobs/types/pause"' not in page.data
    assert b'action="/admin/jobs/workers/quiet"' not in page.data


def test_workers_page_lists_workers_with_totals_and_actions(
    app: Flask, client: Any, auth: Any, jobs: Any
) -> None:
    with app.app_context():
        _record(jobs, "host-a:42:<b>x</b>")
    auth.login("admin")
    html = client.get("/admin/jobs/workers/").get_data(as_text=True)
    assert "host-a:42:&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert 'data-state="running"' in html and "0 / 3" in html
    assert 'action="/admin/jobs/workers/quiet"' in html
    fragment = client.get("/admin/jobs/workers/?fragment=1").get_data(as_text=True)
    assert 'id="jobs-admin-flow"' in fragment and "<nav" not in fragment


def test_quiet_from_the_page_needs_manage_and_csrf(
    app: Flask, client: Any, auth: Any, jobs: Any
) -> None:
    with app.app_context():
        _record(jobs)
    auth.login("operator")
    token = auth.csrf_token()
    client.post("/admin/jobs/workers/quiet", data={"csrf_token": token, "worker": "host-a:42:abc"})
    assert flashes(client)[0][0] == "error"
    auth.login("admin")
    client.post("/admin/jobs/workers/quiet", data={"worker": "host-a:42:abc"})
    assert "CSRF" in flashes(client)[0][1]
    with app.app_context():
        assert jobs.workers()[0].state == "running"
    token = auth.csrf_token()
    r = client.post(
        "/admin/jobs/workers/quiet", data={"csrf_token": token, "worker": "host-a:42:abc"}
    )
    assert r.status_code == 302 and flashes(client)[0][0] == "success"
    with app.app_context():
        assert (jobs.workers()[0].state, jobs.workers()[0].state_by) == ("quiet", "admin")
    client.post("/admin/jobs/workers/stop", data={"csrf_token": token, "worker": "nobody"})
    ((category, message),) = flashes(client)
    assert category == "error" and "nobody" in message


def test_types_page_pauses_and_sets_limits(app: Flask, client: Any, auth: Any, jobs: Any) -> None:
    auth.login("admin")
    token = auth.csrf_token()
    r = client.post("/admin/jobs/types/pause", data={"csrf_token": token, "type": "test.noop"})
    assert r.status_code == 302 and flashes(client)[0][0] == "success"
    html = client.get("/admin/jobs/types/").get_data(as_text=True)
    assert 'data-type="test.noop"' in html and 'data-state="paused"' in html
    client.post(
        "/admin/jobs/types/limits",
        data={"csrf_token": token, "type": "test.noop", "max_concurrency": "0", "rate_limit": ""},
    )
    assert flashes(client)[0][0] == "error"
    client.post(
        "/admin/jobs/types/limits",
        data={
            "csrf_token": token,
            "type": "test.noop",
            "max_concurrency": "3",
            "rate_limit": "5/m",
        },
    )
    assert flashes(client)[0][0] == "success"
    client.post("/admin/jobs/types/pause", data={"csrf_token": token, "type": "<script>"})
    ((category, message),) = flashes(client)
    assert "<script>" in message
    assert category == "error"
    with app.app_context():
        state = {r.name: r.state for r in _flow.type_rows(jobs.runtime())}["test.noop"]
        assert (state.paused, state.max_concurrency, state.rate_limit) == (True, 3, "5/m")
        assert state.paused_by == "admin" and state.limits_by == "admin"


def test_pending_job_of_a_paused_type_shows_paused_in_list_and_details(
    app: Flask, client: Any, auth: Any, jobs: Any
) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.noop", commit=True).id
        jobs.pause("test.noop")
    auth.login("admin")
    listing = client.get("/admin/jobs/").get_data(as_text=True)
    assert 'jobs-admin-held" title="Its job type is paused' in listing
    details = client.get(f"/admin/jobs/details/?id={job_id}").get_data(as_text=True)
    assert "jobs-admin-held" in details and ">Paused</span>" in details
