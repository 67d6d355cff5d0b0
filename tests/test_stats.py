"""Rollups of job ends (jobs_admin_stat): what they count, through every path a job ends by.

A rollup row counts *ends*: moves into completed, partial, failed or cancelled, in the minute of
the job's ``finished_at``, by type and status. So after any mix of runs, cancels and rescues,
the rollups equal a GROUP BY over the finished jobs; a manual retry that reopens a job keeps its
earlier end counted; a prune or a delete takes nothing away; ``restat`` rebuilds the GROUP BY.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from jobs_admin.models import utcnow
from jobs_admin.stats import reads
from jobs_admin.stats.model import DAY, HOUR, MINUTE, RUN_COLS, SUM_COLS, TOTAL, WAIT_COLS
from jobs_admin.store import Finish
from tests.support import Probe

FINISHED = ("completed", "partial", "failed", "cancelled")
Key = tuple[str, str, int]


def _epoch(when: datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def group_by_jobs(probe: Probe) -> Counter[tuple[Key, str]]:
    """What the rollups must hold for the finished jobs stored: per (type, status, minute),
    the ends, the ends that ran and the ends that waited (counts only: exact)."""
    out: Counter[tuple[Key, str]] = Counter()
    for row in probe.jobs():
        if row["status"] not in FINISHED:
            continue
        key = (row["type"], row["status"], int(_epoch(row["finished_at"]) // MINUTE * MINUTE))
        out[(key, "n")] += 1
        if row["started_at"] is not None:
            out[(key, "run_n")] += 1
            if row["run_at"] is not None:
                out[(key, "wait_n")] += 1
    return out


def rollups(jobs: Any, span: int = MINUTE) -> Counter[tuple[Key, str]]:
    t = jobs.store.stats.table
    sums = [sa.func.sum(t.c[c]).label(c) for c in ("n", "run_n", "wait_n", *RUN_COLS, *WAIT_COLS)]
    rows = jobs.db.session.execute(
        sa.select(t.c.type, t.c.status, t.c.bucket, *sums)
        .where(t.c.span == span)
        .group_by(t.c.type, t.c.status, t.c.bucket)
    ).all()
    jobs.db.session.rollback()
    out: Counter[tuple[Key, str]] = Counter()
    for row in rows:
        m = row._mapping
        # Every end that ran is in exactly one run-time bucket; the same for waits.
        assert sum(m[c] for c in RUN_COLS) == m["run_n"]
        assert sum(m[c] for c in WAIT_COLS) == m["wait_n"]
        for name in ("n", "run_n", "wait_n"):
            if m[name]:
                out[((row.type, row.status, int(row.bucket)), name)] += int(m[name])
    return out


def mixed_run(jobs: Any, probe: Probe, make_job: Any) -> None:
    """Ends by every path: success, partial, failure after automatic retries, cancels of pending
    and running jobs, the group commit, a rescue that fails the jobs of a lost worker."""
    for who in ("admin", "viewer", None):
        for status in ("completed", "failed", "partial", "cancelled", "running", "pending"):
            make_job(status, created_by=who)
    flaky = jobs.enqueue("test.flaky", commit=True).id
    jobs.enqueue("test.fail", commit=True, message="no luck")
    jobs.work_off()
    probe.update(flaky, run_at=datetime.now(UTC) - timedelta(seconds=1))
    jobs.work_off()
    # A running job whose cancel the worker honours at its end (an automatic retry that finds
    # the cancel request ends cancelled).
    running = probe.jobs(status="running")
    jobs.cancel(running[0]["id"])
    # The worker's group commit of successful ends.
    batch = [jobs.enqueue("test.noop", commit=True).id for _ in range(3)]
    with jobs.db.engine.begin() as conn:
        claimed = jobs.store.claim(conn, "batch:1:test", 10)
    assert set(batch) <= set(claimed)
    ends = [
        Finish(job_id=i, status=_ok(i), values={}, events=[], finished_at=utcnow()) for i in batch
    ]
    with jobs.db.engine.begin() as conn:
        assert sorted(jobs.store.finish_many(conn, "batch:1:test", ends)) == sorted(batch)
    # Rescue: the ghost's running jobs lose their worker (max_attempts 1: they fail).
    for row in probe.jobs(status="running"):
        probe.update(row["id"], heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
    _requeued, failed = jobs.rescue()
    assert failed
    jobs.work_off()


def _ok(job_id: int) -> Any:
    from jobs_admin.models import JobStatus

    return JobStatus.COMPLETED if job_id % 2 else JobStatus.PARTIAL


def test_stats_rollups_equal_a_group_by_over_the_jobs_after_a_mixed_run(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    mixed_run(jobs, probe, make_job)
    expected = group_by_jobs(probe)
    assert {k[0][1] for k in expected} == set(FINISHED)
    assert rollups(jobs) == expected
    # The all-time totals (what the metrics read) are the same ends, without the minutes.
    assert rollups(jobs, TOTAL) == all_time(expected)


def all_time(minutes: Counter[tuple[Key, str]]) -> Counter[tuple[Key, str]]:
    out: Counter[tuple[Key, str]] = Counter()
    for ((type_, status, _bucket), name), n in minutes.items():
        out[((type_, status, 0), name)] += n
    return out


def test_stats_a_retry_keeps_the_earlier_end_and_a_prune_takes_nothing(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    mixed_run(jobs, probe, make_job)
    before = group_by_jobs(probe)
    reopened = [r["id"] for r in probe.jobs(status="failed")] + [
        r["id"] for r in probe.jobs(status="cancelled")
    ][:2]
    for job_id in reopened:
        jobs.retry(job_id)
    # Reopened jobs are no longer finished: the GROUP BY lost their ends, the rollups did not.
    after_retry = group_by_jobs(probe)
    assert rollups(jobs) == before
    jobs.work_off()
    # Their next ends are counted too: before + the new ends of the reopened jobs.
    new_ends = group_by_jobs(probe) - after_retry
    assert sum(v for (k, name), v in new_ends.items() if name == "n") == len(reopened)
    counted = rollups(jobs)
    assert counted == before + new_ends
    # Deleting and pruning jobs leaves their ends counted: history outlives the jobs.
    jobs.delete(probe.jobs(status="completed")[0]["id"])
    assert jobs.prune(days=0) > 0
    assert not any(r["status"] in FINISHED for r in probe.jobs())
    assert rollups(jobs) == counted
    assert rollups(jobs, TOTAL) == all_time(counted)


def test_stats_restat_rebuilds_equal_rollups(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    mixed_run(jobs, probe, make_job)
    live = rollups(jobs)
    t = jobs.store.stats.table
    with jobs.db.engine.begin() as conn:  # break them
        conn.execute(sa.delete(t).where(t.c.status == "failed"))
        conn.execute(sa.update(t).values(n=t.c.n + 5))
    assert rollups(jobs) != live
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "restat"])
    assert result.exit_code == 0, result.output
    finished = sum(1 for r in probe.jobs() if r["status"] in FINISHED)
    assert f"counted the ends of {finished} finished job(s)" in result.output
    assert rollups(jobs) == live == group_by_jobs(probe)
    assert rollups(jobs, TOTAL) == all_time(live)


def test_stats_each_end_is_counted_in_its_minute_hour_day_and_total(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    mixed_run(jobs, probe, make_job)
    minutes = rollups(jobs)
    for span in (HOUR, DAY):
        coarse: Counter[tuple[Key, str]] = Counter()
        for ((type_, status, bucket), name), n in minutes.items():
            coarse[((type_, status, bucket // span * span), name)] += n
        assert rollups(jobs, span) == coarse


def test_stats_trim_drops_old_minutes_hours_and_days_and_keeps_the_totals(
    app: Flask, jobs: Any, probe: Probe
) -> None:
    t = jobs.store.stats.table
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    at = int(now.timestamp())
    zero = {c: 0 for c in SUM_COLS}

    def row(span: int, age: int) -> dict[str, Any]:
        bucket = (at - age) // span * span if span else 0
        return {
            **zero,
            "span": span,
            "bucket": bucket,
            "type": "test.noop",
            "status": "completed",
            "created_by": "",
            "slot": 0,
            "n": 1,
        }

    kept = [row(MINUTE, 60), row(HOUR, 3 * DAY), row(DAY, 40 * DAY), row(TOTAL, 0)]
    dropped = [row(MINUTE, 3 * DAY), row(HOUR, 40 * DAY), row(DAY, 100 * DAY)]
    with jobs.db.engine.begin() as conn:
        conn.execute(sa.insert(t), kept + dropped)
        assert jobs.store.stats.fold(conn, now, 90) == len(dropped)
    got = {(r.span, r.bucket) for r in jobs.db.session.execute(sa.select(t))}
    assert got == {(r["span"], r["bucket"]) for r in kept}


def test_stats_series_and_by_type_read_the_rollups_of_the_users_jobs(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    for who in ("admin", "viewer"):
        make_job("completed", created_by=who)
        make_job("failed", created_by=who)
    make_job("completed", created_by="viewer")
    t = jobs.store.stats.table
    session = jobs.db.session
    now = utcnow()
    everyone = reads.series(session, t, reads.RANGES["1h"], now)
    assert len(everyone["times"]) == 60
    assert everyone["times"][-1] == int(now.timestamp()) // 60 * 60
    assert sum(everyone["counts"]["completed"]) == 3
    assert sum(everyone["counts"]["failed"]) == 2
    assert everyone["failure_rate"][-1] is None or everyone["failure_rate"][-1] == 40.0
    viewer = reads.series(session, t, reads.RANGES["90d"], now, created_by="viewer")
    assert len(viewer["times"]) == 90
    assert (sum(viewer["counts"]["completed"]), sum(viewer["counts"]["failed"])) == (2, 1)
    types = {r["type"]: r for r in reads.by_type(session, t, now - timedelta(hours=1))}
    assert types["test.noop"]["ends"] == 3
    assert types["test.fail_once"]["failed"] == 2
    assert types["test.fail_once"]["failure_rate"] == 100.0
    assert types["test.noop"]["run_p95"] is not None
    only = reads.by_type(session, t, now - timedelta(hours=1), created_by="nobody")
    assert only == []


def test_stats_quantile_interpolates_in_the_bucket() -> None:
    buckets = [0] * 15
    assert reads.quantile(buckets, 0.5) is None
    buckets[1] = 10  # ten runs between 0.01 and 0.05 s
    assert reads.quantile(buckets, 0.5) == 0.03
    buckets[14] = 90  # ninety over an hour
    assert reads.quantile(buckets, 0.95) == 3600.0
