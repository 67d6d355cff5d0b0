"""Failures grouped by cause; "Retry all" / "Delete all" as a jobs_admin.failure_group job."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from host_app.extensions import jobs as host_jobs
from jobs_admin import JobContext
from jobs_admin.stats.failures import group_key, normalize
from tests.support import Probe

URL = "/admin/jobs/failures/"
ERRORS = {"TimeoutError": TimeoutError, "ValueError": ValueError, "KeyError": KeyError}

if "test.raise" not in host_jobs.registry:

    @host_jobs.job_type("test.raise", title="Test: raise")
    def raise_(ctx: JobContext, exception: str, message: str) -> None:
        """Raises ``exception(message)``."""
        raise ERRORS[exception](message)


def fail(jobs: Any, exception: str, message: str, who: str | None = "admin") -> int:
    job = jobs.enqueue(
        "test.raise", exception=exception, message=message, created_by=who, commit=True
    )
    assert jobs.work_off(limit=1) == 1
    return int(job.id)


def test_failures_normalize_puts_varying_parts_together() -> None:
    a = "TimeoutError: timeout after 30 s on host 10.0.0.5"
    b = "TimeoutError: timeout after 31 s on host 10.0.0.7"
    assert normalize(a) == normalize(b) == ("TimeoutError", "timeout after <n> s on host <ip>")
    assert group_key(a) == group_key(b)
    assert group_key(a) != group_key("ValueError: timeout after 30 s on host 10.0.0.5")
    assert group_key("KeyError: 'sku-1'") == group_key("KeyError: 'other'")
    assert group_key("E: id 550e8400-e29b-41d4-a716-446655440000") == group_key(
        "E: id 123e4567-e89b-12d3-a456-426614174000"
    )
    assert group_key("E: at 0x7f3a9c") == group_key("E: at 0x10")
    assert group_key("E: order deadbeef12 gone") == group_key("E: order 0a1b2c3d4e gone")
    assert group_key("E: disk full") != group_key("E: disk empty")


def test_failures_page_groups_by_type_and_cause(
    app: Flask, client: Any, auth: Any, jobs: Any, probe: Probe
) -> None:
    fail(jobs, "TimeoutError", "timeout after 30 s on host 10.0.0.5")
    fail(jobs, "TimeoutError", "timeout after 31 s on host 10.0.0.7")
    other = fail(jobs, "ValueError", "timeout after 30 s on host 10.0.0.5")
    jobs.enqueue("test.fail_once", commit=True)
    jobs.work_off()
    groups = jobs.failure_groups()
    by_cause = {(g["type"], g["exception"], g["message"]): g for g in groups}
    timeout = by_cause[("test.raise", "TimeoutError", "timeout after <n> s on host <ip>")]
    assert timeout["count"] == 2
    assert timeout["first_seen"] <= timeout["last_seen"]
    assert "Traceback" in timeout["traceback"]
    value = by_cause[("test.raise", "ValueError", "timeout after <n> s on host <ip>")]
    assert (value["count"], value["sample"]) == (1, other)
    assert by_cause[("test.fail_once", "ValueError", "no luck")]["count"] == 1
    assert len(groups) == 3
    auth.login("operator")
    html = client.get(URL).get_data(as_text=True)
    assert html.count('class="card mb-2 jobs-admin-failure-group"') == 3
    assert "timeout after &lt;n&gt; s on host &lt;ip&gt;" in html
    assert "Retry all" in html and "Delete all" not in html  # operator: retry, no delete


def test_failures_are_scoped_to_own_jobs_without_view_all(
    app: Flask, client: Any, auth: Any, jobs: Any
) -> None:
    fail(jobs, "KeyError", "'a'", who="admin")
    fail(jobs, "KeyError", "'b'", who="viewer")
    assert jobs.failure_groups()[0]["count"] == 2
    auth.login("viewer")
    html = client.get(URL).get_data(as_text=True)
    assert "Your failed jobs only" in html
    assert re.search(r'badge-danger mr-1">1<', html)
    assert "Retry all" not in html  # viewer: view only


def test_failures_retry_all_runs_as_a_job_that_retries_the_group(
    app: Flask, client: Any, auth: Any, jobs: Any, probe: Probe
) -> None:
    ids = [fail(jobs, "TimeoutError", f"timeout after {n} s on host 10.0.0.{n}") for n in range(5)]
    apart = fail(jobs, "ValueError", "something else")
    group = group_key("TimeoutError: timeout after 1 s on host 10.0.0.1")
    auth.login("operator")
    token = auth.csrf_token()
    form = {"csrf_token": token, "action": "retry", "job_type": "test.raise", "group": group}
    response = client.post(URL + "sweep", data=form, follow_redirects=True)
    assert "Started job" in response.get_data(as_text=True)
    sweep = probe.jobs(type="jobs_admin.failure_group")
    assert len(sweep) == 1 and sweep[0]["created_by"] == "operator"
    assert sweep[0]["params"]["max_id"] == max(ids)
    # A failure that arrives after the click is not swept along.
    late = fail(jobs, "TimeoutError", "timeout after 9 s on host 10.0.0.9")
    jobs.work_off(limit=1)
    done = probe.job(sweep[0]["id"])
    assert done is not None and done["status"] == "completed", done
    assert done["result"] == {"action": "retry", "done": 5, "skipped": 0}
    assert (done["progress_done"], done["progress_total"]) == (5, 5)
    assert {probe.status(i) for i in ids} == {"pending"}
    assert probe.status(apart) == "failed" and probe.status(late) == "failed"
    # Each retry is in the retried job's audit trail, by the user who asked.
    events = probe.events(ids[0], kind="action")
    assert any("operator" in (e["message"] or "") for e in events), events


def test_failures_delete_all_asks_the_checker_per_job_and_counts_skips(
    app: Flask, client: Any, auth: Any, jobs: Any, probe: Probe, monkeypatch: Any
) -> None:
    mine = fail(jobs, "KeyError", "'x'", who="admin")
    theirs = fail(jobs, "KeyError", "'y'", who="viewer")
    group = group_key("KeyError: 'x'")
    auth.login("operator")  # no delete permission: refused, nothing queued
    form = {
        "csrf_token": auth.csrf_token(),
        "action": "delete",
        "job_type": "test.raise",
        "group": group,
    }
    page = client.post(URL + "sweep", data=form, follow_redirects=True).get_data(as_text=True)
    assert "permission" in page
    assert probe.jobs(type="jobs_admin.failure_group") == []
    auth.logout()
    auth.login("admin")
    form["csrf_token"] = auth.csrf_token()
    client.post(URL + "sweep", data=form)
    sweep = probe.jobs(type="jobs_admin.failure_group")[0]
    # The checker is asked about each job, with the user who asked: this one refuses deletes of
    # the viewer's jobs.
    host = jobs.access.checker

    def checker(user: Any, permission: str, job: Any = None) -> bool:
        if permission == "delete" and job is not None and job.created_by == "viewer":
            return False
        return bool(host(user, permission, job))

    asked: list[tuple[str, str | None]] = []
    monkeypatch.setattr(
        jobs.access,
        "checker",
        lambda u, p, j=None: asked.append((u.username, p)) or checker(u, p, j),
    )
    jobs.work_off(limit=1)
    assert ("admin", "delete") in asked
    done = probe.job(sweep["id"])
    assert done is not None and done["result"] == {"action": "delete", "done": 1, "skipped": 1}
    assert probe.job(mine) is None and probe.status(theirs) == "failed"
    assert any(f"deleted job {mine}" in (e["message"] or "") for e in probe.events(sweep["id"]))


def test_failures_sweep_refuses_bad_csrf_and_bad_input(
    app: Flask, client: Any, auth: Any, jobs: Any, probe: Probe
) -> None:
    job = fail(jobs, "KeyError", "'x'")
    group = group_key("KeyError: 'x'")
    auth.login("admin")
    form = {"action": "retry", "job_type": "test.raise", "group": group}
    page = client.post(URL + "sweep", data=form, follow_redirects=True).get_data(as_text=True)
    assert "CSRF" in page
    form["csrf_token"] = auth.csrf_token()
    for bad in ({"action": "explode"}, {"job_type": ""}, {"group": "nothere"}):
        page = client.post(URL + "sweep", data={**form, **bad}, follow_redirects=True)
        assert page.status_code == 200
    assert probe.jobs(type="jobs_admin.failure_group") == []
    assert probe.status(job) == "failed"
    assert client.get(URL + "sweep").status_code == 405
