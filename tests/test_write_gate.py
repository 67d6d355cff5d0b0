"""The in-process queue for SQLite's write lock: order, hand-over, timeouts, reads, escapes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from jobs_admin._write_gate import WAIT_KEY, gate_of, install, is_write


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'gate.db'}")

    @sa.event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn: object, _record: object) -> None:
        cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
    install(eng, wait=5.0)
    yield eng
    eng.dispose()


def rows(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT who FROM t ORDER BY id")]


def test_is_write_tells_writes_from_reads() -> None:
    assert is_write("INSERT INTO t VALUES (1)")
    assert is_write("  update t set x = 1")
    assert is_write("DELETE FROM t")
    assert is_write("WITH gone AS (SELECT id FROM t) DELETE FROM t WHERE id IN gone")
    assert is_write("CREATE INDEX i ON t (who)")
    assert not is_write("SELECT * FROM t WHERE who = 'UPDATE'")
    assert not is_write("SELECT who FROM t")
    assert not is_write("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not is_write("PRAGMA data_version")
    # What the driver also sees past: comments before the keyword; and lock-taking statements
    # that are not DML.
    assert is_write("/* tagged */ INSERT INTO t VALUES (1)")
    assert is_write("-- by the report\n  DELETE FROM t")
    assert is_write("BEGIN IMMEDIATE")
    assert is_write("begin exclusive transaction")
    assert is_write("VACUUM")
    assert not is_write("BEGIN")
    assert not is_write("/* INSERT */ SELECT 1")
    # In a CTE only real DML counts: not the replace() function, literals or quoted names.
    assert not is_write("WITH x AS (SELECT who FROM t) SELECT replace(who, 'a', 'b') FROM x")
    assert not is_write("WITH x AS (SELECT 'insert' AS \"update\") SELECT * FROM x")
    assert is_write("WITH x AS (SELECT 1) REPLACE INTO t (id, who) SELECT 1, 'r' FROM x")


def test_write_gate_queues_writers_first_come_first_served(engine: sa.Engine) -> None:
    gate = gate_of(engine)
    assert gate is not None
    order: list[str] = []
    holder = engine.connect()
    holder.exec_driver_sql("INSERT INTO t (who) VALUES ('holder')")
    assert gate.holder() is not None

    def writer(name: str) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t (who) VALUES (?)", (name,))
            order.append(name)

    threads = []
    for name in ("a", "b", "c"):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # each is in line before the next asks
    assert order == []  # all wait for the holder's commit, on the gate
    holder.commit()
    holder.close()
    for t in threads:
        t.join(5)
    assert order == ["a", "b", "c"]
    assert rows(engine) == ["holder", "a", "b", "c"]
    assert gate.holder() is None


def test_write_gate_is_released_by_rollback_and_by_closing(engine: sa.Engine) -> None:
    gate = gate_of(engine)
    assert gate is not None
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('rolled back')")
        assert gate.holder() is not None
        conn.rollback()
        assert gate.holder() is None
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('closed')")
        assert gate.holder() is not None
    # Closing without a commit returns the connection with a rollback: nothing kept.
    assert gate.holder() is None
    assert rows(engine) == []


def test_write_gate_times_out_as_sqlite_would_and_writes_nothing(engine: sa.Engine) -> None:
    holder = engine.connect()
    holder.exec_driver_sql("INSERT INTO t (who) VALUES ('holder')")
    failed: list[BaseException] = []

    def writer() -> None:
        with engine.connect() as conn:
            conn.info[WAIT_KEY] = 0.05
            started = time.monotonic()
            try:
                conn.exec_driver_sql("INSERT INTO t (who) VALUES ('late')")
            except OperationalError as exc:
                failed.append(exc)
                assert time.monotonic() - started < 1.0
            finally:
                conn.info.pop(WAIT_KEY, None)

    t = threading.Thread(target=writer)
    t.start()
    t.join(5)
    assert len(failed) == 1 and "database is locked" in str(failed[0])
    holder.commit()
    holder.close()
    assert rows(engine) == ["holder"]
    # The one that gave up left the line: the next writer goes straight in.
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('next')")
    assert rows(engine) == ["holder", "next"]


def test_write_gate_never_holds_up_reads(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('committed')")
    holder = engine.connect()
    holder.exec_driver_sql("INSERT INTO t (who) VALUES ('pending')")
    seen: list[list[str]] = []
    t = threading.Thread(target=lambda: seen.append(rows(engine)))
    t.start()
    t.join(2)
    assert seen == [["committed"]]  # read at once, without the uncommitted row
    holder.rollback()
    holder.close()


def test_write_gate_lets_a_thread_past_itself_to_sqlites_lock(engine: sa.Engine) -> None:
    # One thread writing through a second connection while its first holds the lock must
    # meet SQLite's busy timeout (as without the gate), not wait on the gate for itself.
    first = engine.connect()
    first.exec_driver_sql("INSERT INTO t (who) VALUES ('first')")
    with engine.connect() as second:
        second.exec_driver_sql("PRAGMA busy_timeout=50")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            second.exec_driver_sql("INSERT INTO t (who) VALUES ('second')")
        assert time.monotonic() - started < 2.0
        second.rollback()
        second.exec_driver_sql("PRAGMA busy_timeout=5000")
    first.commit()
    first.close()
    assert rows(engine) == ["first"]


def test_write_gate_is_on_the_apps_sqlite_engine(app: object, jobs: object) -> None:
    with app.app_context():  # type: ignore[attr-defined]
        engine = jobs.db.engine  # type: ignore[attr-defined]
        if engine.dialect.name != "sqlite":
            pytest.skip("SQLite-only: PostgreSQL queues writers itself")
        gate = gate_of(engine)
        assert gate is not None and gate.wait == 30.0
        job = jobs.enqueue("test.noop")  # type: ignore[attr-defined]
        assert gate.holder() is not None  # the session's write holds it until the commit
        jobs.db.session.commit()  # type: ignore[attr-defined]
        assert gate.holder() is None
        assert job.id is not None


def test_write_gate_lets_a_connection_already_in_a_transaction_through(
    engine: sa.Engine, wait_for: Any
) -> None:
    # A connection that took SQLite's lock by a statement the gate does not see (here a
    # PRAGMA write after a plain BEGIN) while another thread holds the gate and waits for
    # SQLite's lock: queueing its next write would deadlock both until the timeout.
    gate = gate_of(engine)
    assert gate is not None
    a = engine.connect()
    a.exec_driver_sql("BEGIN")
    a.exec_driver_sql("PRAGMA user_version = 7")
    assert gate.holder() is None
    done: list[str] = []

    def writer() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t (who) VALUES ('b')")
        done.append("b")

    t = threading.Thread(target=writer)
    t.start()
    wait_for(lambda: gate.holder() is not None, timeout=5)
    assert done == []  # b has the gate and waits on SQLite's lock, held by a
    started = time.monotonic()
    a.exec_driver_sql("INSERT INTO t (who) VALUES ('a')")
    a.commit()
    a.close()
    assert time.monotonic() - started < 1.0
    t.join(5)
    assert done == ["b"]
    assert rows(engine) == ["a", "b"]
    assert gate.holder() is None


def test_write_gate_waiter_interrupted_leaves_the_line(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = gate_of(engine)
    assert gate is not None
    holder = engine.connect()
    holder.exec_driver_sql("INSERT INTO t (who) VALUES ('holder')")

    def interrupted(timeout: float | None = None) -> bool:
        raise KeyboardInterrupt

    raised: list[BaseException] = []

    def waiter() -> None:  # another thread: this one's own writes would pass the gate
        with engine.connect() as conn:
            try:
                conn.exec_driver_sql("INSERT INTO t (who) VALUES ('interrupted')")
            except BaseException as exc:
                raised.append(exc)

    monkeypatch.setattr(gate._cv, "wait", interrupted)
    t = threading.Thread(target=waiter)
    t.start()
    t.join(5)
    monkeypatch.undo()
    assert [type(e) for e in raised] == [KeyboardInterrupt]
    holder.commit()
    holder.close()
    # Nobody holds the gate and nobody waits: the next writer goes straight in.
    with engine.connect() as conn:
        conn.info[WAIT_KEY] = 0.2
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('next')")
        conn.commit()
        conn.info.pop(WAIT_KEY)
    assert rows(engine) == ["holder", "next"]


def test_write_gate_is_released_when_sqlite_commits_by_itself(engine: sa.Engine) -> None:
    gate = gate_of(engine)
    assert gate is not None
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
        auto.exec_driver_sql("INSERT INTO t (who) VALUES ('auto')")
        assert gate.holder() is None  # the row is committed: nothing to hold
        with engine.connect() as other:
            other.info[WAIT_KEY] = 0.2
            other.exec_driver_sql("INSERT INTO t (who) VALUES ('other')")
            other.commit()
            other.info.pop(WAIT_KEY)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE u (id INTEGER PRIMARY KEY)")  # DDL commits itself
        assert gate.holder() is None
    assert rows(engine) == ["auto", "other"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_write_gate_starts_empty_in_a_forked_child(engine: sa.Engine) -> None:
    gate = gate_of(engine)
    assert gate is not None
    holder = engine.connect()
    holder.exec_driver_sql("INSERT INTO t (who) VALUES ('parent')")
    assert gate.holder() is not None
    pid = os.fork()
    if pid == 0:  # the child: its parent's holder does not exist here
        os._exit(0 if gate.holder() is None else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gate.holder() is not None  # the parent's own gate is untouched
    holder.rollback()
    holder.close()
