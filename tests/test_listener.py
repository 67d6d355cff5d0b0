"""The process's one PostgreSQL ``LISTEN`` connection: the host engine's, outside its pool."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from jobs_admin._listener import check_driver, listener_of

pytestmark = pytest.mark.postgres


def test_listener_connects_through_the_hosts_creator_outside_its_pool(pg_url: str) -> None:
    made: list[Any] = []
    url = sa.make_url(pg_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def creator() -> Any:
        # A host's own way to connect (SSL, IAM tokens...): the URL alone would not reach it.
        conn = psycopg.connect(conninfo, application_name="host-creator")
        made.append(conn)
        return conn

    engine = sa.create_engine("postgresql+psycopg://", creator=creator, pool_size=1, max_overflow=0)
    woken = threading.Event()
    listener = listener_of(engine)
    unsubscribe = listener.subscribe("jobs_admin_test_channel", woken.set)
    try:
        assert woken.wait(10), "not called once listening"
        assert len(made) == 1 and listener.connections == 1
        woken.clear()
        # The pool's one place is free: the listening connection is not the pool's.
        with engine.begin() as conn:
            assert engine.pool.checkedout() == 1
            name = conn.exec_driver_sql("SHOW application_name").scalar()
            conn.exec_driver_sql("NOTIFY jobs_admin_test_channel")
        assert name == "host-creator"
        assert woken.wait(10), "NOTIFY did not reach the callback"
        assert listener_of(engine) is listener
    finally:
        unsubscribe()
        engine.dispose()


def test_listener_shares_one_connection_between_channels(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    listener = listener_of(engine)
    first, second = threading.Event(), threading.Event()
    off_first = listener.subscribe("jobs_admin_test_a", first.set)
    off_second = listener.subscribe("jobs_admin_test_b", second.set)
    try:
        assert first.wait(10) and second.wait(10)
        first.clear()
        second.clear()
        with engine.begin() as conn:
            conn.exec_driver_sql("NOTIFY jobs_admin_test_b")
        assert second.wait(10)
        assert not first.is_set()
        assert listener.connections == 1
    finally:
        off_first()
        off_second()
        engine.dispose()


def test_listener_refuses_a_driver_it_cannot_listen_with(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        check_driver(engine)  # psycopg: fine
        engine.dialect.driver = "psycopg2"
        with pytest.raises(RuntimeError, match=r"psycopg \(3\) driver.*'psycopg2'"):
            check_driver(engine)
    finally:
        engine.dispose()


def test_listener_one_connection_serves_the_worker_and_the_live_feed(
    pg_app: Any, jobs: Any, db: Any, probe: Any, wait_for: Any
) -> None:
    from jobs_admin.live import Subscriber

    with pg_app.app_context():
        engine = db.engine
        jobs.start_worker()
        feed = jobs.live_feed(pg_app)
    sub = Subscriber(True, "admin", None)
    feed.subscribe(sub)
    listener = listener_of(engine)
    try:
        assert feed.listening.wait(10)
        wait_for(lambda: set(listener._subs) == {"jobs_admin_pending", "jobs_admin_changes"})
        wait_for(listener.listening.is_set)
        assert listener.connections == 1
        with pg_app.app_context():
            job_id = int(jobs.enqueue("test.noop", created_by="admin", commit=True).id)
            wait_for(lambda: probe.status(job_id) == "completed")
        wait_for(lambda: any(f'"id":{job_id},' in (m or "") for m in list(sub.queue.queue)))
        assert listener.connections == 1
    finally:
        feed.unsubscribe(sub)
        with pg_app.app_context():
            jobs.stop_worker()
