"""A first-come-first-served queue for SQLite's one write lock among a process's threads.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps and
retries on its busy handler's schedule (1, 2, 5 ... then 100 ms apart), so a thread that
writes again at once, like a worker claiming and ending short jobs, takes the lock back
before a sleeping writer wakes: a second worker, an admin's click or an enqueue in the same
process then waited over a second (measured: a second in-process worker claimed nothing for
1.04 s while the first claimed 1,994 jobs). The gate makes the process's writers take turns
in the order they asked, and hands the lock over as soon as a transaction ends. Writers in
other processes still meet SQLite's busy handler.

Only writing statements pass the gate; reads (WAL) never wait. A thread that already holds
the gate through one connection and writes through another is let through to SQLite's own
lock, as before: it would otherwise wait for itself. So is a connection already in a
transaction (its own ``BEGIN``, a savepoint): it may hold SQLite's lock, which the gate's
holder could be waiting for. The gate is given back when the transaction ends, or right
after a statement that SQLite committed by itself (DDL, an ``AUTOCOMMIT`` connection).
"""

from __future__ import annotations

import collections
import os
import re
import sqlite3
import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa

#: Key in a connection's ``info`` holding how long (s) its writes may wait for the gate;
#: unset means the busy timeout. The runner's progress writes wait briefly, then buffer.
WAIT_KEY = "jobs_admin.gate_wait"

# Whitespace and comments before the first keyword: the driver skips them too (a commented
# INSERT still opens its transaction).
_LEAD = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_WRITE = re.compile(
    _LEAD + r"(?:INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|VACUUM|ANALYZE|REINDEX"
    r"|BEGIN\s+(?:IMMEDIATE|EXCLUSIVE))\b",
    re.IGNORECASE | re.DOTALL,
)
_WITH = re.compile(_LEAD + r"WITH\b", re.IGNORECASE | re.DOTALL)
# A DML keyword in a CTE's text, not the ``replace()`` function.
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE)\b(?!\s*\()", re.IGNORECASE)
# String literals and quoted names, blanked before looking for DML in a CTE.
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]")


def is_write(statement: str) -> bool:
    """Whether a statement takes SQLite's write lock (a CTE counts if it holds DML).

    :param statement: the SQL text as sent to the driver.
    """
    if _WRITE.match(statement):
        return True
    return bool(_WITH.match(statement) and _DML.search(_QUOTED.sub("''", statement)))


class WriteGate:
    """A FIFO lock held by one DBAPI connection from its first write to its commit/rollback.

    :param wait: the longest wait for the gate (s), after which the write fails as SQLite's
        own would: ``sqlite3.OperationalError("database is locked")``.
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._cv = threading.Condition(threading.Lock())
        self._queue: collections.deque[object] = collections.deque()
        self._holder: int | None = None
        self._thread: int | None = None

    def holder(self) -> int | None:
        """``id()`` of the DBAPI connection that holds the gate, if any."""
        return self._holder

    def acquire(self, dbapi_conn: Any, wait: float | None = None) -> None:
        """Wait for this connection's turn to write, unless it (or its thread) holds the gate.

        :param dbapi_conn: the raw ``sqlite3.Connection`` about to write.
        :param wait: the longest wait (s); defaults to the gate's.
        """
        key = id(dbapi_conn)
        me = threading.get_ident()
        with self._cv:
            if self._holder == key or (self._holder is not None and self._thread == me):
                return
            if self._holder is None and not self._queue:
                self._holder, self._thread = key, me
                return
            if getattr(dbapi_conn, "in_transaction", False):
                # Already in a transaction (its own BEGIN, a savepoint, a write the gate did
                # not see): it may hold SQLite's lock that the gate's holder waits for, so
                # waiting here could deadlock; SQLite's busy handler decides instead.
                return
            turn = object()
            self._queue.append(turn)
            deadline = time.monotonic() + (self.wait if wait is None else wait)
            while self._holder is not None or self._queue[0] is not turn:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(turn)
                    self._cv.notify_all()  # the next in line may be free to go now
                    raise sqlite3.OperationalError("database is locked")
                try:
                    self._cv.wait(left)
                except BaseException:
                    # Interrupted (KeyboardInterrupt, a green thread's timeout): leave the
                    # line, or every later writer would wait behind a turn nobody takes.
                    self._queue.remove(turn)
                    self._cv.notify_all()
                    raise
            self._queue.popleft()
            self._holder, self._thread = key, me

    def reset(self) -> None:
        """Forget every holder and waiter: in a forked child, where none of them exist."""
        self._cv = threading.Condition(threading.Lock())
        self._queue = collections.deque()
        self._holder = self._thread = None

    def release(self, dbapi_conn: Any) -> None:
        """Let the next writer in, if this connection held the gate.

        :param dbapi_conn: a raw connection or SQLAlchemy's pool proxy of one.
        """
        key = id(getattr(dbapi_conn, "dbapi_connection", dbapi_conn))
        with self._cv:
            if self._holder == key:
                self._holder = self._thread = None
                self._cv.notify_all()


def install(engine: sa.Engine, wait: float) -> WriteGate:
    """Put a :class:`WriteGate` in front of every write made through ``engine``.

    The gate is taken before a writing statement runs and given back right after the
    dialect's commit or rollback (which the pool also calls when a connection is returned
    or closed), not in SQLAlchemy's ``commit`` event, which runs *before* the commit: the
    next writer would find SQLite's lock still taken and sleep at least 1 ms.

    :param engine: an SQLite engine.
    :param wait: the longest wait for the gate (s), SQLite's busy timeout.
    """
    gate = WriteGate(wait)
    dialect = engine.dialect
    commit, rollback, close = dialect.do_commit, dialect.do_rollback, dialect.do_close

    def before_execute(conn: sa.Connection, cursor: Any, statement: str, *_args: Any) -> None:
        if is_write(statement):
            gate.acquire(cursor.connection, conn.info.get(WAIT_KEY))

    def after_execute(conn: sa.Connection, cursor: Any, *_args: Any) -> None:
        # A statement that ran outside a transaction (DDL, VACUUM, an AUTOCOMMIT
        # connection) has already let SQLite's lock go; so does the gate.
        if gate.holder() is not None and not cursor.connection.in_transaction:
            gate.release(cursor.connection)

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            gate.release(dbapi_conn)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            gate.release(dbapi_conn)

    def do_close(dbapi_conn: Any) -> None:
        try:
            close(dbapi_conn)
        finally:
            gate.release(dbapi_conn)

    # Instance attributes on this engine's dialect: the only hooks that run after the
    # driver's commit/rollback, on every path (Connection, Session, pool reset on return).
    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]
    dialect.do_close = do_close  # type: ignore[method-assign,assignment]
    sa.event.listen(engine, "before_cursor_execute", before_execute)
    sa.event.listen(engine, "after_cursor_execute", after_execute)
    # A child forked while a thread of its parent held the gate (or its lock) would wait
    # for a holder that does not exist there.
    ref = weakref.ref(gate)
    os.register_at_fork(after_in_child=lambda: _reset(ref))
    engine.dialect._jobs_admin_gate = gate  # type: ignore[attr-defined]
    return gate


def _reset(ref: weakref.ReferenceType[WriteGate]) -> None:
    gate = ref()
    if gate is not None:
        gate.reset()


def gate_of(engine: sa.Engine) -> WriteGate | None:
    """The gate :func:`install` put on an engine, if any."""
    return getattr(engine.dialect, "_jobs_admin_gate", None)
