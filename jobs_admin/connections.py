"""The connections jobs_admin writes its own rows through, apart from the host's.

jobs_admin sets nothing on the host's connections and patches no dialect or driver. On SQLite
it needs three things, and takes them where they belong:

* **WAL** (readers never wait for the writer) is a setting of the database file: it is set
  once, at ``init_app``, through one connection (:func:`enable_wal`).
* **A long busy timeout** and **``synchronous=NORMAL``** are settings of a connection: they are
  set on connections jobs_admin opens for itself (:func:`own_connections`), from a pool made
  with the host pool's own creator and ``connect`` hooks, so the host's ``connect_args``,
  ``creator`` and PRAGMAs apply first and jobs_admin's two settings after them.
* **``BEGIN IMMEDIATE``** starts each of jobs_admin's write transactions
  (:meth:`OwnConnections.write`): a transaction that reads before it writes would otherwise
  fail at once with "database is locked" when another writer committed in between.

The worker's claims, heartbeats, progress and ends, the rescue, the prune and the counters go
through these connections. A job's own ``db.session`` work, and the end of a job that has such
work, stay on the host's connection, in one transaction (see the runner). On PostgreSQL, and
on an in-memory SQLite database (which another pool could not see), jobs_admin uses the host's
engine as it is: it sets nothing there that outlives a transaction.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from ._write_gate import WriteGate

#: The busy timeout of jobs_admin's own SQLite connections (milliseconds): how long one of its
#: writers waits for another process's write before it fails.
SQLITE_BUSY_MS = 30000


def is_memory(url: sa.URL) -> bool:
    """Whether an SQLite URL names an in-memory database (each pool would get its own)."""
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url.query.get("mode", ""))


def enable_wal(engine: sa.Engine) -> None:
    """Put an SQLite database in WAL mode, once: a setting stored in the database file.

    :param engine: the host's engine; one of its connections runs the one PRAGMA.
    """
    if engine.dialect.name != "sqlite" or is_memory(engine.url):
        return
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if str(mode).lower() != "wal":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.rollback()


class OwnConnections:
    """Where jobs_admin's own write transactions run, and how they start.

    :param engine: jobs_admin's own engine, or the host's where it cannot have one.
    :param own: whether ``engine`` is jobs_admin's own (its connections may be configured).
    :param gate: the queue among this process's writers of jobs_admin, if switched on.
    """

    def __init__(self, engine: sa.Engine, own: bool, gate: WriteGate | None) -> None:
        self.engine = engine
        self.own = own
        self.gate = gate
        self.sqlite = engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def write(self, busy_ms: int | None = None) -> Iterator[sa.Connection]:
        """A write transaction of jobs_admin's on a connection of its own, committed at the end.

        :param busy_ms: see :meth:`transaction`.
        :raises sqlalchemy.exc.OperationalError: the lock stayed taken; nothing was written.
        """
        with self.engine.connect() as conn, self.transaction(conn, busy_ms):
            yield conn

    @contextlib.contextmanager
    def transaction(self, conn: sa.Connection, busy_ms: int | None = None) -> Iterator[None]:
        """One write transaction on ``conn`` (one of :attr:`engine`'s), committed at the end.

        On SQLite it starts with ``BEGIN IMMEDIATE``, after this process's earlier jobs_admin
        writers when the write queue is on.

        :param conn: a connection of :attr:`engine` with no transaction under way.
        :param busy_ms: on SQLite, wait at most this long (ms) for the write lock instead of
            :data:`SQLITE_BUSY_MS` (the queue's turn included); the connection gets its usual
            timeout back afterwards.
        :raises sqlalchemy.exc.OperationalError: the lock stayed taken; nothing was written.
        """
        if not self.sqlite:
            with conn.begin():
                yield
            return
        wait = None if busy_ms is None else busy_ms / 1000
        turn = self.gate.turn(wait) if self.gate is not None else contextlib.nullcontext()
        short = busy_ms is not None and self.own
        with turn:
            try:
                with conn.begin():
                    if short:
                        conn.exec_driver_sql(f"PRAGMA busy_timeout={busy_ms}")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    yield
            finally:
                if short:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
                    conn.rollback()


_OWN: weakref.WeakKeyDictionary[sa.Engine, OwnConnections] = weakref.WeakKeyDictionary()
_OWN_LOCK = threading.Lock()


def own_connections(host: sa.Engine, queue: bool) -> OwnConnections:
    """jobs_admin's :class:`OwnConnections` for a host engine (one per engine, made once).

    :param host: the host's engine (``db.engine``).
    :param queue: put this process's jobs_admin writers in one first-come-first-served queue
        (SQLite only; see :mod:`jobs_admin._write_gate`).
    """
    gate = WriteGate(SQLITE_BUSY_MS / 1000) if queue and host.dialect.name == "sqlite" else None
    if host.dialect.name != "sqlite" or is_memory(host.url):
        # Only the host's engine can reach this database: nothing of jobs_admin's to share.
        return OwnConnections(host, own=False, gate=gate)
    with _OWN_LOCK:
        found = _OWN.get(host)  # one engine may serve several apps: one pool, one queue
        if found is None:
            found = _OWN[host] = OwnConnections(_sqlite_engine(host), own=True, gate=gate)
        elif found.gate is None:
            found.gate = gate
        return found


def _sqlite_engine(host: sa.Engine) -> sa.Engine:
    """An engine of jobs_admin's own on the host's SQLite database.

    Its pool is the host pool's ``recreate()``: the same creator (``connect_args``, a custom
    ``creator``), pool settings and ``connect`` hooks as of now, so what the host needs on a
    connection (a key, functions, its PRAGMAs) holds on these too; then jobs_admin's own
    settings, on these connections only.
    """
    engine = sa.create_engine(host.url, pool=host.pool.recreate())
    sa.event.listen(engine, "connect", _own_pragmas)
    # A forked child must not use its parent's SQLite connections.
    ref = weakref.ref(engine)
    os.register_at_fork(after_in_child=lambda: _dispose(ref))
    return engine


def _dispose(ref: weakref.ReferenceType[sa.Engine]) -> None:
    engine = ref()
    if engine is not None:
        engine.dispose(close=False)


def _own_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # Its writers queue for up to 30 s behind another process's writes instead of failing.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    # In WAL mode NORMAL stays consistent after a crash and skips an fsync per commit; the
    # worker commits a claim, a heartbeat, a batch of ends several times a second.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
