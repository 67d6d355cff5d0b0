"""The core engine on PostgreSQL: enqueue, claims (SKIP LOCKED), work_off, counters, prune,
rescue, and concurrent workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import InvalidParams, InvalidTransition
from jobs_admin.store import PG_COUNTER_SLOTS
from jobs_admin.worker import Worker
from tests.support import Probe

pytestmark = pytest.mark.postgres

STRESS_JOBS = 2000


@pytest.fixture
def pg(pg_app: Flask) -> Iterator[Flask]:
    """``pg_app`` with its app context pushed for the test."""
    with pg_app.app_context():
        yield pg_app


def test_pg_enqueue_joins_the_callers_transaction(pg: Flask, jobs: Any, probe: Probe) -> None:
    assert jobs.db.engine.dialect.name == "postgresql"
    job = jobs.enqueue("test.items", count="7")
    assert job.id is not None
    assert probe.count("jobs") == 0  # another connection does not see it yet
    jobs.db.session.rollback()
    assert probe.count("jobs") == 0 and probe.count("events") == 0
    assert jobs.counts()["total"] == 0
    job = jobs.enqueue("test.items", count="7", commit=True)
    row = probe.job(job.id)
    assert row["status"] == "pending" and row["params"]["count"] == 7
    assert row["created_at"].tzinfo is not None
    with pytest.raises(InvalidParams):
        jobs.enqueue("test.items", count="x", commit=True)
    assert probe.count("jobs") == 1


def test_pg_work_off_runs_jobs_and_stores_outcomes(pg: Flask, jobs: Any, probe: Probe) -> None:
    ok = jobs.enqueue("test.items", count=6, fail_every=3, commit=True).id
    bad = jobs.enqueue("test.fail_once", commit=True).id
    flaky = jobs.enqueue("test.flaky", commit=True).id
    nan_result = "test.nan_result"
    if nan_result not in jobs.registry:

        @jobs.job_type(nan_result)
        def nan(ctx: Any) -> float:
            return float("nan")

    nan_job = jobs.enqueue(nan_result, commit=True).id
    assert jobs.work_off() == 4
    row = probe.job(ok)
    assert (row["status"], row["progress_done"], row["progress_failed"]) == ("partial", 4, 2)
    assert row["result"] == {"count": 6, "done": 4, "failed": 2}
    assert [e["data"]["key"] for e in probe.events(ok, kind="item_failed")] == [
        "items-0",
        "items-3",
    ]
    row = probe.job(bad)
    assert row["status"] == "failed" and "ValueError: no luck" in row["traceback"]
    assert probe.status(flaky) == "pending"
    # JSONB refuses NaN: the job fails cleanly instead of staying running.
    row = probe.job(nan_job)
    assert row["status"] == "failed" and "not JSON" in row["error"]
    assert jobs.counts() == probe.group_by_status()


def test_pg_claims_respect_the_limit_and_never_overlap(pg: Flask, jobs: Any, probe: Probe) -> None:
    n = 300
    ids = [jobs.enqueue("test.noop").id for _ in range(n)]
    jobs.db.session.commit()
    claimed: list[list[int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        try:
            with pg.app_context():
                claim_all(name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def claim_all(name: str) -> None:
        while True:
            with jobs.db.engine.begin() as conn:
                got = jobs.store.claim(conn, name, 3)
            if not got:
                return
            with lock:
                claimed.append(got)

    threads = []
    for i in range(8):
        t = threading.Thread(target=claimer, args=(f"claimer-{i}",))
        threads.append(t)
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(1 <= len(batch) <= 3 for batch in claimed)
    flat = [i for batch in claimed for i in batch]
    assert len(flat) == len(set(flat)) == n
    assert sorted(flat) == sorted(ids)
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts()["running"] == n
    assert len(probe.events(kind="status")) == 2 * n


def test_pg_counters_are_spread_over_slots_and_exact(
    pg: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    for _ in range(40):
        jobs.enqueue("test.noop", created_by="viewer")
    jobs.db.session.commit()
    rows = [r for r in probe.counter_rows() if r["status"] == "pending"]
    assert 1 < len(rows) <= PG_COUNTER_SLOTS
    assert {r["slot"] for r in rows} <= set(range(PG_COUNTER_SLOTS))
    assert sum(r["n"] for r in rows) == 40
    make_job("failed", created_by="admin")
    make_job("cancelled")
    make_job("running")
    jobs.work_off(limit=10)
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts()["completed"] == 10
    counters = jobs.store.counts_table
    with jobs.db.engine.begin() as conn:
        conn.execute(sa.update(counters).values(n=0))
    assert jobs.recount() == probe.group_by_status()
    assert jobs.counts() == probe.group_by_status()


def test_pg_actions_and_transitions(pg: Flask, jobs: Any, probe: Probe, make_job: Any) -> None:
    running = make_job("running")
    completed = make_job("completed")
    for action, job_id in ((jobs.retry, running), (jobs.retry, completed)):
        before = probe.snapshot(job_id)
        with pytest.raises(InvalidTransition):
            action(job_id)
        assert probe.snapshot(job_id) == before
    with pytest.raises(InvalidTransition):
        jobs.delete(running)
    failed = make_job("failed")
    assert jobs.retry(failed).status == "pending"
    assert jobs.cancel(failed).status == "cancelled"
    jobs.delete(failed)
    assert probe.job(failed) is None and probe.events(failed) == []
    assert jobs.counts() == probe.group_by_status()


def test_pg_rescue(pg: Flask, jobs: Any, probe: Probe, make_job: Any) -> None:
    retryable = make_job("running", "test.fail")
    spent = make_job("running", "test.noop")
    for job_id in (retryable, spent):
        probe.update(job_id, heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
    assert jobs.rescue() == ([retryable], [spent])
    assert probe.status(retryable) == "pending"
    assert probe.job(spent)["error"] == "worker lost"
    assert jobs.counts() == probe.group_by_status()


@pytest.mark.app_config(JOBS_ADMIN_PRUNE_BATCH=2)
def test_pg_prune(pg: Flask, jobs: Any, probe: Probe, make_job: Any) -> None:
    old = [make_job(s) for s in ("completed", "failed", "partial", "cancelled", "completed")]
    new = make_job("completed")
    active = [make_job("pending"), make_job("running")]
    for job_id in [*old, active[1]]:
        probe.update(job_id, finished_at=datetime.now(UTC) - timedelta(days=40))
    retried = jobs.retry_failed_items(old[2]).id
    assert jobs.count_prunable() == 5
    assert jobs.prune() == 5
    assert {r["id"] for r in probe.jobs()} == {new, *active, retried}
    assert all(probe.events(job_id) == [] for job_id in old)
    assert probe.job(retried)["retry_of"] is None
    assert jobs.counts() == probe.group_by_status()


@pytest.mark.app_config(JOBS_ADMIN_POLL_INTERVAL=30)
def test_pg_worker_end_to_end_with_notify_wake_up(
    pg_app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    with pg_app.app_context():
        worker = jobs.start_worker()
        job_id = jobs.enqueue("test.items", count=5, commit=True).id
        wait_for(lambda: probe.status(job_id) == "completed")
        assert probe.job(job_id)["worker"] == worker.name
    # A job enqueued by "another process" (through the store, no local wake call) is picked
    # up through LISTEN/NOTIFY, long before the next poll (30 s).
    with pg_app.app_context():
        from sqlalchemy.orm import Session

        with Session(jobs.db.engine) as session:
            other = jobs.store.enqueue(session, type="test.noop", name="elsewhere", params={})
            other_id = other.id
            session.commit()
        wait_for(lambda: probe.status(other_id) == "completed", timeout=10)


@pytest.mark.slow
@pytest.mark.app_config(JOBS_ADMIN_POLL_INTERVAL=0.2)
def test_pg_stress_two_workers_run_every_job_once(
    pg: Flask, jobs: Any, probe: Probe, markers: list[int], wait_for: Any
) -> None:
    ids = [jobs.enqueue("test.marker", created_by=f"u{i % 2}").id for i in range(STRESS_JOBS)]
    jobs.db.session.commit()
    workers = [Worker(jobs.runtime(pg), 4), Worker(jobs.runtime(pg), 4)]
    try:
        for w in workers:
            w.start()
        ran_here = jobs.work_off()
        wait_for(lambda: len(markers) >= STRESS_JOBS, timeout=120)
        wait_for(lambda: all(not w.running_ids() for w in workers))
    finally:
        for w in workers:
            w.stop(wait=True)
    assert sorted(markers) == sorted(ids)
    rows = probe.jobs()
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["attempts"] for r in rows} == {1}
    names = {w.name for w in workers}
    by_worker = {n: sum(1 for r in rows if r["worker"] == n) for n in names}
    assert sum(by_worker.values()) + ran_here == STRESS_JOBS
    assert all(by_worker.values()), by_worker
    assert len(probe.events(kind="status")) == 3 * STRESS_JOBS
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts()["completed"] == STRESS_JOBS
    assert probe.group_by_status("u0")["completed"] == STRESS_JOBS // 2
