"""The APScheduler worker: end to end, wake-ups, lazy start, cancel, graceful stop, rescue,
housekeeping, and concurrent claims."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import InvalidTransition, signals
from jobs_admin.config import crontab_trigger
from jobs_admin.cron import next_after
from jobs_admin.models import JobStatus
from jobs_admin.store import Finish
from jobs_admin.worker import Worker
from tests.support import Probe


def scheduler_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "APScheduler" and t.is_alive())


def test_worker_runs_a_job_end_to_end(app: Flask, jobs: Any, probe: Probe, wait_for: Any) -> None:
    worker = jobs.start_worker()
    assert worker.running and jobs.worker() is worker
    job = jobs.enqueue("test.items", count=20, fail_every=10, commit=True)
    wait_for(lambda: probe.status(job.id) == "partial")
    row = probe.job(job.id)
    assert row["worker"] == worker.name
    assert (row["progress_total"], row["progress_done"], row["progress_failed"]) == (20, 18, 2)
    assert row["result"] == {"count": 20, "done": 18, "failed": 2}
    assert row["attempts"] == 1
    assert row["started_at"] is not None and row["finished_at"] >= row["started_at"]
    started = probe.events(job.id, kind="status")[1]
    assert started["message"] == f"started attempt 1 of 1 on {worker.name}"
    assert jobs.counts() == probe.group_by_status()
    wait_for(lambda: worker.running_ids() == [])


@pytest.mark.app_config(JOBS_ADMIN_POLL_INTERVAL=30)
def test_worker_wakes_at_once_on_enqueue_and_commit(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    worker = jobs.start_worker()
    first = jobs.enqueue("test.noop", commit=True)
    wait_for(lambda: probe.status(first.id) == "completed", timeout=10)
    wait_for(lambda: worker.running_ids() == [])
    # The worker is idle and its next poll is ~30 s away: only the commit can wake it.
    job = jobs.enqueue("test.noop", commit=True)
    wait_for(lambda: probe.status(job.id) == "completed", timeout=10)
    wait_for(lambda: worker.running_ids() == [])
    # A job enqueued in the caller's transaction wakes it at the caller's commit.
    second = jobs.enqueue("test.noop")
    jobs.db.session.commit()
    wait_for(lambda: probe.status(second.id) == "completed", timeout=10)
    assert {probe.job(i)["worker"] for i in (first.id, job.id, second.id)} == {worker.name}


@pytest.mark.app_config(JOBS_ADMIN_WORKER="embedded")
def test_worker_lazy_start_on_first_request_never_twice(
    app: Flask, jobs: Any, probe: Probe, client: Any, wait_for: Any
) -> None:
    threads_before = scheduler_threads()
    assert jobs.worker() is None
    assert jobs.runtime(app).worker is None
    client.get("/login")
    worker = jobs.worker()
    assert worker is not None and worker.running
    assert scheduler_threads() == threads_before + 1
    client.get("/login")
    assert jobs.worker() is worker

    # Many first requests at once (a fresh app) still start one worker.
    results: list[Any] = []

    def hit() -> None:
        with app.test_client() as c:
            c.get("/login")
        results.append(jobs.runtime(app).worker)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results and all(w is worker for w in results)
    assert jobs.start_worker() is worker
    assert scheduler_threads() == threads_before + 1
    # And it runs jobs.
    job = jobs.enqueue("test.noop", commit=True)
    wait_for(lambda: probe.status(job.id) == "completed")


def test_worker_off_never_starts_on_requests(app: Flask, jobs: Any, client: Any) -> None:
    client.get("/login")
    client.get("/login")
    assert jobs.worker() is None


def test_worker_start_twice_returns_the_same_worker(app: Flask, jobs: Any) -> None:
    threads_before = scheduler_threads()
    first = jobs.start_worker()
    assert jobs.start_worker() is first
    assert scheduler_threads() == threads_before + 1
    assert jobs.stop_worker() == []
    assert jobs.worker() is None
    assert not first.running
    second = jobs.start_worker()
    assert second is not first and second.running


def test_worker_cancel_running_job_stops_at_next_check(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    jobs.start_worker()
    job = jobs.enqueue("test.slow_cancellable", steps=500, delay=0.01, commit=True)
    wait_for(lambda: (probe.job(job.id)["progress_done"] or 0) >= 3)
    assert jobs.cancel(job.id).status == "running"  # asked; it stops by itself
    wait_for(lambda: probe.status(job.id) == "cancelled")
    row = probe.job(job.id)
    assert 3 <= row["progress_done"] < 500  # items done before the cancel stay done
    assert row["progress_total"] == 500
    assert row["message"] == "cancelled" and row["phase"] is None
    assert row["finished_at"] is not None and row["attempts"] == 1
    assert [e["message"] for e in probe.events(job.id, kind="action")] == [
        "cancel requested by system"
    ]
    assert probe.events(job.id, kind="status")[-1]["data"] == {"status": "cancelled"}
    assert jobs.counts() == probe.group_by_status()


@pytest.mark.app_config(JOBS_ADMIN_HEARTBEAT_INTERVAL=0.1, JOBS_ADMIN_STALE_AFTER=30)
def test_worker_heartbeat_brings_a_cancel_from_another_process(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    worker = jobs.start_worker()
    job = jobs.enqueue("test.slow_cancellable", steps=500, delay=0.01, commit=True)
    wait_for(lambda: (probe.job(job.id)["progress_done"] or 0) >= 1)
    # Another process sets the flag in the database only.
    with jobs.db.engine.begin() as conn:
        jobs.store.cancel(conn, job.id, "elsewhere", True)
    wait_for(lambda: probe.status(job.id) == "cancelled")
    row = probe.job(job.id)
    assert 1 <= row["progress_done"] < 500
    assert row["heartbeat_at"] > row["started_at"]  # heartbeats were written
    assert worker.running


def test_worker_uncancellable_running_job_refuses_cancel(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any, gate: threading.Event
) -> None:
    jobs.start_worker()
    job = jobs.enqueue("test.uncancellable", commit=True)
    wait_for(lambda: probe.job(job.id)["phase"] == "waiting for the gate")
    before = probe.snapshot(job.id)
    with pytest.raises(InvalidTransition, match="cannot stop while running"):
        jobs.cancel(job.id)
    assert probe.snapshot(job.id) == before
    gate.set()
    wait_for(lambda: probe.status(job.id) == "completed")
    assert probe.job(job.id)["result"] == "released"


def test_worker_graceful_stop_hands_back_a_cancellable_job(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    finished: list[Any] = []

    def on_finished(sender: Any, job: Any) -> None:
        finished.append((job.id, job.status))

    signals.job_finished.connect(on_finished)
    try:
        first = jobs.start_worker()
        job = jobs.enqueue("test.slow_cancellable", steps=100, delay=0.02, commit=True)
        wait_for(lambda: (probe.job(job.id)["progress_done"] or 0) >= 2)
        assert jobs.stop_worker() == []
        assert not first.running
        row = probe.job(job.id)
        assert row["status"] == "pending"
        assert row["attempts"] == 0  # the interrupted attempt was refunded
        assert row["worker"] is None and row["finished_at"] is None
        done_before = row["progress_done"]
        assert 2 <= done_before < 100
        assert row["phase"] == "Paused" and row["started_at"] is not None
        first_start = row["started_at"]
        last = probe.events(job.id, kind="status")[-1]
        assert last["message"] == f"paused: {first.name} shut down"
        assert last["data"] == {
            "status": "pending",
            "paused": {"done": done_before, "failed": 0, "total": 100},
        }
        assert jobs.counts()["pending"] == 1 and jobs.counts()["running"] == 0
        assert finished == []

        second = jobs.start_worker()
        assert second is not first
        wait_for(lambda: probe.status(job.id) == "completed")
        row = probe.job(job.id)
        assert row["worker"] == second.name
        assert row["attempts"] == 1
        assert row["progress_done"] == 100 and row["result"] == {"done": 100}
        assert row["started_at"] == first_start  # Started stays the first start
        assert row["phase"] is None
        messages = [e["message"] for e in probe.events(job.id, kind="status")]
        assert messages[-4:] == [  # History shows each run's start and its hand-back
            f"paused: {first.name} shut down",
            f"started attempt 1 of 1 on {second.name}",
            f"resumed on {second.name} at {done_before}/100",
            "completed",
        ]
        wait_for(lambda: finished)  # sent once the batched end is written
        assert finished == [(job.id, "completed")]
        assert jobs.counts() == probe.group_by_status()
    finally:
        signals.job_finished.disconnect(on_finished)


def test_worker_graceful_stop_waits_for_an_uncancellable_job(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any, gate: threading.Event
) -> None:
    jobs.start_worker()
    job = jobs.enqueue("test.uncancellable", commit=True)
    wait_for(lambda: probe.job(job.id)["phase"] == "waiting for the gate")
    opener = threading.Timer(0.3, gate.set)
    opener.start()
    try:
        assert jobs.stop_worker() == []  # returns once the job is done
    finally:
        opener.cancel()
    row = probe.job(job.id)
    assert row["status"] == "completed" and row["attempts"] == 1
    messages = [e["message"] for e in probe.events(job.id, kind="status")]
    assert "handed back to the queue at worker shutdown" not in messages


def test_worker_job_starting_while_stopping_is_asked_to_hand_back(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    # The window between a claim and the job's context: stop() has already asked the running
    # jobs to hand themselves back when this one registers its context.
    from jobs_admin.runner import SHUTDOWN, run_job

    worker = Worker(jobs.runtime(app), 1)
    job_id = make_job("running", "test.slow_cancellable")
    probe.update(job_id, worker=worker.name)
    worker._stopping = True  # stop() has begun
    status = run_job(jobs.runtime(app), job_id, worker.name, worker._register)
    assert status == "pending"
    row = probe.job(job_id)
    assert row["status"] == "pending" and row["attempts"] == 0 and row["progress_done"] == 0
    last = probe.events(job_id, kind="status")[-1]["message"]
    assert last == f"paused: {worker.name} shut down"
    assert row["phase"] == "Paused"
    assert SHUTDOWN == "worker shutting down"


@pytest.mark.app_config(JOBS_ADMIN_SHUTDOWN_GRACE=0.2)
def test_worker_stop_reports_jobs_left_running_after_the_grace(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any, gate: threading.Event
) -> None:
    jobs.start_worker()
    job = jobs.enqueue("test.uncancellable", commit=True)
    wait_for(lambda: probe.job(job.id)["phase"] == "waiting for the gate")
    assert jobs.stop_worker() == [job.id]
    assert probe.status(job.id) == "running"
    gate.set()  # it still finishes and records its end
    wait_for(lambda: probe.status(job.id) == "completed")


# -- short jobs: claimed ahead, ended in batches ----------------------------------------------


@pytest.mark.app_config(JOBS_ADMIN_CONCURRENCY=2)
def test_worker_ends_short_jobs_in_batches(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any
) -> None:
    finished: list[tuple[int, str, Any]] = []
    commits: list[int] = []

    def on_finished(sender: Any, job: Any) -> None:
        finished.append((job.id, job.status, job.result))

    ids = [
        jobs.enqueue("test.echo", params={"n": i}, created_by=f"u{i % 2}").id for i in range(200)
    ]
    jobs.db.session.commit()

    def on_commit(conn: Any) -> None:
        commits.append(1)

    sa.event.listen(jobs.db.engine, "commit", on_commit)
    signals.job_finished.connect(on_finished)
    try:
        worker = jobs.start_worker()
        wait_for(lambda: jobs.counts()["completed"] == 200, timeout=60)
        wait_for(lambda: worker.owned_ids() == [])
        assert worker._ahead() > 0  # it learnt that its jobs are short
    finally:
        signals.job_finished.disconnect(on_finished)
        sa.event.remove(jobs.db.engine, "commit", on_commit)
    # One claim and one end per job would be 400 commits; batches need far fewer.
    assert len(commits) < 200
    rows = {r["id"]: r for r in probe.jobs()}
    for n, job_id in enumerate(ids):
        row = rows[job_id]
        assert row["status"] == "completed" and row["worker"] == worker.name
        assert row["result"] == {"n": n}
        assert row["finished_at"] >= row["started_at"]
        assert row["error"] is None and row["phase"] is None
        assert [e["message"] for e in probe.events(job_id, kind="status")] == [
            "enqueued",
            f"started attempt 1 of 1 on {worker.name}",
            "completed",
        ]
    assert sorted(finished) == [(i, "completed", {"n": n}) for n, i in enumerate(ids)]
    assert jobs.counts() == probe.group_by_status()
    someone = SimpleNamespace(username="u1", is_authenticated=True)
    assert jobs.counts(someone) == probe.group_by_status("u1")


def test_store_finish_many_leaves_jobs_the_worker_lost(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    ids = [make_job("pending") for _ in range(3)]
    with jobs.db.engine.begin() as conn:
        assert jobs.store.claim(conn, "me:1:a", 3) == ids
    probe.update(ids[1], worker="other:2:b")  # rescued and claimed elsewhere meanwhile
    now = datetime.now(UTC)
    ends = [
        Finish(i, JobStatus.COMPLETED, {"result": {"i": i}, "progress_done": 7}, [], now)
        for i in ids
    ]
    with jobs.db.engine.begin() as conn:
        assert jobs.store.finish_many(conn, "me:1:a", ends) == [ids[0], ids[2]]
    assert [probe.status(i) for i in ids] == ["completed", "running", "completed"]
    assert probe.job(ids[0])["result"] == {"i": ids[0]}
    assert probe.job(ids[0])["progress_done"] == 7
    assert probe.job(ids[1])["result"] is None
    assert jobs.counts() == probe.group_by_status()
    bad = [Finish(ids[1], JobStatus.FAILED, {}, [], now)]
    with pytest.raises(InvalidTransition), jobs.db.engine.begin() as conn:
        jobs.store.finish_many(conn, "other:2:b", bad)
    assert probe.status(ids[1]) == "running"


@pytest.mark.app_config(JOBS_ADMIN_CLAIM_AHEAD=1.0)
def test_worker_stop_hands_back_jobs_claimed_ahead(
    app: Flask, jobs: Any, probe: Probe, wait_for: Any, gate: threading.Event
) -> None:
    blocker = jobs.enqueue("test.uncancellable", commit=True).id
    queued = [jobs.enqueue("test.noop").id for _ in range(5)]
    jobs.db.session.commit()
    worker = Worker(jobs.runtime(app), 1)
    worker._run_seconds = 0.001  # as if its last jobs had been short: it claims ahead
    worker.start()
    try:
        wait_for(lambda: probe.status(queued[-1]) == "running")
        # The claim's commit is seen a moment before the dispatcher has taken the rows in.
        wait_for(lambda: worker.owned_ids() == sorted([blocker, *queued]))
        assert worker.stop(wait=True, grace=0.3) == [blocker]
        for job_id in queued:
            row = probe.job(job_id)
            assert row["status"] == "pending" and row["attempts"] == 0 and row["worker"] is None
            assert probe.events(job_id, kind="status")[-1]["message"] == (
                "handed back to the queue at worker shutdown (not started)"
            )
        assert jobs.counts() == probe.group_by_status()
    finally:
        gate.set()
    wait_for(lambda: probe.status(blocker) == "completed")


# -- rescue ----------------------------------------------------------------------------------


def stale(probe: Probe, job_id: int) -> None:
    probe.update(job_id, heartbeat_at=datetime.now(UTC) - timedelta(hours=1))


def test_rescue_requeues_a_lost_job_with_attempts_left(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    lost = make_job("running", "test.fail")  # 3 attempts
    alive = make_job("running", "test.fail")  # its worker still heartbeats
    stale(probe, lost)
    assert jobs.rescue() == ([lost], [])
    row = probe.job(lost)
    assert row["status"] == "pending"
    assert row["worker"] is None and row["heartbeat_at"] is None
    assert row["error"] == "worker lost"
    assert row["attempts"] == 1
    event = probe.events(lost, kind="status")[-1]
    assert event["level"] == "warning"
    assert event["message"] == "worker lost (no heartbeat for 60 s); requeued"
    assert event["data"] == {"status": "pending"}
    assert probe.status(alive) == "running"
    assert jobs.counts() == probe.group_by_status()
    assert jobs.rescue() == ([], [])


def test_rescue_fails_a_lost_job_without_attempts_left(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    lost = make_job("running", "test.noop")  # 1 attempt, used
    stale(probe, lost)
    finished: list[Any] = []

    def on_finished(sender: Any, job: Any) -> None:
        finished.append((job.id, job.status))

    signals.job_finished.connect(on_finished)
    try:
        assert jobs.rescue() == ([], [lost])
    finally:
        signals.job_finished.disconnect(on_finished)
    row = probe.job(lost)
    assert row["status"] == "failed"
    assert row["error"] == "worker lost"
    assert row["finished_at"] is not None
    event = probe.events(lost, kind="status")[-1]
    assert event["level"] == "error" and event["data"] == {"status": "failed"}
    assert "no attempts left" in event["message"]
    assert finished == [(lost, "failed")]
    assert jobs.counts() == probe.group_by_status()


def test_rescue_result_of_the_lost_worker_is_dropped(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    from jobs_admin.models import JobStatus

    lost = make_job("running", "test.fail")
    stale(probe, lost)
    jobs.rescue()
    # The "dead" worker comes back and tries to record an end: it no longer owns the job.
    with jobs.db.engine.begin() as conn:
        assert jobs.store.finish(conn, lost, "ghost:1:test", JobStatus.COMPLETED, {}) is None
        assert not jobs.store.progress(conn, lost, "ghost:1:test", {"progress_done": 5})
    assert probe.job(lost)["status"] == "pending"
    assert jobs.counts() == probe.group_by_status()


def test_rescue_by_a_worker_then_runs_the_job(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, wait_for: Any
) -> None:
    lost = make_job("running", "test.flaky")  # attempt 1 was on the ghost worker
    stale(probe, lost)
    worker = jobs.start_worker()  # rescues at start, then dispatches
    wait_for(lambda: probe.status(lost) == "completed")
    row = probe.job(lost)
    assert row["attempts"] == 2 and row["worker"] == worker.name
    assert row["result"] == {"attempt": 2}


# -- housekeeping (the built-in schedule jobs_admin.housekeeping) ----------------------------


def _housekeeping(jobs: Any) -> dict[str, Any]:
    (row,) = [s for s in jobs.schedules() if s["name"] == "jobs_admin.housekeeping"]
    return row


@pytest.mark.app_config(JOBS_ADMIN_HOUSEKEEPING_CRON="15 4 * * 1", JOBS_ADMIN_RETENTION_DAYS=7)
def test_housekeeping_is_a_builtin_schedule_with_the_configured_crontab(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    old = make_job("completed")
    recent = make_job("completed")
    probe.update(old, finished_at=datetime.now(UTC) - timedelta(days=8))
    probe.update(recent, finished_at=datetime.now(UTC) - timedelta(days=6))
    row = _housekeeping(jobs)
    assert (row["type"], row["cron"], row["origin"]) == (
        "jobs_admin.prune",
        "15 4 * * 1",
        "builtin",
    )
    nxt = row["next_run_at"].astimezone(UTC)
    assert (nxt.strftime("%A"), nxt.hour, nxt.minute) == ("Monday", 4, 15)  # crontab: 1 = Monday
    # The tick comes: one built-in prune job, which runs with JOBS_ADMIN_RETENTION_DAYS.
    assert jobs.fire_schedules(now=nxt + timedelta(seconds=1)) == 1
    assert jobs.work_off() == 1
    (prune,) = probe.jobs(type="jobs_admin.prune")
    assert prune["result"] == {"deleted": 1, "days": 7}
    assert prune["created_by"] is None and prune["schedule_id"] == row["id"]
    assert prune["scheduled_for"] == nxt
    assert prune["reference"] == f"schedule jobs_admin.housekeeping {nxt:%Y-%m-%d %H:%M} UTC"
    assert probe.job(old) is None
    assert probe.job(recent) is not None
    assert jobs.counts() == probe.group_by_status()


def test_housekeeping_enqueues_one_prune_per_tick_and_none_while_one_is_active(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    old = make_job("completed")
    probe.update(old, finished_at=datetime.now(UTC) - timedelta(days=40))
    tick = _housekeeping(jobs)["next_run_at"]
    assert jobs.fire_schedules(now=tick + timedelta(seconds=1)) == 1
    # The same tick again (another process, its clock a little later), and the next tick while
    # the first prune is still pending: no second job; the skip is recorded.
    assert jobs.fire_schedules(now=tick + timedelta(seconds=20)) == 0
    assert jobs.fire_schedules(now=tick + timedelta(days=1, seconds=1)) == 0
    (row,) = probe.jobs(type="jobs_admin.prune")
    assert row["params"] == {"days": None} and row["status"] == "pending"  # the retention
    assert jobs.work_off() == 1
    assert probe.job(row["id"])["result"] == {"deleted": 1, "days": 30}
    assert probe.job(old) is None
    # Done: the next tick adds one.
    assert jobs.fire_schedules(now=tick + timedelta(days=2, seconds=1)) == 1
    assert len(probe.jobs(type="jobs_admin.prune")) == 2
    assert jobs.counts() == probe.group_by_status()


def test_housekeeping_default_crontab(app: Flask, jobs: Any) -> None:
    nxt = _housekeeping(jobs)["next_run_at"].astimezone(UTC)
    assert (nxt.hour, nxt.minute) == (3, 0)
    assert nxt - datetime.now(UTC) <= timedelta(days=1)


@pytest.mark.parametrize(
    ("expr", "days"),
    [
        ("0 3 * * 0", {"Sunday"}),
        ("0 3 * * 7", {"Sunday"}),
        ("0 3 * * 1", {"Monday"}),
        ("0 3 * * 1-5", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}),
        ("0 3 * * 0,6", {"Sunday", "Saturday"}),
        ("0 3 * * 5-7", {"Friday", "Saturday", "Sunday"}),
        ("0 3 * * */3", {"Sunday", "Wednesday", "Saturday"}),
        ("0 3 * * sat", {"Saturday"}),
        (
            "0 3 * * *",
            {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"},
        ),
    ],
)
def test_housekeeping_crontab_weekdays_follow_crontab(expr: str, days: set[str]) -> None:
    for next_tick in (
        lambda when: crontab_trigger(expr).get_next_fire_time(None, when + timedelta(seconds=1)),
        lambda when: next_after(expr, "UTC", when),
    ):
        when, seen = datetime(2026, 11, 23, tzinfo=UTC), set()
        for _ in range(14):
            when = next_tick(when)
            seen.add(when.strftime("%A"))
        assert seen == days


@pytest.mark.app_config(JOBS_ADMIN_HOUSEKEEPING_CRON=None)
def test_housekeeping_cron_none_disables_it(app: Flask, jobs: Any) -> None:
    worker = jobs.start_worker()
    assert [s for s in jobs.schedules() if s["name"] == "jobs_admin.housekeeping"] == []
    assert worker.scheduler.get_job("jobs_admin.heartbeat") is not None
    assert worker.scheduler.get_job("jobs_admin.rescue") is not None


# -- concurrency -----------------------------------------------------------------------------

#: Jobs in the stress tests (JOBS_ADMIN_STRESS_JOBS overrides it).
STRESS_JOBS = int(os.environ.get("JOBS_ADMIN_STRESS_JOBS", "2000"))


@pytest.mark.slow
@pytest.mark.app_config(JOBS_ADMIN_POLL_INTERVAL=0.2)
def test_worker_stress_two_workers_and_work_off_run_every_job_once(
    app: Flask, jobs: Any, probe: Probe, markers: list[int], wait_for: Any
) -> None:
    ids = [jobs.enqueue("test.marker", created_by=f"u{i % 3}").id for i in range(STRESS_JOBS)]
    jobs.db.session.commit()
    workers = [Worker(jobs.runtime(app), 4), Worker(jobs.runtime(app), 4)]
    try:
        for w in workers:
            w.start()
        ran_here = jobs.work_off()  # a third claimer in this thread
        wait_for(lambda: len(markers) >= STRESS_JOBS, timeout=120)
        wait_for(lambda: all(not w.running_ids() for w in workers))
    finally:
        for w in workers:
            w.stop(wait=True)
    assert sorted(markers) == sorted(ids)  # every job ran, none twice
    rows = probe.jobs()
    assert len(rows) == STRESS_JOBS
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["attempts"] for r in rows} == {1}
    by_worker = {w.name: 0 for w in workers}
    for r in rows:
        if r["worker"] in by_worker:
            by_worker[r["worker"]] += 1
    assert sum(by_worker.values()) + ran_here == STRESS_JOBS
    assert all(n > 0 for n in by_worker.values()), by_worker
    # Exactly one start and one end event per job.
    status_events = probe.events(kind="status")
    assert len(status_events) == 3 * STRESS_JOBS
    counts = jobs.counts()
    assert counts == probe.group_by_status()
    assert counts["completed"] == counts["total"] == STRESS_JOBS
    for i in range(3):
        someone = SimpleNamespace(username=f"u{i}", is_authenticated=True)
        assert jobs.counts(someone) == probe.group_by_status(f"u{i}")
        assert jobs.counts(someone)["completed"] == len(range(i, STRESS_JOBS, 3))
