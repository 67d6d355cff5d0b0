"""prune: exactly the old finished jobs, with their events and files, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import InvalidArgument, signals
from tests.support import Probe


def age(probe: Probe, job_id: int, days: float) -> None:
    probe.update(job_id, finished_at=datetime.now(UTC) - timedelta(days=days))


def build_history(probe: Probe, make_job: Any) -> dict[str, int]:
    """Old and new jobs, finished and active (an active one even with an old finished_at)."""
    ids = {
        "old_completed": make_job("completed"),
        "old_failed": make_job("failed"),
        "old_partial": make_job("partial"),
        "old_cancelled": make_job("cancelled", created_by="viewer"),
        "old_with_file": make_job("completed", "test.result_file"),
        "new_completed": make_job("completed"),
        "new_failed": make_job("failed"),
        "edge_completed": make_job("completed"),
        "pending": make_job("pending"),
        "running": make_job("running"),
        "odd_pending": make_job("pending"),
    }
    for key in ("old_completed", "old_failed", "old_partial", "old_cancelled", "old_with_file"):
        age(probe, ids[key], 45)
    age(probe, ids["new_completed"], 2)
    age(probe, ids["edge_completed"], 29.9)
    # An active job whose finished_at is old (e.g. restored by hand) is never pruned.
    age(probe, ids["running"], 90)
    age(probe, ids["odd_pending"], 90)
    return ids


@pytest.mark.app_config(JOBS_ADMIN_PRUNE_BATCH=2)
def test_prune_deletes_exactly_the_old_finished_jobs_in_batches(
    app: Flask, jobs: Any, db: Any, probe: Probe, make_job: Any
) -> None:
    ids = build_history(probe, make_job)
    old = {k: v for k, v in ids.items() if k.startswith("old_")}
    result_file = probe.job(ids["old_with_file"])["result_file"]
    path = jobs.settings().results_dir / result_file
    assert path.is_file()
    # A retry of failed items points at a job that will be pruned.
    retried = jobs.retry_failed_items(ids["old_partial"]).id
    assert probe.job(retried)["retry_of"] == ids["old_partial"]
    assert jobs.count_prunable() == len(old)

    deletes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # One statement per batch (on PostgreSQL a WITH ... DELETE FROM jobs_admin_job j ...).
        if "DELETE FROM JOBS_ADMIN_JOB " in statement.upper():
            deletes.append(statement)

    pruned: list[int] = []

    def on_pruned(sender: Any, count: int) -> None:
        pruned.append(count)

    # Prunes write through jobs_admin's own connections.
    own = jobs.connections().engine
    sa.event.listen(own, "before_cursor_execute", count)
    signals.jobs_pruned.connect(on_pruned)
    try:
        assert jobs.prune() == len(old)  # JOBS_ADMIN_RETENTION_DAYS = 30
    finally:
        sa.event.remove(own, "before_cursor_execute", count)
        signals.jobs_pruned.disconnect(on_pruned)

    assert pruned == [len(old)]
    assert len(deletes) == 3  # 5 jobs in batches of 2
    remaining = {r["id"] for r in probe.jobs()}
    assert remaining == (set(ids.values()) - set(old.values())) | {retried}
    for job_id in old.values():
        assert probe.events(job_id) == []
    for key in ("new_completed", "pending", "running", "odd_pending", "edge_completed"):
        assert probe.events(ids[key])
    assert not path.exists()
    assert probe.job(retried)["retry_of"] is None
    assert jobs.counts() == probe.group_by_status()
    assert probe.status(ids["running"]) == "running"
    assert jobs.prune() == 0
    assert jobs.count_prunable() == 0


def test_prune_days_zero_clears_every_finished_job(
    app: Flask, jobs: Any, probe: Probe, make_job: Any
) -> None:
    ids = build_history(probe, make_job)
    active = {ids["pending"], ids["running"], ids["odd_pending"]}
    assert jobs.prune(days=0) == len(ids) - len(active)
    assert {r["id"] for r in probe.jobs()} == active
    assert jobs.counts() == probe.group_by_status()
    assert jobs.counts()["total"] == len(active)


def test_prune_days_cut_off(app: Flask, jobs: Any, probe: Probe, make_job: Any) -> None:
    ids = build_history(probe, make_job)
    assert jobs.count_prunable(days=60) == 0
    assert jobs.prune(days=60) == 0
    assert jobs.count_prunable(days=1) == 7
    assert jobs.prune(days=1) == 7  # the 5 old ones, edge_completed and new_completed
    assert probe.job(ids["new_failed"]) is not None


@pytest.mark.parametrize("days", [-1, 1.5])
def test_prune_bad_days_raise(app: Flask, jobs: Any, probe: Probe, days: Any) -> None:
    jobs.enqueue("test.noop", commit=True)
    with pytest.raises(InvalidArgument):
        jobs.prune(days=days)
    assert probe.count("jobs") == 1


def test_prune_batch_without_enforced_foreign_keys(
    app: Flask, jobs: Any, db: Any, probe: Probe, make_job: Any
) -> None:
    """A SQLite connection without PRAGMA foreign_keys: the prune deletes the events and
    clears the retry links itself (elsewhere the foreign keys do it)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always enforces foreign keys")
    ids = build_history(probe, make_job)
    retried = jobs.retry_failed_items(ids["old_partial"]).id
    with db.engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        conn.commit()
        try:
            with conn.begin():
                cutoff = datetime.now(UTC) - timedelta(days=30)
                n, files = jobs.store.prune_batch(conn, cutoff, 100)
        finally:
            conn.exec_driver_sql(f"PRAGMA foreign_keys = {int(before or 0)}")
            conn.commit()
    assert n == 5 and len(files) == 1
    for key in ("old_completed", "old_failed", "old_partial", "old_cancelled", "old_with_file"):
        assert probe.job(ids[key]) is None
        assert probe.events(ids[key]) == []
    assert probe.job(retried)["retry_of"] is None
    assert jobs.counts() == probe.group_by_status()


def test_prune_default_batch_and_sqlite_pause(
    app: Flask, jobs: Any, db: Any, probe: Probe, make_job: Any, monkeypatch: Any
) -> None:
    """Without JOBS_ADMIN_PRUNE_BATCH each backend takes its own batch size; on SQLite every
    batch is followed by a WAL checkpoint and a pause, and the connection's automatic
    checkpoints are restored afterwards."""
    from jobs_admin import config, store
    from jobs_admin.service import _prune as prune_service

    sqlite = db.engine.dialect.name == "sqlite"
    monkeypatch.setattr(jobs.store, "prune_batch_size", 2)
    ids = build_history(probe, make_job)
    statements: list[str] = []
    sleeps: list[float] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    monkeypatch.setattr(prune_service.time, "sleep", sleeps.append)
    # Prunes write through jobs_admin's own connections.
    own = jobs.connections().engine
    sa.event.listen(own, "before_cursor_execute", record)
    try:
        assert jobs.settings().prune_batch is None
        assert jobs.prune() == 5
    finally:
        sa.event.remove(own, "before_cursor_execute", record)
    assert probe.job(ids["new_completed"]) is not None
    assert jobs.counts() == probe.group_by_status()
    checkpoints = [s for s in statements if "wal_checkpoint" in s]
    if sqlite:
        # 3 batches of 2; a pause after each full one, shortened by the checkpoint's time.
        assert len(checkpoints) == 3
        longest = max(config.PRUNE_PAUSE, store.sqlite.SQLITE_BUSY_MAX_SLEEP * 1.1)
        assert len(sleeps) == 2 and all(0 <= t <= longest for t in sleeps)
        # The pruning connection's settings, and then the previous ones again.
        pragmas = [s for s in statements if s.startswith("PRAGMA") and "=" in s]
        assert pragmas[:2] == [
            "PRAGMA wal_autocheckpoint = 0",
            f"PRAGMA cache_size = -{store.PRUNE_CACHE_KIB}",
        ]
        assert pragmas[-2:] == ["PRAGMA wal_autocheckpoint = 1000", "PRAGMA cache_size = -2000"]
    else:
        assert checkpoints == [] and sleeps == []
        assert sum("synchronous_commit = off" in s for s in statements) == 3


@pytest.mark.parametrize(
    ("held", "free"),
    [(0.02, 0.03), (0.08, 0.04), (0.15, 0.075), (0.3, 0.11), (5.0, 0.11)],
)
def test_sqlite_pause_outlasts_the_busy_handler_sleep(held: float, free: float) -> None:
    """A writer that waited through a batch of ``held`` s sleeps at most 25 ms (first 128 ms),
    50 ms (to 228 ms), then 100 ms between retries: the pause after the batch is longer."""
    from jobs_admin.store.sqlite import lock_free

    assert lock_free(0.03, held) == pytest.approx(free)


def test_lock_key_fits_the_width_its_docstring_names() -> None:
    """The advisory-lock key is what its docstring says: 31 bits, never negative."""
    from jobs_admin.store import lock_key

    assert lock_key.__doc__ is not None and "31-bit" in lock_key.__doc__
    keys = {lock_key(name) for name in ("prune", "rescue", "housekeeping", "x" * 100)}
    assert len(keys) == 4 and all(0 <= key < 2**31 for key in keys)


@pytest.mark.app_config(JOBS_ADMIN_PRUNE_BATCH=2)
def test_prune_job_counts_batches_as_progress_and_stops_between_them_when_cancelled(
    app: Flask, jobs: Any, probe: Probe, make_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs_admin.runner import run_job

    ids = build_history(probe, make_job)
    old = {v for k, v in ids.items() if k.startswith("old_")}
    job_id = jobs.enqueue("jobs_admin.prune", params={"days": 30}, priority=9, commit=True).id
    contexts: list[Any] = []
    batches = jobs.store.prune_batch

    def one_batch_then_cancel(conn: Any, cutoff: Any, batch: int) -> Any:
        found = batches(conn, cutoff, batch)
        contexts[0].request_stop("cancelled")  # a cancel arriving during the first batch
        return found

    monkeypatch.setattr(jobs.store, "prune_batch", one_batch_then_cancel)
    with jobs.db.engine.begin() as conn:
        assert jobs.store.claim(conn, "test:1:x", 1) == [job_id]
    run_job(jobs.runtime(app), job_id, "test:1:x", lambda _id, ctx: ctx and contexts.append(ctx))
    row = probe.job(job_id)
    assert row["status"] == "cancelled"
    assert (row["progress_done"], row["progress_total"]) == (2, 5)
    # The committed batch stays deleted; the rest is left for the next prune.
    assert len(old - {r["id"] for r in probe.jobs()}) == 2
    assert jobs.counts() == probe.group_by_status()

    monkeypatch.setattr(jobs.store, "prune_batch", batches)
    jobs.enqueue("jobs_admin.prune", params={"days": 30}, priority=9, commit=True)
    assert jobs.work_off(limit=1) == 1
    (done,) = probe.jobs(type="jobs_admin.prune", status="completed")
    assert done["result"] == {"deleted": 3, "days": 30}
    assert (done["progress_done"], done["progress_total"]) == (3, 3)
    assert not old & {r["id"] for r in probe.jobs()}
