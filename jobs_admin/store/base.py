"""The store's machinery: tables, change cursor, counters, the status machine, events.

Every status change goes through :meth:`StoreBase._move`, which checks it against
:data:`~jobs_admin.models.TRANSITIONS` and keeps the per-status counters exact in the same
transaction. Every write that changes what the admin shows (a move, progress, a cancel request,
an enqueue, an audit event) stamps the live feed's change cursor through :meth:`StoreBase._changed`
(see :mod:`jobs_admin.changes`). Statements are SQLAlchemy Core on the model tables so that one
statement moves many rows (a claim, a rescue) and returns what it moved.

What differs between the databases is a *hook* here (an abstract method), implemented once in
:mod:`.postgresql` and once in :mod:`.sqlite`: no method of the store asks which database it
runs on.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..errors import InvalidTransition, JobNotFound
from ..models import FINISHED, TRANSITIONS, JobStatus, Models, utcnow
from ..stats.failures import group_key
from ..stats.writes import END_COLUMNS, End, StatWriter
from ._events import EventsMixin
from .search import search_clause
from .values import CHANGED_KEY, PAUSED, RESUMING, Moved

Conn = Session | Connection


class StoreBase(EventsMixin, abc.ABC):
    """The SQL of one set of job models on one kind of database: the shared machinery.

    A concrete store is :class:`~jobs_admin.store.postgresql.PostgreSQLStore` or
    :class:`~jobs_admin.store.sqlite.SQLiteStore`, chosen once per engine by
    :func:`~jobs_admin.store.make_store`.

    :param models: the concrete models made by :func:`~jobs_admin.models.define_models`.
    """

    #: The dialect name this store serves (``engine.dialect.name``).
    dialect: ClassVar[str]

    #: Jobs a prune batch deletes when ``JOBS_ADMIN_PRUNE_BATCH`` is ``None``.
    prune_batch_size: ClassVar[int]

    def __init__(self, models: Models) -> None:
        self.models = models
        self.jobs: sa.Table = models.Job.__table__
        self.events: sa.Table = models.JobEvent.__table__
        self.counts_table: sa.Table = models.JobCount.__table__
        self.floor_table: sa.Table = models.ChangeFloor.__table__
        #: The rollups of job ends, written with each end (see :mod:`jobs_admin.stats`).
        self.stats = StatWriter(models.Stat)
        self.removals: sa.Table = models.JobRemoval.__table__

    # -- what each database does its own way -----------------------------------------------

    @abc.abstractmethod
    def _stamp(self) -> Any:
        """The value a write sets ``change_seq`` to (a SQL expression; see
        :mod:`jobs_admin.changes`)."""

    @abc.abstractmethod
    def change_cursor(self, conn: Conn) -> str:
        """The live feed's cursor of "now": a reader starting from it gets every change
        committed later."""

    @abc.abstractmethod
    def _counter_slot(self) -> int:
        """The counter slot the counter writes of one transaction go to."""

    @abc.abstractmethod
    def _for_update(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        """``stmt`` locking the rows it reads until the transaction ends, where rows can be
        locked (SQLite's write lock covers the whole database)."""

    @abc.abstractmethod
    def _deleted(self, conn: Conn, ids: Sequence[int], top: int) -> None:
        """After finished jobs ``ids`` were deleted (their highest ``change_seq`` was ``top``):
        what the database does not do by itself (their events, retry links, the change
        floor)."""

    @abc.abstractmethod
    def notify_pending(self, conn: Conn) -> None:
        """Tell listening workers that jobs are due; sent when ``conn`` commits."""

    @abc.abstractmethod
    def try_xact_lock(self, conn: Conn, name: str) -> bool:
        """Take the advisory lock ``name`` until ``conn``'s transaction ends, if it is free."""

    @abc.abstractmethod
    def session_lock(self, conn: Connection, name: str, wait: bool) -> bool:
        """Take the advisory lock ``name`` for ``conn``'s whole session.

        :param wait: block until it is free; else give up at once if another process holds it.
        """

    @abc.abstractmethod
    def session_unlock(self, conn: Connection, name: str) -> None:
        """Release a lock taken by :meth:`session_lock`."""

    @abc.abstractmethod
    def prune_batch(self, conn: Conn, cutoff: datetime, batch: int) -> tuple[int, list[str]]:
        """Delete up to ``batch`` finished jobs that finished before ``cutoff`` (the oldest
        first) with their events, and fix the counters, in the caller's transaction.

        Call it in a transaction of its own (:meth:`JobsAdmin.prune` runs one per batch).

        :returns: how many jobs were deleted, and their result files.
        """

    @contextlib.contextmanager
    def pruning(self, conn: Connection) -> Iterator[None]:
        """Settings of ``conn`` while it prunes, restored afterwards (none by default)."""
        yield

    def checkpoint(self, conn: Connection) -> None:
        """Between two prune batches: let the database catch up (nothing by default)."""
        return None

    def prune_pause(self, pause: float, held: float) -> float:
        """Seconds a prune waits after a batch that held the write lock ``held`` seconds.

        :param pause: ``JOBS_ADMIN_PRUNE_PAUSE``.
        """
        return 0.0

    def search_ids(self, session: Any, term: str) -> Any | None:
        """The ids of jobs whose name or reference contain ``term`` from a search index of the
        database's own, as a SELECT; ``None`` where the trigram ``ILIKE`` serves."""
        return None

    def search_clause(self, session: Any, term: str) -> sa.ColumnElement[bool]:
        """The admin list's condition for one search term (see :func:`.search.search_clause`).

        :param session: the session the list reads with (it may ask a search index first).
        :param term: what the user typed.
        """
        return search_clause(self.models.Job, term, self.search_ids(session, term))

    # -- the live feed's change cursor ------------------------------------------------------

    def _changed(self, conn: Conn) -> dict[str, Any]:
        """The values every write the admin shows sets: ``updated_at`` and the change cursor.

        The one place the cursor is stamped; it also marks ``conn`` so that this process's live
        feed reads as soon as the transaction commits.
        """
        conn.info[CHANGED_KEY] = True
        return {
            "updated_at": utcnow(),
            "change_seq": self._stamp(),
        }

    def touch(self, conn: Conn, ids: Sequence[int]) -> None:
        """Stamp jobs as changed without changing anything else (e.g. an audit event added)."""
        if ids:
            j = self.jobs
            conn.execute(sa.update(j).where(j.c.id.in_(list(ids))).values(**self._changed(conn)))

    def counts_of(self, conn: Conn, users: Iterable[str]) -> dict[str, dict[str, int]]:
        """:meth:`counts` of several creators in one query: creator -> counts."""
        users = sorted(set(users))
        empty = {s.value: 0 for s in JobStatus}
        result = {user: dict(empty) for user in users}
        if not users:
            return {}
        t = self.counts_table
        stmt = (
            sa.select(t.c.created_by, t.c.status, sa.func.sum(t.c.n))
            .where(t.c.created_by.in_(users))
            .group_by(t.c.created_by, t.c.status)
        )
        for user, status, n in conn.execute(stmt):
            if status in empty:
                result[user][status] = int(n or 0)
        for counts in result.values():
            counts["total"] = sum(counts.values())
        return result

    # -- counters --------------------------------------------------------------------------

    def _count(self, conn: Conn, deltas: Counter[tuple[str, str]]) -> None:
        """Add ``deltas`` (by (status, created_by)) to the counters, in the caller's transaction."""
        slot = self._counter_slot()
        rows = [
            {"status": status, "user": user, "slot": slot, "n": delta}
            for (status, user), delta in sorted(deltas.items())
            if delta
        ]
        if rows:
            conn.execute(self._upsert_count, rows)

    @functools.cached_property
    def _upsert_count(self) -> sa.TextClause:
        # Plain SQL both backends accept; built once (this runs in every status change).
        t = self.counts_table.name
        return sa.text(
            f"INSERT INTO {t} (status, created_by, slot, n) VALUES (:status, :user, :slot, :n) "
            f"ON CONFLICT (status, created_by, slot) DO UPDATE SET n = {t}.n + excluded.n"
        )

    def counts_where(self, conn: Conn, condition: Any) -> dict[str, int]:
        """Count the jobs that meet ``condition`` per status (and ``total``), from the jobs
        table: for conditions the counters cannot answer (a host's visibility rule)."""
        j = self.models.Job
        stmt = sa.select(j.status, sa.func.count()).group_by(j.status)
        if condition is not None:
            stmt = stmt.where(condition)
        return _by_status(conn.execute(stmt))

    def counts(self, conn: Conn, created_by: str | None = None) -> dict[str, int]:
        """Count jobs per status (and ``total``), of everyone or of one user, from the counters."""
        t = self.counts_table
        stmt = sa.select(t.c.status, sa.func.sum(t.c.n)).group_by(t.c.status)
        if created_by is not None:
            stmt = stmt.where(t.c.created_by == created_by)
        return _by_status(conn.execute(stmt))

    def recount(self, conn: Conn) -> dict[str, int]:
        """Rebuild the counters from the jobs table; return the new counts."""
        j = self.jobs
        conn.execute(sa.delete(self.counts_table))
        # Grouped by the plain column: PostgreSQL refuses GROUP BY coalesce(created_by, $1)
        # when the select list has coalesce(created_by, $2). NULL and "" are merged here.
        rows = conn.execute(
            sa.select(j.c.status, j.c.created_by, sa.func.count()).group_by(
                j.c.status, j.c.created_by
            )
        )
        deltas: Counter[tuple[str, str]] = Counter()
        for status, user, n in rows:
            deltas[(status, user or "")] += n
        self._count(conn, deltas)
        return self.counts(conn)

    # -- the status machine ----------------------------------------------------------------

    def _move(
        self,
        conn: Conn,
        old: JobStatus,
        new: JobStatus,
        where: Sequence[sa.ColumnElement[bool]],
        values: dict[str, Any],
        *,
        order_by: Sequence[Any] = (),
        limit: int | None = None,
        returning: Sequence[str] = (),
    ) -> list[Moved]:
        """Move the ``old`` jobs matching ``where`` to ``new`` in one statement; return them.

        :raises InvalidTransition: the status machine does not allow ``old`` -> ``new``.
        """
        if new not in TRANSITIONS[old]:
            raise InvalidTransition(None, old.value, new.value)
        j = self.jobs
        ends = new in FINISHED
        if new is JobStatus.FAILED and values.get("error") is not None:
            values = {**values, "error_group": group_key(values["error"])}
        if ends:
            returning = (*returning, *(c for c in END_COLUMNS if c not in returning))
        ids = sa.select(j.c.id).where(j.c.status == old.value, *where)
        if order_by:
            ids = ids.order_by(*order_by)
        if limit is not None:
            ids = ids.limit(limit)
        stmt = (
            sa.update(j)
            .where(j.c.id.in_(ids.scalar_subquery()), j.c.status == old.value)
            .values(status=new.value, **self._changed(conn), **values)
            .returning(j.c.id, j.c.created_by, *(j.c[name] for name in returning))
        )
        moved = [
            Moved(row.id, row.created_by, {name: row._mapping[name] for name in returning})
            for row in conn.execute(stmt)
        ]
        if moved:
            deltas: Counter[tuple[str, str]] = Counter()
            for m in moved:
                deltas[(old.value, m.created_by or "")] -= 1
                deltas[(new.value, m.created_by or "")] += 1
            self._count(conn, deltas)
            if ends:
                self._rollup(conn, [End(*(m.extra[c] for c in END_COLUMNS)) for m in moved])
        return moved

    def _rollup(self, conn: Conn, ends: Sequence[End]) -> None:
        """Count ``ends`` in the rollups, in the caller's transaction."""
        self.stats.add(conn, ends, self._counter_slot())

    def _move_one(
        self,
        conn: Conn,
        job_id: int,
        new: JobStatus,
        values: dict[str, Any],
        *,
        action: str | None = None,
        expect: Iterable[JobStatus] | None = None,
    ) -> JobStatus:
        """Move one job to ``new`` from whatever status it has; return the old status.

        :raises JobNotFound: no such job.
        :raises InvalidTransition: its current status cannot go to ``new``.
        """
        j = self.jobs
        stmt = self._for_update(sa.select(j.c.status).where(j.c.id == job_id))
        current = conn.execute(stmt).scalar()
        if current is None:
            raise JobNotFound(job_id)
        old = JobStatus(current)
        allowed = set(expect) if expect is not None else set(JobStatus)
        if old not in allowed or new not in TRANSITIONS[old]:
            raise InvalidTransition(job_id, old.value, new.value, action)
        if not self._move(conn, old, new, [j.c.id == job_id], values):
            # Another transaction changed it between our read and our write (SQLite only).
            raise InvalidTransition(job_id, old.value, new.value, action)
        return old

    @staticmethod
    def paused(phase: Any) -> sa.ColumnElement[bool]:
        """Whether a pending job with this phase was handed back at a shutdown (see
        :data:`PAUSED`): a paused job, or one claimed to resume and handed back unstarted."""
        return cast(sa.ColumnElement[bool], phase.in_([PAUSED, RESUMING]))


def _by_status(rows: Iterable[Any]) -> dict[str, int]:
    """Counts per status, every status present, and their ``total``, from (status, n) rows."""
    result = {s.value: 0 for s in JobStatus}
    for status, n in rows:
        if status in result:
            result[status] = int(n or 0)
    result["total"] = sum(result.values())
    return result
