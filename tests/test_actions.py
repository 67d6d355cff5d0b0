"""The status machine through the public actions: retry, cancel, delete (and what they refuse)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import InvalidArgument, InvalidTransition, JobNotFound, JobStatus
from jobs_admin.models import TRANSITIONS
from tests.support import Probe


def user(jobs: Any, name: str) -> Any:
    from host_app.models import User

    return jobs.db.session.scalar(sa.select(User).filter_by(username=name))


def test_status_transitions_table_matches_the_design() -> None:
    s = JobStatus
    assert TRANSITIONS[s.PENDING] == {s.RUNNING, s.CANCELLED}
    assert TRANSITIONS[s.RUNNING] == {s.COMPLETED, s.PARTIAL, s.FAILED, s.CANCELLED, s.PENDING}
    assert TRANSITIONS[s.COMPLETED] == set()
    for finished in (s.FAILED, s.PARTIAL, s.CANCELLED):
        assert TRANSITIONS[finished] == {s.PENDING}
    assert {x for x in s if x.is_active} == {s.PENDING, s.RUNNING}
    assert {x for x in s if x.is_finished} == {s.COMPLETED, s.PARTIAL, s.FAILED, s.CANCELLED}


@pytest.mark.parametrize("status", ["pending", "running", "completed"])
def test_retry_refused_writes_nothing(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, status: str
) -> None:
    job_id = make_job(status)
    before = probe.snapshot(job_id)
    with pytest.raises(InvalidTransition) as info:
        jobs.retry(job_id)
    assert info.value.current == status
    assert f"is {status}" in str(info.value)
    assert probe.snapshot(job_id) == before


@pytest.mark.parametrize("status", ["completed", "partial", "failed", "cancelled"])
def test_cancel_of_a_finished_job_refused_writes_nothing(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, status: str
) -> None:
    job_id = make_job(status)
    before = probe.snapshot(job_id)
    with pytest.raises(InvalidTransition):
        jobs.cancel(job_id)
    assert probe.snapshot(job_id) == before


@pytest.mark.parametrize("status", ["pending", "running"])
def test_delete_of_an_active_job_refused_writes_nothing(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, status: str
) -> None:
    job_id = make_job(status)
    before = probe.snapshot(job_id)
    with pytest.raises(InvalidTransition, match="still active"):
        jobs.delete(job_id)
    assert probe.snapshot(job_id) == before


def test_actions_on_a_missing_job_raise_job_not_found(app: Flask, jobs: Any) -> None:
    for action in (jobs.retry, jobs.cancel, jobs.delete):
        with pytest.raises(JobNotFound):
            action(424242)
    assert jobs.get(424242) is None
    with pytest.raises(InvalidArgument):
        jobs.retry("not an id")


@pytest.mark.parametrize("status", ["failed", "partial", "cancelled"])
def test_retry_puts_a_finished_job_back_to_pending(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, status: str
) -> None:
    job_id = make_job(status)
    old = probe.job(job_id)
    admin = user(jobs, "admin")
    job = jobs.retry(job_id, user=admin)
    assert job.status == "pending"
    row = probe.job(job_id)
    assert row["status"] == "pending"
    assert row["error"] is None and row["traceback"] is None and row["result"] is None
    assert row["finished_at"] is None and row["started_at"] is None
    assert row["progress_done"] == 0 and row["progress_failed"] == 0
    assert row["progress_total"] is None
    assert row["updated_by"] == "admin"
    # A manual retry gives a fresh max_attempts from the attempts used so far.
    assert row["attempts"] == old["attempts"]
    assert row["max_attempts"] == old["attempts"] + 1
    action = probe.events(job_id, kind="action")[-1]
    assert action["message"] == "retried by admin"
    assert action["data"] == {"action": "retry", "user": "admin"}
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts()[status] == 0 and jobs.counts()["pending"] == 1
    # And it runs again.
    jobs.work_off()
    again = probe.job(job_id)
    assert again["attempts"] == old["attempts"] + 1
    assert again["status"] in ("completed", "failed", "partial")


def test_retry_removes_the_previous_result_file(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    job_id = make_job("failed", "test.result_file", fail=True)
    row = probe.job(job_id)
    assert row["result_file"] == f"{job_id}/report.txt"
    path = jobs.settings().results_dir / row["result_file"]
    assert path.is_file()
    jobs.retry(job_id)
    assert probe.job(job_id)["result_file"] is None
    assert not path.exists()


def test_cancel_pending_job_is_cancelled_at_once(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    job_id = make_job("pending", created_by="viewer")
    job = jobs.cancel(job_id, user=user(jobs, "operator"))
    assert job.status == "cancelled"
    row = probe.job(job_id)
    assert row["status"] == "cancelled"
    assert row["finished_at"] is not None
    assert row["updated_by"] == "operator"
    assert row["attempts"] == 0
    action = probe.events(job_id, kind="action")[-1]
    assert action["message"] == "cancelled by operator"
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts(user(jobs, "viewer"))["cancelled"] == 1
    # It is never claimed.
    assert jobs.work_off() == 0


def test_cancel_running_job_sets_the_flag(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    job_id = make_job("running", "test.slow_cancellable")
    job = jobs.cancel(job_id)
    assert job.status == "running"
    row = probe.job(job_id)
    assert row["status"] == "running" and row["cancel_requested"] is True
    assert probe.events(job_id, kind="action")[-1]["message"] == "cancel requested by system"
    # The worker that owns it learns it from the heartbeat.
    with jobs.db.engine.begin() as conn:
        assert jobs.store.heartbeat(conn, "ghost:1:test", [job_id]) == {job_id}
        assert jobs.store.heartbeat(conn, "someone-else", [job_id]) == set()


def test_cancel_uncancellable_running_job_refused_writes_nothing(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    job_id = make_job("running", "test.uncancellable")
    before = probe.snapshot(job_id)
    with pytest.raises(InvalidTransition, match="cannot stop while running"):
        jobs.cancel(job_id)
    assert probe.snapshot(job_id) == before
    assert probe.job(job_id)["cancel_requested"] is False


def test_cancel_uncancellable_pending_job_is_allowed(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    job_id = make_job("pending", "test.uncancellable")
    assert jobs.cancel(job_id).status == "cancelled"
    assert probe.status(job_id) == "cancelled"


@pytest.mark.parametrize("status", ["completed", "partial", "failed", "cancelled"])
def test_delete_finished_job_removes_it_and_its_events(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, status: str
) -> None:
    keep = make_job("completed")
    job_id = make_job(status, created_by="admin")
    assert probe.events(job_id)
    assert jobs.delete(job_id) is None
    assert probe.job(job_id) is None
    assert probe.events(job_id) == []
    assert probe.job(keep) is not None and probe.events(keep)
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts(user(jobs, "admin"))["total"] == 0


def test_delete_removes_the_result_file(app: Flask, jobs: Any, probe: Probe) -> None:
    job = jobs.enqueue("test.result_file", filename="out.csv", commit=True)
    jobs.work_off()
    row = probe.job(job.id)
    path = jobs.settings().results_dir / row["result_file"]
    assert path.read_text() == f"job {job.id}\n"
    jobs.delete(job.id)
    assert not path.exists()
    assert not path.parent.exists()  # the job's own folder goes too
    assert jobs.settings().results_dir.is_dir()


def test_actions_accept_a_job_or_its_id(app: Flask, jobs: Any, probe: Probe) -> None:
    a = jobs.enqueue("test.noop", commit=True)
    b = jobs.enqueue("test.noop", commit=True)
    a_id, b_id = a.id, b.id
    jobs.cancel(a)
    jobs.cancel(str(b_id))
    assert probe.status(a_id) == probe.status(b_id) == "cancelled"
    jobs.delete(jobs.get(a_id))
    assert probe.job(a_id) is None
