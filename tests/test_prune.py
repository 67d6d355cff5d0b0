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
        if statement.lstrip().upper().startswith("DELETE FROM JOBS_ADMIN_JOB "):
            deletes.append(statement)

    pruned: list[int] = []

    def on_pruned(sender: Any, count: int) -> None:
        pruned.append(count)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    signals.jobs_pruned.connect(on_pruned)
    try:
        assert jobs.prune() == len(old)  # JOBS_ADMIN_RETENTION_DAYS = 30
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
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
