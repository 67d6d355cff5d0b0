"""Flow control in one process: pauses and limits in the claim, worker records and requests."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin import JobContext
from jobs_admin.errors import InvalidLimit, UnknownJobType, UnknownWorker
from jobs_admin.limits import Rate, check_concurrency, parse_rate
from jobs_admin.service import _flow
from jobs_admin.store.flow import Restrictions
from tests.conftest import _register

_release = threading.Event()
ADMIN = SimpleNamespace(username="admin", is_authenticated=True)


@_register("flowtest.limited", title="Flow: limited", max_concurrency=2)
def limited(ctx: JobContext) -> None:
    """Waits for the test to release it."""
    _release.wait(10)


@_register("flowtest.rated", title="Flow: rated", rate_limit="3/h")
def rated(ctx: JobContext) -> None:
    """Does nothing, at most three times an hour."""


def _claim(jobs: Any, worker: str, limit: int, free: int) -> list[int]:
    rt = jobs.runtime()
    restricted = _flow.restrictions(rt)
    with rt.connections.write() as conn:
        return [r["id"] for r in _flow.claim(rt, conn, worker, limit, free, restricted)]


def _types(jobs: Any, n: int, *names: str) -> dict[str, list[int]]:
    made = {name: [jobs.enqueue(name).id for _ in range(n)] for name in names}
    jobs.db.session.commit()
    return made


def test_parse_rate_reads_periods_and_refuses_the_rest() -> None:
    assert parse_rate("100/m") == Rate(100, 60.0)
    assert parse_rate(" 5 / s ") == Rate(5, 1.0)
    assert str(parse_rate("1000/h")) == "1000/h"
    assert parse_rate("") is None and parse_rate(None) is None
    for bad in ("100", "0/s", "1/d", "x/m", "-1/s", "1.5/s"):
        with pytest.raises(InvalidLimit):
            parse_rate(bad)
    assert check_concurrency("3") == 3 and check_concurrency(None) is None
    for bad in (0, -1, "2x", True, "1.0"):
        with pytest.raises(InvalidLimit):
            check_concurrency(bad)


def test_job_type_refuses_a_malformed_declared_limit(jobs: Any) -> None:
    with pytest.raises(InvalidLimit):
        jobs.job_type("flow.bad", rate_limit="lots")(lambda ctx: None)
    assert "flow.bad" not in jobs.registry


def test_pause_skips_the_type_in_the_claim_and_resume_lets_it_run(app: Flask, jobs: Any) -> None:
    with app.app_context():
        made = _types(jobs, 2, "test.noop", "test.echo")
        assert jobs.pause("test.noop", user=ADMIN) is True
        assert jobs.pause("test.noop", user=ADMIN) is False
        assert jobs.work_off() == 2
        j = jobs.Job
        pending = jobs.db.session.scalars(sa.select(j.id).where(j.status == "pending")).all()
        assert sorted(pending) == made["test.noop"]
        assert _flow.held_phases(jobs.runtime(), {"test.noop", "test.echo"}) == {
            "test.noop": "Paused"
        }
        assert jobs.resume("test.noop", user=ADMIN) is True
        assert jobs.work_off() == 2
        assert jobs.counts()["completed"] == 4


def test_pause_of_an_unknown_type_is_refused_and_changes_nothing(app: Flask, jobs: Any) -> None:
    with app.app_context():
        with pytest.raises(UnknownJobType):
            jobs.pause("no.such")
        assert _flow.restrictions(jobs.runtime()) == Restrictions()


def test_pause_survives_a_new_app_on_the_same_database(make_app: Any, jobs: Any) -> None:
    app = make_app()
    with app.app_context():
        jobs.pause("test.noop", user=ADMIN)
        url = str(jobs.db.engine.url.render_as_string(hide_password=False))
    other = make_app(SQLALCHEMY_DATABASE_URI=url)
    with other.app_context():
        assert _flow.restrictions(jobs.runtime()).paused == {"test.noop"}


def test_max_concurrency_caps_running_jobs_across_claimers(app: Flask, jobs: Any) -> None:
    with app.app_context():
        _flow.sync_declared(jobs.runtime())
        made = _types(jobs, 5, "flowtest.limited", "test.noop")
        first = _claim(jobs, "w1", 10, 10)
        second = _claim(jobs, "w2", 10, 10)
        got = set(first) | set(second)
        assert len(got & set(made["flowtest.limited"])) == 2
        assert set(made["test.noop"]) <= got
        assert _flow.held_phases(jobs.runtime(), {"flowtest.limited"}) == {
            "flowtest.limited": "Waiting: max concurrency 2"
        }
        # A runtime change of the limit is obeyed at the next claim.
        jobs.set_limits("flowtest.limited", max_concurrency=3, user=ADMIN)
        assert len(_claim(jobs, "w3", 10, 10)) == 1


def test_limited_type_is_claimed_for_free_threads_only(app: Flask, jobs: Any) -> None:
    with app.app_context():
        _flow.sync_declared(jobs.runtime())
        _types(jobs, 3, "flowtest.limited")
        assert _claim(jobs, "w1", 10, 0) == []
        assert len(_claim(jobs, "w1", 10, 1)) == 1


def test_rate_limit_counts_starts_in_the_window(app: Flask, jobs: Any) -> None:
    with app.app_context():
        _flow.sync_declared(jobs.runtime())
        made = _types(jobs, 5, "flowtest.rated")
        assert len(_claim(jobs, "w1", 2, 2)) == 2
        assert len(_claim(jobs, "w2", 5, 5)) == 1
        assert _claim(jobs, "w3", 5, 5) == []
        assert _flow.held_phases(jobs.runtime(), {"flowtest.rated"}) == {
            "flowtest.rated": "Waiting: rate limit 3/h"
        }
        assert len(made) == 1


def test_set_limits_refuses_bad_values_and_changes_nothing(app: Flask, jobs: Any) -> None:
    with app.app_context():
        jobs.set_limits("test.noop", max_concurrency=4, rate_limit="10/s", user=ADMIN)
        for bad in ({"max_concurrency": "0"}, {"rate_limit": "10 per second"}):
            with pytest.raises(InvalidLimit):
                jobs.set_limits("test.noop", user=ADMIN, **bad)
        state = _flow.type_rows(jobs.runtime())
        noop = next(r for r in state if r.name == "test.noop").state
        assert (noop.max_concurrency, noop.rate_limit, noop.limits_by) == (4, "10/s", "admin")


def test_runtime_limits_override_the_declared_ones_across_restarts(app: Flask, jobs: Any) -> None:
    with app.app_context():
        rt = jobs.runtime()
        _flow.sync_declared(rt)
        jobs.set_limits("flowtest.limited", max_concurrency=None, user=ADMIN)
        _flow.sync_declared(rt)  # a restart: the admin's choice stays
        assert "flowtest.limited" not in _flow.restrictions(rt).limited


def test_worker_record_quiet_resume_and_stop(app: Flask, jobs: Any, wait_for: Any) -> None:
    with app.app_context():
        worker = jobs.start_worker()
        (row,) = jobs.workers()
        assert (row.name, row.state, row.threads, row.lost) == (worker.name, "running", 4, False)
        assert jobs.quiet(worker.name, user=ADMIN) is True
        wait_for(lambda: worker.control.quiet, timeout=2)
        job = jobs.enqueue("test.noop", commit=True)
        time.sleep(1.0)
        assert jobs.get(job.id).status == "pending"
        assert jobs.workers()[0].state_by == "admin"
        assert jobs.unquiet(worker.name, user=ADMIN) is True
        wait_for(lambda: jobs.counts()["completed"] == 1, timeout=5)
        assert jobs.stop(worker.name, user=ADMIN) is True
        wait_for(lambda: worker.stopped, timeout=5)
        assert jobs.workers() == []
        with pytest.raises(UnknownWorker):
            jobs.quiet(worker.name)


def test_worker_hands_back_a_claimed_job_of_a_type_paused_since(
    app: Flask, jobs: Any, wait_for: Any
) -> None:
    with app.app_context():
        worker = jobs.start_worker()
        jobs.quiet(worker.name)
        wait_for(lambda: worker.control.quiet, timeout=2)
        job = jobs.enqueue("test.noop", commit=True)
        with jobs.connections().write() as conn:
            assert jobs.store.claim(conn, worker.name, 1) == [job.id]
        jobs.pause("test.noop")
        row = {"id": job.id, "type": "test.noop"}
        wait_for(lambda: worker.control.held(row), timeout=2)
        worker._run(job.id, row)
        jobs.db.session.expire_all()
        assert (jobs.get(job.id).status, jobs.get(job.id).attempts) == ("pending", 0)


def test_lost_workers_show_as_lost_and_are_removed(app: Flask, jobs: Any) -> None:
    with app.app_context():
        rt = jobs.runtime()
        with rt.connections.write() as conn:
            rt.store.register_worker(conn, name="gone:1:x", hostname="gone", pid=1, threads=2)
        (row,) = jobs.workers()
        assert row.lost is False
        with rt.connections.write() as conn:
            old = _flow.utcnow().replace(year=2020)
            conn.execute(sa.update(rt.store.worker_table).values(heartbeat_at=old))
        assert jobs.workers()[0].lost is True
        assert _flow.remove_lost_workers(rt) == 1
        assert jobs.workers() == []


def test_prune_job_removes_lost_worker_records(app: Flask, jobs: Any) -> None:
    with app.app_context():
        rt = jobs.runtime()
        with rt.connections.write() as conn:
            rt.store.register_worker(conn, name="gone:1:x", hostname="gone", pid=1, threads=2)
            rt.store.register_worker(conn, name="here:2:y", hostname="here", pid=2, threads=2)
            old = _flow.utcnow().replace(year=2020)
            w = rt.store.worker_table
            conn.execute(sa.update(w).where(w.c.name == "gone:1:x").values(heartbeat_at=old))
        job = jobs.enqueue("jobs_admin.prune", commit=True)
        assert jobs.work_off() == 1
        assert jobs.get(job.id).status == "completed"
        assert [w.name for w in jobs.workers()] == ["here:2:y"]
