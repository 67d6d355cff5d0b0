"""The host's connections are the host's: jobs_admin sets nothing on them and patches nothing."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from jobs_admin.connections import SQLITE_BUSY_MS
from tests.conftest import BACKEND

sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="the host's SQLite connections")


def _host_app(make_app: Callable[..., Flask], tmp_path: Path, **config: Any) -> Flask:
    """A demo host whose own creator gives every connection its PRAGMAs (before any hook)."""
    path = tmp_path / "jobs.db"  # the file make_app's first app uses

    def creator() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"creator": creator}, **config)


def _host_pragmas(engine: sa.Engine) -> list[tuple[int, int, int]]:
    """(foreign_keys, synchronous, busy_timeout) of every connection in the host's pool, all
    checked out at once (and one more)."""
    conns = [engine.connect() for _ in range(engine.pool.checkedin() + 1)]  # type: ignore[attr-defined]
    try:
        return [
            (
                c.exec_driver_sql("PRAGMA foreign_keys").scalar(),
                c.exec_driver_sql("PRAGMA synchronous").scalar(),
                c.exec_driver_sql("PRAGMA busy_timeout").scalar(),
            )
            for c in conns
        ]
    finally:
        for c in conns:
            c.close()


@sqlite_only
def test_connections_host_sqlite_pragmas_survive_jobs(
    make_app: Callable[..., Flask], tmp_path: Path, jobs: Any, db: Any, wait_for: Any
) -> None:
    app = _host_app(make_app, tmp_path)
    with app.app_context():
        engine = db.engine
        # WAL, a setting of the database file, is set once.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        first = [jobs.enqueue("test.items", count=3, commit=True).id for _ in range(3)]
        assert jobs.work_off() == 3
        worker = jobs.start_worker(2)
        second = [jobs.enqueue("test.echo", n=i, commit=True).id for i in range(20)]
        wait_for(lambda: all(jobs.get(i).status == "completed" for i in second), timeout=20)
        db.session.remove()
        worker.stop()
        jobs.prune(days=0)
        assert jobs.counts()["total"] == 0 and all(jobs.get(i) is None for i in first)
        with engine.connect() as conn:  # foreign keys off: prune deleted the events itself
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(jobs.store.events)).scalar()
                == 0
            )
        # The host's creator said foreign_keys OFF (0), synchronous FULL (2) and the driver's
        # default 5 s busy timeout: every connection of the host's pool still says so.
        assert set(_host_pragmas(engine)) == {(0, 2, 5000)}
        # jobs_admin's own writes ran on its own connections, with its own settings.
        with jobs.connections().engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_MS
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0  # the host's


@sqlite_only
def test_connections_host_dialect_is_not_patched(app: Flask, db: Any, jobs: Any) -> None:
    with app.app_context():
        dialect = db.engine.dialect
        assert jobs.work_off() == 0
        for name in ("do_commit", "do_rollback", "do_close", "do_begin", "do_execute"):
            assert name not in vars(dialect), f"{name} replaced on the host's dialect"
            assert getattr(dialect, name).__func__ is getattr(type(dialect), name)
        # No hook of jobs_admin's on the host's new connections.
        assert not sa.event.contains(db.engine, "connect", _any_jobs_admin_hook(db.engine))


def _any_jobs_admin_hook(engine: sa.Engine) -> Any:
    for fn in engine.pool.dispatch.connect:
        if getattr(fn, "__module__", "").startswith("jobs_admin"):
            return fn
    return lambda *_: None  # nothing of jobs_admin's: contains() answers False


@sqlite_only
def test_connections_host_statement_never_waits_on_jobs_admin(
    app: Flask, db: Any, jobs: Any
) -> None:
    """A host read whose comment says "update" runs while jobs_admin holds its write turn."""
    with app.app_context():
        own = jobs.connections()
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with app.app_context(), own.write() as conn:
                jobs.store.recount(conn)  # a write of jobs_admin's, uncommitted
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert holding.wait(5)
            got: list[Any] = []

            def host_read() -> None:
                with app.app_context():
                    sql = sa.text("WITH x AS (SELECT 1 AS one) -- update\nSELECT one FROM x")
                    got.append(db.session.execute(sql).scalar())
                    db.session.remove()

            reader = threading.Thread(target=host_read)
            reader.start()
            reader.join(5)
            assert got == [1]  # answered while the write is still open
        finally:
            release.set()
            holder.join(5)
