"""Actions on everything a filter matches: ``<view>/bulk`` starts a ``jobs_admin.bulk`` job
that retries, cancels, deletes or exports every job the list's filter matched."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from flask import Flask

from jobs_admin.service import _bulk
from tests.support import Probe
from tests.test_admin_actions import flashes, token

BULK = "jobs_admin.bulk"
FAILED_FAIL_ONCE = "flt0_status_equals=failed&flt1_type_equals=test.fail_once"


def post_bulk(client: Any, query: str, action: str, **form: Any) -> Any:
    data = {"csrf_token": token(client), "action": action, **form}
    return client.post(f"/admin/jobs/bulk?{query}", data=data)


def bulk_jobs(probe: Probe) -> list[dict[str, Any]]:
    return probe.jobs(type=BULK)


def run_bulk(jobs: Any, probe: Probe) -> dict[str, Any]:
    """Run the one bulk job (no other job is pending) and return its row."""
    (pending,) = [j for j in probe.jobs(status="pending")]
    assert pending["type"] == BULK
    assert jobs.work_off(limit=1) == 1
    row = probe.job(pending["id"])
    assert row is not None
    return row


def test_bulk_retry_as_admin_retries_every_matching_job(
    app: Flask,
    client: Any,
    auth: Any,
    jobs: Any,
    probe: Probe,
    make_job: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_bulk, "BATCH", 2)
    failed = [make_job("failed") for _ in range(5)]
    other_type = make_job("partial")
    done = make_job("completed")
    auth.login("admin")
    count = client.get(f"/admin/jobs/bulk/count?{FAILED_FAIL_ONCE}").get_json()
    assert count == {"count": 5, "max_id": max(failed), "filter": count["filter"]}
    assert "Status: Failed" in count["filter"]
    response = post_bulk(client, FAILED_FAIL_ONCE, "retry", max_id=count["max_id"])
    assert response.status_code == 302
    (category, message), *_ = flashes(client)
    assert category == "success" and "Retry of 5 jobs" in message
    # A job failing after the confirmation is not in it (its id is above max_id).
    late = make_job("failed")
    row = run_bulk(jobs, probe)
    assert row["status"] == "completed", row["error"]
    assert row["result"]["done"] == 5 and row["result"]["skipped"] == 0
    assert (row["progress_done"], row["progress_total"]) == (5, 5)
    assert row["params"]["user_id"] and row["params"]["own"] is None
    assert all(probe.status(i) == "pending" for i in failed)
    assert probe.status(other_type) == "partial" and probe.status(late) == "failed"
    assert probe.status(done) == "completed"
    # One audit event per job retried, naming the requester.
    for job_id in failed:
        actions = [e for e in probe.events(job_id) if "retried by admin" in (e["message"] or "")]
        assert len(actions) == 1, probe.events(job_id)
    assert jobs.counts() == probe.group_by_status()


def test_bulk_as_operator_skips_what_the_checker_refuses(
    app: Flask,
    client: Any,
    auth: Any,
    jobs: Any,
    probe: Probe,
    make_job: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mine = [make_job("failed", created_by="operator") for _ in range(3)]
    theirs = [make_job("failed", created_by="admin") for _ in range(2)]
    auth.login("operator")
    post_bulk(client, "flt0_status_equals=failed", "retry")
    assert flashes(client)[0][0] == "success"
    demo = jobs.access.checker

    def checker(user: Any, permission: str, job: Any = None) -> bool:
        # The host refuses operators a retry of the admin's jobs.
        if job is not None and permission == "retry" and job.created_by == "admin":
            return False
        return demo(user, permission, job)

    monkeypatch.setattr(jobs.access, "checker", checker)
    row = run_bulk(jobs, probe)
    assert row["status"] == "completed"
    assert row["result"]["done"] == 3 and row["result"]["skipped"] == 2
    assert sorted(row["result"]["skipped_ids"]) == sorted(theirs)
    assert all(probe.status(i) == "pending" for i in mine)
    assert all(probe.status(i) == "failed" for i in theirs)
    assert "skipped 2" in row["message"]


def test_bulk_cancelled_midway_keeps_what_it_did(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from host_app.models import User
    from jobs_admin.runner import run_job

    monkeypatch.setattr(_bulk, "BATCH", 2)
    failed = [make_job("failed") for _ in range(5)]
    admin = jobs.db.session.query(User).filter_by(username="admin").one()
    job, count = jobs.bulk("retry", {"filters": [["status", "failed"]]}, user=admin)
    assert count == 5
    contexts: list[Any] = []
    act_chunk = _bulk.act_chunk

    def act_then_cancel(rt: Any, action: str, ids: Any, who: Any) -> Any:
        contexts[0].request_stop("cancelled")  # a cancel arriving during the first batch
        return act_chunk(rt, action, ids, who)

    monkeypatch.setattr(_bulk, "act_chunk", act_then_cancel)
    with jobs.db.engine.begin() as conn:
        assert jobs.store.claim(conn, "test:1:x", 1) == [job.id]
    run_job(jobs.runtime(app), job.id, "test:1:x", lambda _id, ctx: ctx and contexts.append(ctx))
    row = probe.job(job.id)
    assert row["status"] == "cancelled"
    assert (row["progress_done"], row["progress_total"]) == (2, 5)
    # What it did is counted in its log (the last line before the cancel).
    assert any("Retried 2 job(s), skipped 0" in (e["message"] or "") for e in probe.events(job.id))
    assert [probe.status(i) for i in failed] == ["pending"] * 2 + ["failed"] * 3


def test_bulk_viewer_cannot_start_one(
    app: Flask, client: Any, auth: Any, probe: Probe, make_job: Any
) -> None:
    make_job("failed", created_by="viewer")
    auth.login("viewer")
    for action in ("retry", "cancel", "delete", "export"):
        response = post_bulk(client, "flt0_status_equals=failed", action)
        assert response.status_code == 302
        ((category, message),) = flashes(client)
        assert category == "error" and "permission" in message
    assert bulk_jobs(probe) == []


def test_bulk_bad_filter_or_search_is_a_flash(
    app: Flask, client: Any, auth: Any, probe: Probe, make_job: Any
) -> None:
    make_job("failed")
    auth.login("admin")
    for query in (
        "flt0_status_equals=nonsense",
        "flt0_nosuch_equals=x",
        "search=params.:x",
        "flt0_created_between=2024-13-01+to+2024-01-02",
    ):
        response = post_bulk(client, query, "retry")
        assert response.status_code == 302, query
        ((category, message),) = flashes(client)
        assert category == "error" and "nothing was changed" in message, (query, message)
    assert client.get("/admin/jobs/bulk/count?flt0_status_equals=nonsense").status_code == 400
    post_bulk(client, "", "explode")
    assert flashes(client)[0][0] == "error"
    assert bulk_jobs(probe) == []


def test_bulk_requires_csrf(
    app: Flask, client: Any, auth: Any, probe: Probe, make_job: Any
) -> None:
    make_job("failed")
    auth.login("admin")
    token(client)
    response = client.post("/admin/jobs/bulk?flt0_status_equals=failed", data={"action": "retry"})
    assert response.status_code == 302
    assert flashes(client)[0][0] == "error"
    assert bulk_jobs(probe) == []


def test_bulk_export_writes_a_csv_of_the_matching_rows(
    app: Flask,
    client: Any,
    auth: Any,
    jobs: Any,
    probe: Probe,
    make_job: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_bulk, "BATCH", 2)
    failed = [make_job("failed") for _ in range(3)]
    make_job("completed")
    auth.login("admin")
    post_bulk(client, "flt0_status_equals=failed", "export")
    row = run_bulk(jobs, probe)
    assert row["status"] == "completed" and row["result"]["done"] == 3
    path = jobs.settings().results_dir / row["result_file"]
    with path.open(newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    assert lines[0][0] == "ID" or lines[0][0].lower() == "id"
    assert sorted(int(r[0]) for r in lines[1:]) == sorted(failed)
    assert all(probe.status(i) == "failed" for i in failed)


def test_bulk_delete_and_cancel_on_a_filter(
    app: Flask, client: Any, auth: Any, jobs: Any, probe: Probe, make_job: Any
) -> None:
    done = [make_job("completed") for _ in range(3)]
    auth.login("admin")
    post_bulk(client, "flt0_status_equals=completed", "delete")
    row = run_bulk(jobs, probe)
    assert row["result"]["done"] == 3
    assert all(probe.job(i) is None for i in done)
    pending = [make_job("pending") for _ in range(2)]
    post_bulk(client, "flt0_status_equals=pending&flt1_type_equals=test.noop", "cancel")
    bulk = max(r["id"] for r in bulk_jobs(probe))
    # work_off runs the pending jobs too; the bulk job (cancelled jobs never run) comes first
    # by running it alone.
    jobs.cancel  # noqa: B018 - the facade the bulk job goes through
    assert jobs.work_off(limit=None) >= 1
    assert probe.job(bulk)["status"] == "completed"
    assert all(probe.status(i) in ("cancelled", "completed") for i in pending)
    assert jobs.counts() == probe.group_by_status()


def test_bulk_retry_skips_jobs_in_another_state_within_a_chunk(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from host_app.models import User
    from jobs_admin.service import _bulk_acts

    monkeypatch.setattr(_bulk_acts, "CHUNK", 3)
    monkeypatch.setattr(_bulk, "CHUNK", 3)
    ids = [make_job(s) for s in ("failed", "completed", "failed", "cancelled", "completed")]
    admin = jobs.db.session.query(User).filter_by(username="admin").one()
    flt = {"filters": [["created_after", "2000-01-01T00:00:00+00:00"]]}
    job, count = jobs.bulk("retry", flt, user=admin)
    assert count == 5  # the bulk job itself comes after max_id
    assert jobs.work_off(limit=1) == 1
    row = probe.job(job.id)
    assert row["status"] == "completed", row["error"]
    assert row["result"]["done"] == 3  # the failed and the cancelled ones
    assert sorted(row["result"]["skipped_ids"]) == [ids[1], ids[4]]  # completed: not retryable
    assert [probe.status(i) for i in ids] == [
        "pending",
        "completed",
        "pending",
        "pending",
        "completed",
    ]
    assert jobs.counts() == probe.group_by_status()
