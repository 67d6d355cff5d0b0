"""Per-status counters stay equal to GROUP BY status; recount rebuilds them. Permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from jobs_admin import PERMISSIONS, JobsAdmin
from jobs_admin.permissions import can, default_identity
from tests.support import Probe


def user(jobs: Any, name: str) -> Any:
    from host_app.models import User

    return jobs.db.session.scalar(sa.select(User).filter_by(username=name))


def assert_counts_exact(jobs: Any, probe: Probe) -> None:
    assert jobs.counts() == probe.group_by_status()
    for name in ("admin", "operator", "viewer"):
        assert jobs.counts(user(jobs, name)) == probe.group_by_status(name), name
    # Jobs without a user are counted under "".
    nobody = SimpleNamespace(username="", email="", get_id=lambda: "")
    assert jobs.store.counts(jobs.db.session, "") == probe.group_by_status("")
    assert jobs.counts(nobody) == probe.group_by_status("")


def test_counters_follow_every_change(app: Flask, jobs: Any, probe: Probe, make_job: Any) -> None:
    for who in ("admin", "operator", "viewer", None):
        make_job("completed", created_by=who)
        make_job("failed", created_by=who)
        make_job("partial", created_by=who)
        make_job("cancelled", created_by=who)
        make_job("running", created_by=who)
        make_job("pending", created_by=who)
    assert_counts_exact(jobs, probe)
    # Automatic retries (running -> pending), flaky success, failures.
    flaky = jobs.enqueue("test.flaky", created_by="viewer", commit=True).id
    failing = jobs.enqueue("test.fail", created_by="operator", commit=True).id
    jobs.work_off()
    assert_counts_exact(jobs, probe)
    for job_id in (flaky, failing):
        probe.update(job_id, run_at=datetime.now(UTC) - timedelta(seconds=1))
    jobs.work_off()
    assert_counts_exact(jobs, probe)
    # Manual retries, cancels, deletes.
    for row in probe.jobs(status="failed"):
        jobs.retry(row["id"])
    for row in probe.jobs(status="pending")[:3]:
        jobs.cancel(row["id"])
    for row in probe.jobs(status="completed")[:2]:
        jobs.delete(row["id"])
    assert_counts_exact(jobs, probe)
    # Rescue of the ghost worker's jobs, then a prune of everything finished.
    probe_rows = probe.jobs(status="running")
    for row in probe_rows:
        probe.update(row["id"], heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
    requeued, failed = jobs.rescue()
    assert sorted(requeued + failed) == sorted(r["id"] for r in probe_rows)
    assert_counts_exact(jobs, probe)
    jobs.work_off()
    assert_counts_exact(jobs, probe)
    assert jobs.prune(days=0) > 0
    assert_counts_exact(jobs, probe)
    assert jobs.counts()["total"] == probe.count("jobs")


def test_counters_recount_rebuilds_them(app: Flask, jobs: Any, probe: Probe, make_job: Any) -> None:
    make_job("completed", created_by="admin")
    make_job("failed", created_by="viewer")
    make_job("pending")
    make_job("pending", created_by="viewer")
    expected = probe.group_by_status()
    counters = jobs.store.counts_table
    with jobs.db.engine.begin() as conn:  # break them
        conn.execute(sa.delete(counters).where(counters.c.status == "pending"))
        conn.execute(sa.update(counters).values(n=counters.c.n + 5))
    assert jobs.counts() != expected
    assert jobs.recount() == expected
    assert_counts_exact(jobs, probe)
    assert jobs.counts(user(jobs, "viewer"))["pending"] == 1


def test_counters_counts_of_an_empty_table(app: Flask, jobs: Any) -> None:
    assert jobs.counts() == {
        "pending": 0,
        "running": 0,
        "completed": 0,
        "partial": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 0,
    }
    assert jobs.recount()["total"] == 0


# -- permissions -----------------------------------------------------------------------------


def test_permissions_without_a_checker_nothing_is_allowed(tmp_path: Any) -> None:
    app = Flask("tiny")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'p.db'}"
    app.config["JOBS_ADMIN_WORKER"] = "off"
    jobs = JobsAdmin(app, db=SQLAlchemy(app))
    boss = SimpleNamespace(username="boss", is_authenticated=True)
    job = SimpleNamespace(created_by="boss")
    assert not jobs.has_permission_checker
    for permission in PERMISSIONS:
        assert not jobs.can(permission, user=boss)
        assert not jobs.can(permission, job, user=boss)
    with app.test_request_context():
        assert not jobs.can("view")  # nobody logged in, no checker


def test_permissions_with_the_host_checker(app: Flask, jobs: Any, make_job: Any) -> None:
    admin, operator, viewer = (user(jobs, n) for n in ("admin", "operator", "viewer"))
    theirs = jobs.get(make_job("failed", created_by="admin"))
    mine = jobs.get(make_job("failed", created_by="viewer"))
    nobodys = jobs.get(make_job("failed"))
    assert jobs.has_permission_checker
    # Another user's job is refused without view_all, whatever the permission.
    assert not jobs.can("view", theirs, user=viewer)
    assert not jobs.can("retry", theirs, user=viewer)
    assert not jobs.can("view", nobodys, user=viewer)
    assert jobs.can("view", mine, user=viewer)
    assert not jobs.can("retry", mine, user=viewer)  # visible, but no retry permission
    # view_all sees everything; the permission itself still decides.
    assert jobs.can("retry", theirs, user=operator)
    assert not jobs.can("delete", theirs, user=operator)
    assert jobs.can("delete", theirs, user=admin)
    assert jobs.can("prune", user=admin) and not jobs.can("prune", user=operator)
    assert not jobs.can("view")  # nobody is logged in to this test request
    with pytest.raises(ValueError, match="unknown permission"):
        jobs.can("fly", user=admin)


def test_permissions_current_user_is_used_by_default(app: Flask, jobs: Any) -> None:
    from flask_login import login_user

    with app.test_request_context():
        assert not jobs.can("view")  # anonymous
        login_user(user(jobs, "viewer"))
        assert jobs.can("view") and not jobs.can("view_all")


def test_permissions_can_helper_and_default_identity() -> None:
    def checker(user: Any, permission: str, job: Any = None) -> bool:
        return permission in user.perms

    named = SimpleNamespace(username="ann", perms={"view", "retry"})
    assert can(checker, default_identity, named, "view")
    assert can(checker, default_identity, named, "retry", SimpleNamespace(created_by="ann"))
    assert not can(checker, default_identity, named, "retry", SimpleNamespace(created_by="bob"))
    assert not can(checker, default_identity, None, "view")
    assert not can(None, default_identity, named, "view")
    assert default_identity(SimpleNamespace(username=None, email="e@x")) == "e@x"
    assert default_identity(SimpleNamespace(get_id=lambda: 7)) == "7"
    assert default_identity(SimpleNamespace(username="x", is_authenticated=False)) is None
    assert default_identity(None) is None
