"""Admin panel: the host's per-job answers (``view`` on a job, ``@jobs.visible_jobs``) and
``run`` asked per job type."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_admin_access import flashes, listed, token_of


def add(jobs: Any, job_type: str = "test.noop", by: str = "operator", **kw: Any) -> int:
    return int(jobs.enqueue(job_type, created_by=by, commit=True, **kw).id)


def row_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="text-monospace">#(\d+)</a>', html)}


def export_ids(client: Any) -> set[int]:
    response = client.get("/admin/jobs/export.csv")
    assert response.status_code == 200
    return {int(r["ID"]) for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}


@pytest.fixture
def checker(jobs: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """The demo's checker, refusing everything on jobs named "secret"; the questions asked."""
    from host_app import auth as host_auth

    asked: list[tuple[str, Any]] = []

    def check(user: Any, permission: str, job: Any = None) -> bool:
        asked.append((permission, job))
        if getattr(job, "name", None) == "secret" and permission == "view":
            return False
        return host_auth.check_permission(user, permission, job)

    monkeypatch.setattr(jobs.access, "checker", check)
    yield asked


def test_visibility_checker_refusing_view_hides_the_job_from_rows_details_and_actions(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any, checker: Any
) -> None:
    shown = add(jobs, "test.fail_once", name="shown")
    secret = add(jobs, "test.fail_once", name="secret")
    jobs.work_off()
    auth.login("operator")
    html = client.get("/admin/jobs/").get_data(as_text=True)
    assert row_ids(html) == {shown}
    token = token_of(html)

    response = client.get(f"/admin/jobs/details/?id={secret}")
    assert response.status_code == 302
    assert flashes(client) == [("error", "That job does not exist or you may not see it.")]
    assert client.get(f"/admin/jobs/details/?id={shown}").status_code == 200

    before = probe.jobs(), probe.events()
    client.post(f"/admin/jobs/{secret}/retry", data={"csrf_token": token})
    assert flashes(client) == [("error", f"Job {secret} does not exist or you may not see it.")]
    client.post(
        "/admin/jobs/action/",
        data={"csrf_token": token, "action": "retry", "rowid": [str(secret)]},
    )
    assert flashes(client) == [("warning", f"Skipped 1: #{secret} not found")]
    assert (probe.jobs(), probe.events()) == before


def test_visibility_condition_limits_list_tiles_count_export_details_and_actions(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = add(jobs, "test.noop", name="noop")
    hidden = add(jobs, "test.fail_once", name="fails")
    other = add(jobs, "test.fail_once", "admin", name="fails too")
    jobs.work_off()

    @jobs.visible_jobs
    def visible(user: Any) -> Any:
        # Operators see every job but those of the "test.fail_once" type.
        return jobs.Job.type != "test.fail_once" if user.role == "operator" else None

    try:
        auth.login("operator")
        html = client.get("/admin/jobs/").get_data(as_text=True)
        assert row_ids(html) == {mine}
        assert listed(html) == 1
        assert re.search(r'data-count="total">1<', html)
        assert re.search(r'data-count="failed">0<', html)
        token = token_of(html)
        failed_list = client.get("/admin/jobs/?flt0_status_equals=failed").get_data(as_text=True)
        assert row_ids(failed_list) == set() and listed(failed_list) == 0
        assert export_ids(client) == {mine}
        assert client.get(f"/admin/jobs/details/?id={hidden}").status_code == 302
        flashes(client)
        client.post(f"/admin/jobs/{hidden}/retry", data={"csrf_token": token})
        assert flashes(client) == [("error", f"Job {hidden} does not exist or you may not see it.")]
        assert probe.status(hidden) == "failed"

        # Without a condition for them, admins see everything, from the counters.
        auth.logout()
        auth.login("admin")
        html = client.get("/admin/jobs/").get_data(as_text=True)
        assert row_ids(html) == {mine, hidden, other}
        assert export_ids(client) == {mine, hidden, other}
    finally:
        jobs.access.visible = None


def test_visibility_details_list_only_related_jobs_the_user_may_see(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    original = add(jobs, "test.fail_once", "viewer", name="viewer's")
    jobs.work_off()
    retry = add(jobs, "test.noop", "admin", name="admin's retry")
    probe.update(retry, retry_of=original)
    auth.login("viewer")
    html = client.get(f"/admin/jobs/details/?id={original}").get_data(as_text=True)
    assert "Retried as" not in html and f"#{retry}" not in html
    auth.logout()
    auth.login("admin")
    html = client.get(f"/admin/jobs/details/?id={original}").get_data(as_text=True)
    assert "Retried as" in html and f'id={retry}">#{retry}</a>' in html


def test_visibility_run_is_asked_with_the_job_type(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from host_app import auth as host_auth

    asked: list[Any] = []

    def check(user: Any, permission: str, job: Any = None) -> bool:
        if permission == "run":
            asked.append(job)
            if job is not None:
                return bool(job.name == "test.noop")
        return host_auth.check_permission(user, permission, job)

    monkeypatch.setattr(jobs.access, "checker", check)
    auth.login("operator")
    page = client.get("/admin/jobs/new").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options == ["test.noop"]
    assert None in asked and {t.name for t in asked if t is not None} == {
        t.name for t in jobs.registry if not t.builtin
    }

    form = client.get("/admin/jobs/new?type=test.noop").get_data(as_text=True)
    token = token_of(form)
    response = client.post("/admin/jobs/new?type=test.echo", data={"csrf_token": token})
    assert response.status_code == 200
    assert "You may not run &#39;Test: echo&#39; jobs." in response.get_data(as_text=True)
    assert probe.jobs() == []
    client.post("/admin/jobs/new?type=test.noop", data={"csrf_token": token})
    assert [j["type"] for j in probe.jobs()] == ["test.noop"]
