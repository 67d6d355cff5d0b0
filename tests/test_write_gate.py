"""The opt-in queue among jobs_admin's own SQLite writers: order, hand-over, timeouts, reads,
nesting, and that the host's statements never pass through it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from jobs_admin.connections import OwnConnections, own_connections


@pytest.fixture
def host(tmp_path: Path) -> Iterator[sa.Engine]:
    """A host engine on a WAL SQLite file, with a table ``t``."""
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with eng.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
    yield eng
    eng.dispose()


@pytest.fixture
def own(host: sa.Engine) -> Iterator[OwnConnections]:
    """jobs_admin's own connections on ``host``, with the write queue on."""
    conns = own_connections(host, queue=True)
    yield conns
    conns.engine.dispose()


def rows(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT who FROM t ORDER BY id")]


class Holder:
    """A thread inside one of jobs_admin's write transactions, until :meth:`commit`."""

    def __init__(self, own: OwnConnections, who: str = "holder") -> None:
        self._in = threading.Event()
        self._go = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(own, who))
        self.thread.start()
        assert self._in.wait(5)

    def _run(self, own: OwnConnections, who: str) -> None:
        with own.write() as conn:
            conn.exec_driver_sql("INSERT INTO t (who) VALUES (?)", (who,))
            self._in.set()
            self._go.wait(10)

    def commit(self) -> None:
        self._go.set()
        self.thread.join(5)


def test_write_gate_queues_writers_first_come_first_served(
    own: OwnConnections, wait_for: Callable[..., Any]
) -> None:
    gate = own.gate
    assert gate is not None
    holder = Holder(own)
    assert gate.holder() == holder.thread.ident
    order: list[str] = []

    def writer(name: str) -> None:
        with own.write() as conn:
            conn.exec_driver_sql("INSERT INTO t (who) VALUES (?)", (name,))
            order.append(name)

    threads = []
    for name in ("a", "b", "c"):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        # Each is in line before the next asks.
        wait_for(lambda: len(gate._queue) == len(threads), timeout=5)
    assert order == []  # all wait for the holder's commit, on the gate
    holder.commit()
    for t in threads:
        t.join(5)
    assert order == ["a", "b", "c"]
    assert rows(own.engine) == ["holder", "a", "b", "c"]
    assert gate.holder() is None


def test_write_gate_is_passed_on_when_a_write_fails(own: OwnConnections) -> None:
    gate = own.gate
    assert gate is not None
    with pytest.raises(ZeroDivisionError), own.write() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('rolled back')")
        assert gate.holder() == threading.get_ident()
        raise ZeroDivisionError
    assert gate.holder() is None
    assert rows(own.engine) == []


def test_write_gate_times_out_as_sqlite_would_and_writes_nothing(own: OwnConnections) -> None:
    holder = Holder(own)
    failed: list[BaseException] = []

    def writer() -> None:
        try:
            with own.write(busy_ms=50) as conn:
                conn.exec_driver_sql("INSERT INTO t (who) VALUES ('late')")
        except OperationalError as exc:
            failed.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    t.join(5)
    assert len(failed) == 1 and "database is locked" in str(failed[0])
    holder.commit()
    assert rows(own.engine) == ["holder"]
    # The one that gave up left the line: the next writer goes straight in.
    with own.write(busy_ms=200) as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('next')")
    assert rows(own.engine) == ["holder", "next"]


def test_write_gate_never_holds_up_reads(own: OwnConnections, host: sa.Engine) -> None:
    with own.write() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('committed')")
    holder = Holder(own, "pending")
    seen: list[list[str]] = []
    t = threading.Thread(target=lambda: seen.append(rows(host)))
    t.start()
    t.join(5)
    assert seen == [["committed"]]  # read at once, without the uncommitted row
    holder.commit()


def test_write_gate_lets_a_nested_write_of_its_holder_through(
    own: OwnConnections,
) -> None:
    # A write of the thread that holds the turn, on a second connection, meets SQLite's lock
    # (held by its own first connection) and its busy timeout, not the gate: it would
    # otherwise wait for itself.
    gate = own.gate
    assert gate is not None
    with own.write() as first:
        first.exec_driver_sql("INSERT INTO t (who) VALUES ('first')")
        with pytest.raises(OperationalError, match="locked"), own.write(busy_ms=50) as second:
            second.exec_driver_sql("INSERT INTO t (who) VALUES ('second')")
        assert gate.holder() == threading.get_ident()  # still the outer write's
    assert gate.holder() is None
    assert rows(own.engine) == ["first"]


def test_write_gate_never_sees_the_hosts_statements(own: OwnConnections, host: sa.Engine) -> None:
    gate = own.gate
    assert gate is not None
    with host.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('host')")
        assert gate.holder() is None  # the host's write holds SQLite's lock, not the gate
        conn.commit()
    holder = Holder(own)
    done: list[list[Any]] = []

    def reader() -> None:
        with host.connect() as conn:
            sql = "WITH x AS (SELECT 1) -- update\nSELECT * FROM x"
            done.append(list(conn.exec_driver_sql(sql).all()))

    t = threading.Thread(target=reader)
    t.start()
    t.join(5)
    assert done == [[(1,)]]  # at once, while jobs_admin's writer holds its turn
    holder.commit()
    assert rows(host) == ["host", "holder"]


def test_write_gate_waiter_interrupted_leaves_the_line(
    own: OwnConnections, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = own.gate
    assert gate is not None
    holder = Holder(own)

    def interrupted(timeout: float | None = None) -> bool:
        raise KeyboardInterrupt

    raised: list[BaseException] = []

    def waiter() -> None:
        try:
            with own.write() as conn:
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
    # Nobody holds the gate and nobody waits: the next writer goes straight in.
    with own.write(busy_ms=200) as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('next')")
    assert rows(own.engine) == ["holder", "next"]


def test_write_gate_is_off_unless_asked(host: sa.Engine) -> None:
    conns = own_connections(host, queue=False)
    assert conns.gate is None
    with conns.write() as conn:
        conn.exec_driver_sql("INSERT INTO t (who) VALUES ('no queue')")
    assert rows(host) == ["no queue"]
    conns.engine.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_write_gate_starts_empty_in_a_forked_child(own: OwnConnections) -> None:
    gate = own.gate
    assert gate is not None
    holder = Holder(own)
    assert gate.holder() is not None
    pid = os.fork()
    if pid == 0:  # the child: its parent's holder does not exist here
        os._exit(0 if gate.holder() is None else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gate.holder() is not None  # the parent's own gate is untouched
    holder.commit()
