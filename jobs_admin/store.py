"""All SQL about jobs: the status machine, claims, heartbeats, rescue, actions, counters.

Every status change goes through :meth:`JobStore._move`, which checks it against
:data:`~jobs_admin.models.TRANSITIONS` and keeps the per-status counters exact in the same
transaction. Every write that changes what the admin shows (a move, progress, a cancel request,
an enqueue, an audit event) stamps the live feed's change cursor through :meth:`JobStore._changed`
(see :mod:`jobs_admin.changes`). Statements are SQLAlchemy Core on the model tables so that one
statement moves many rows (a claim, a rescue) and returns what it moved.
"""

from __future__ import annotations

import contextlib
import functools
import random
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from . import changes
from .errors import InvalidTransition, JobNotFound
from .models import FINISHED, RETRYABLE, TRANSITIONS, EventKind, JobStatus, Models, utcnow

Conn = Session | Connection

#: Counter rows per (status, user) on PostgreSQL, so concurrent workers rarely share a row.
PG_COUNTER_SLOTS = 8

#: KiB of SQLite page cache of a connection while it prunes (see :meth:`JobStore.pruning`).
PRUNE_CACHE_KIB = 32768

#: The PostgreSQL ``LISTEN/NOTIFY`` channel that says "a job became due": idle workers wake.
NOTIFY_CHANNEL = "jobs_admin_pending"

#: Set in a session's or connection's ``info`` by a write the live feed must see; the
#: extension wakes this process's feed when that transaction commits.
CHANGED_KEY = "jobs_admin_changed"


#: What a new attempt starts from (an automatic retry or a rescue); a hand-back at shutdown
#: keeps its progress so that the job can resume where it was.
FRESH_PROGRESS: dict[str, Any] = {
    "progress_total": None,
    "progress_done": 0,
    "progress_failed": 0,
    "phase": None,
    "message": None,
}


#: The phase of a job a worker handed back at its shutdown: ``pending`` with its progress kept,
#: shown as "Paused" until a worker resumes it. No job that has not run has a phase, and every
#: other way back to ``pending`` (a retry, a rescue) clears it, so the phase marks the pause.
PAUSED = "Paused"

#: The phase a claim gives a paused job: the runner sees from it that the job resumes (and
#: a job claimed ahead and handed back unstarted keeps being a paused one).
RESUMING = "Resuming"

#: What :meth:`JobStore.claim_rows` returns of each claimed job (besides id and creator).
CLAIM_COLUMNS = (
    "type",
    "params",
    "attempts",
    "max_attempts",
    "priority",
    "run_at",
    "progress_total",
    "progress_done",
    "progress_failed",
    "cancel_requested",
    "phase",
)

#: The columns a successful end may set per job in :meth:`JobStore.finish_many`, with the
#: types its PostgreSQL record set declares for them.
_FINISH_TYPES: dict[str, Any] = {
    "result": JSONB(),
    "result_file": sa.String(500),
    "message": sa.Text(),
    "progress_total": sa.Integer(),
    "progress_done": sa.Integer(),
    "progress_failed": sa.Integer(),
}


@dataclass(frozen=True)
class Finish:
    """A successful end of a job, written with others by :meth:`JobStore.finish_many`.

    :param job_id: the job.
    :param status: ``completed`` or ``partial``.
    :param values: columns of :data:`_FINISH_TYPES` to set (the result, the last progress).
    :param events: event rows (without ``job_id``) to add with it: the last log lines and the
        status event.
    :param finished_at: when the job's function returned.
    """

    job_id: int
    status: JobStatus
    values: dict[str, Any]
    events: list[dict[str, Any]]
    finished_at: datetime


def lock_key(name: str) -> int:
    """A stable 31-bit advisory-lock key for ``name`` (same in every process and machine).

    The CRC-32 of the name with its top bit cleared: never negative, so it reads the same as a
    PostgreSQL ``int`` or ``bigint`` and in ``pg_locks.objid``.
    """
    return zlib.crc32(f"jobs_admin:{name}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Moved:
    """A job a bulk statement moved: its id and who created it (for the counters)."""

    id: int
    created_by: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionResult:
    """What a bulk admin action did: the ids it acted on and those it skipped, with why."""

    done: list[int]
    skipped: dict[int, str]


def _dialect(conn: Conn) -> str:
    if isinstance(conn, Connection):
        return conn.dialect.name
    # A Session or Flask-SQLAlchemy's scoped session.
    return conn.get_bind().dialect.name


class JobStore:
    """The SQL of one set of job models.

    :param models: the concrete models made by :func:`~jobs_admin.models.define_models`.
    """

    def __init__(self, models: Models) -> None:
        self.models = models
        self.jobs: sa.Table = models.Job.__table__
        self.events: sa.Table = models.JobEvent.__table__
        self.counts_table: sa.Table = models.JobCount.__table__
        self.floor_table: sa.Table = models.ChangeFloor.__table__

    # -- the live feed's change cursor ------------------------------------------------------

    def _changed(self, conn: Conn) -> dict[str, Any]:
        """The values every write the admin shows sets: ``updated_at`` and the change cursor.

        The one place the cursor is stamped; it also marks ``conn`` so that this process's live
        feed reads as soon as the transaction commits.
        """
        conn.info[CHANGED_KEY] = True
        return {
            "updated_at": utcnow(),
            "change_seq": changes.stamp(conn, self.jobs, self.floor_table),
        }

    def touch(self, conn: Conn, ids: Sequence[int]) -> None:
        """Stamp jobs as changed without changing anything else (e.g. an audit event added)."""
        if ids:
            j = self.jobs
            conn.execute(sa.update(j).where(j.c.id.in_(list(ids))).values(**self._changed(conn)))

    def change_cursor(self, conn: Conn) -> str:
        """The live feed's cursor of "now" (see :func:`jobs_admin.changes.position`)."""
        return changes.position(conn, self.jobs, self.floor_table)

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
        rows = [
            {"status": status, "user": user, "slot": 0, "n": delta}
            for (status, user), delta in sorted(deltas.items())
            if delta
        ]
        if not rows:
            return
        if _dialect(conn) == "postgresql":
            # One random slot per transaction: concurrent workers rarely wait on one row, and
            # rows are locked in sorted (status, user) order, so they cannot deadlock.
            slot = random.randrange(PG_COUNTER_SLOTS)
            for row in rows:
                row["slot"] = slot
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
        result = {s.value: 0 for s in JobStatus}
        for status, n in conn.execute(stmt):
            if status in result:
                result[status] = int(n or 0)
        result["total"] = sum(result.values())
        return result

    def counts(self, conn: Conn, created_by: str | None = None) -> dict[str, int]:
        """Count jobs per status (and ``total``), of everyone or of one user, from the counters."""
        t = self.counts_table
        stmt = sa.select(t.c.status, sa.func.sum(t.c.n)).group_by(t.c.status)
        if created_by is not None:
            stmt = stmt.where(t.c.created_by == created_by)
        result = {s.value: 0 for s in JobStatus}
        for status, n in conn.execute(stmt):
            if status in result:
                result[status] = int(n or 0)
        result["total"] = sum(result.values())
        return result

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
        lock: bool = False,
        returning: Sequence[str] = (),
    ) -> list[Moved]:
        """Move the ``old`` jobs matching ``where`` to ``new`` in one statement; return them.

        :raises InvalidTransition: the status machine does not allow ``old`` -> ``new``.
        """
        if new not in TRANSITIONS[old]:
            raise InvalidTransition(None, old.value, new.value)
        j = self.jobs
        ids = sa.select(j.c.id).where(j.c.status == old.value, *where)
        if order_by:
            ids = ids.order_by(*order_by)
        if limit is not None:
            ids = ids.limit(limit)
        chosen: Any = ids.scalar_subquery()
        if lock and _dialect(conn) == "postgresql":
            # Materialised, so the LIMITed, SKIP LOCKED pick runs once: as a plain IN
            # subquery the planner may re-run it per row and move more rows than the limit.
            picked = ids.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
            chosen = sa.select(picked.c.id).scalar_subquery()
        stmt = (
            sa.update(j)
            .where(j.c.id.in_(chosen), j.c.status == old.value)
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
        return moved

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
        stmt = sa.select(j.c.status).where(j.c.id == job_id)
        if _dialect(conn) == "postgresql":
            stmt = stmt.with_for_update()
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

    # -- events ----------------------------------------------------------------------------

    def count_events(self, conn: Conn, job_id: int, kind: str) -> int:
        """How many events of ``kind`` the job has (served by the events' job index)."""
        e = self.events.c
        stmt = sa.select(sa.func.count()).where(e.job_id == job_id, e.kind == kind)
        return int(conn.execute(stmt).scalar() or 0)

    def add_events(self, conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
        """Insert event rows (dicts with job_id, kind, message, and optionally level, data, at)."""
        if not rows:
            return
        now = utcnow()
        conn.execute(
            sa.insert(self.events),
            [
                {
                    "job_id": r["job_id"],
                    "kind": r["kind"],
                    "level": r.get("level", "info"),
                    "message": r.get("message"),
                    "data": r.get("data"),
                    "at": r.get("at", now),
                }
                for r in rows
            ],
        )

    def event(
        self,
        conn: Conn,
        job_id: int,
        kind: EventKind,
        message: str,
        *,
        level: str = "info",
        data: Any = None,
    ) -> None:
        """Insert one event."""
        self.add_events(
            conn,
            [
                {
                    "job_id": job_id,
                    "kind": kind.value,
                    "message": message,
                    "level": level,
                    "data": data,
                }
            ],
        )

    # -- coordination between processes ---------------------------------------------------

    def notify_pending(self, conn: Conn) -> None:
        """Tell listening workers (on PostgreSQL) that jobs are due; sent when ``conn`` commits."""
        if _dialect(conn) == "postgresql":
            conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})

    def try_xact_lock(self, conn: Conn, name: str) -> bool:
        """Take the advisory lock ``name`` until ``conn``'s transaction ends, if it is free.

        On SQLite there is one machine and the work it guards is idempotent: always True.
        """
        if _dialect(conn) != "postgresql":
            return True
        stmt = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
        return bool(conn.execute(stmt, {"key": lock_key(name)}).scalar())

    def session_lock(self, conn: Connection, name: str, wait: bool) -> bool:
        """Take the advisory lock ``name`` for ``conn``'s whole session (PostgreSQL only).

        :param wait: block until it is free; else give up at once if another process holds it.
        """
        if conn.dialect.name != "postgresql":
            return True
        fn = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        result = conn.execute(sa.text(f"SELECT {fn}(:key)"), {"key": lock_key(name)}).scalar()
        conn.commit()
        return wait or bool(result)

    def session_unlock(self, conn: Connection, name: str) -> None:
        """Release a lock taken by :meth:`session_lock`."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
            conn.commit()

    # -- enqueue ---------------------------------------------------------------------------

    def enqueue(self, session: Session, **values: Any) -> Any:
        """Add a pending job in the caller's transaction and flush it; return the ``Job``."""
        job = self.models.Job(status=JobStatus.PENDING.value, **values, **self._changed(session))
        session.add(job)
        session.flush()
        if _dialect(session) == "postgresql":
            session.execute(
                self._enqueued_pg,
                {
                    "id": job.id,
                    "user": job.created_by or "",
                    "slot": random.randrange(PG_COUNTER_SLOTS),
                    "now": utcnow(),
                },
            )
            return job
        self._count(session, Counter({(JobStatus.PENDING.value, job.created_by or ""): 1}))
        self.event(session, job.id, EventKind.STATUS, "enqueued", data={"status": "pending"})
        self.notify_pending(session)
        return job

    @functools.cached_property
    def _enqueued_pg(self) -> sa.TextClause:
        """After a job's INSERT on PostgreSQL: its counter, its first event and the NOTIFY that
        wakes idle workers, in one round trip instead of three."""
        count, event = self.counts_table.name, self.events.name
        return sa.text(
            f"""
            WITH counted AS (
                INSERT INTO {count} (status, created_by, slot, n)
                VALUES ('pending', CAST(:user AS text), :slot, 1)
                ON CONFLICT (status, created_by, slot) DO UPDATE SET n = {count}.n + 1
            ), logged AS (
                INSERT INTO {event} (job_id, at, kind, level, message, data)
                VALUES (:id, CAST(:now AS timestamptz), 'status', 'info', 'enqueued',
                        '{{"status": "pending"}}'::jsonb)
            )
            SELECT pg_notify('{NOTIFY_CHANNEL}', '')
            """
        )

    # -- the worker's side -----------------------------------------------------------------

    def claim(self, conn: Conn, worker: str, limit: int) -> list[int]:
        """Move up to ``limit`` due pending jobs to running for ``worker``; return their ids.

        One statement: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many workers claim side by
        side; on SQLite the statement's write lock does the same. No job goes to two workers.
        """
        return sorted(row["id"] for row in self.claim_rows(conn, worker, limit))

    def claim_rows(self, conn: Conn, worker: str, limit: int) -> list[dict[str, Any]]:
        """:meth:`claim`, returning the claimed rows' :data:`CLAIM_COLUMNS` in run order.

        The runner starts from these values, so a claimed job costs no second read.
        """
        if limit < 1:
            return []
        j = self.jobs
        now = utcnow()
        if _dialect(conn) == "postgresql":
            self._changed(conn)  # marks the transaction for the live feed
            result = conn.execute(
                self._claim_pg,
                {
                    "now": now,
                    "limit": limit,
                    "worker": worker,
                    "slot": random.randrange(PG_COUNTER_SLOTS),
                },
            )
            rows = [dict(row._mapping) for row in result]
            rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
            return rows
        moved = self._move(
            conn,
            JobStatus.PENDING,
            JobStatus.RUNNING,
            [j.c.run_at <= now],
            {
                "worker": worker,
                # A paused job keeps its first start: its run goes on where it stopped.
                "started_at": sa.case(
                    (self.paused(j.c.phase), sa.func.coalesce(j.c.started_at, now)), else_=now
                ),
                "phase": sa.case((self.paused(j.c.phase), RESUMING), else_=j.c.phase),
                "heartbeat_at": now,
                "attempts": j.c.attempts + 1,
                "finished_at": None,
                "cancel_requested": False,
            },
            order_by=[j.c.priority.desc(), j.c.run_at, j.c.id],
            limit=limit,
            lock=True,
            returning=CLAIM_COLUMNS,
        )
        self.add_events(
            conn,
            [
                {
                    "job_id": m.id,
                    "kind": EventKind.STATUS.value,
                    "message": (
                        f"started attempt {m.extra['attempts']} of {m.extra['max_attempts']}"
                        f" on {worker}"
                    ),
                    "data": {"status": "running", "attempt": m.extra["attempts"], "worker": worker},
                }
                for m in moved
            ],
        )
        rows = [{"id": m.id, "created_by": m.created_by, **m.extra} for m in moved]
        rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
        return rows

    @staticmethod
    def paused(phase: Any) -> sa.ColumnElement[bool]:
        """Whether a pending job with this phase was handed back at a shutdown (see
        :data:`PAUSED`): a paused job, or one claimed to resume and handed back unstarted."""
        return cast(sa.ColumnElement[bool], phase.in_([PAUSED, RESUMING]))

    @functools.cached_property
    def _claim_pg(self) -> sa.TextClause:
        """The claim on PostgreSQL, in one statement: pick, move, count and log.

        What :meth:`_move` and :meth:`add_events` do in three round trips, fused for the
        worker's hot path: ``FOR UPDATE SKIP LOCKED`` in a MATERIALIZED pick (run once, never
        more rows than the limit), the counter rows upserted in (status, creator) order like
        :meth:`_count` (so claims cannot deadlock on them), one start event per job.
        """
        assert JobStatus.RUNNING in TRANSITIONS[JobStatus.PENDING]
        job, count, event = self.jobs.name, self.counts_table.name, self.events.name
        cols = ", ".join(f"j.{name}" for name in ("id", "created_by", *CLAIM_COLUMNS))
        return sa.text(
            f"""
            WITH picked AS MATERIALIZED (
                SELECT id FROM {job}
                WHERE status = 'pending' AND run_at <= CAST(:now AS timestamptz)
                ORDER BY priority DESC, run_at, id
                LIMIT :limit
                FOR UPDATE SKIP LOCKED
            ), moved AS (
                UPDATE {job} AS j
                SET status = 'running', worker = CAST(:worker AS text),
                    started_at = CASE WHEN j.phase IN ('{PAUSED}', '{RESUMING}')
                        THEN coalesce(j.started_at, CAST(:now AS timestamptz))
                        ELSE CAST(:now AS timestamptz) END,
                    phase = CASE WHEN j.phase IN ('{PAUSED}', '{RESUMING}')
                        THEN '{RESUMING}' ELSE j.phase END,
                    heartbeat_at = CAST(:now AS timestamptz),
                    attempts = j.attempts + 1, finished_at = NULL, cancel_requested = false,
                    updated_at = CAST(:now AS timestamptz),
                    change_seq = {changes.PG_STAMP}
                FROM picked
                WHERE j.id = picked.id AND j.status = 'pending'
                RETURNING {cols}
            ), counted AS (
                INSERT INTO {count} (status, created_by, slot, n)
                SELECT s.status, coalesce(m.created_by, ''), :slot, sum(s.delta)
                FROM moved AS m
                CROSS JOIN (VALUES ('pending', -1), ('running', 1)) AS s (status, delta)
                GROUP BY s.status, coalesce(m.created_by, '')
                ORDER BY s.status, coalesce(m.created_by, '')
                ON CONFLICT (status, created_by, slot) DO UPDATE SET n = {count}.n + excluded.n
            ), logged AS (
                INSERT INTO {event} (job_id, at, kind, level, message, data)
                SELECT m.id, CAST(:now AS timestamptz), 'status', 'info',
                    'started attempt ' || m.attempts || ' of ' || m.max_attempts
                    || ' on ' || CAST(:worker AS text),
                    jsonb_build_object(
                        'status', 'running', 'attempt', m.attempts, 'worker', CAST(:worker AS text)
                    )
                FROM moved AS m
            )
            SELECT * FROM moved
            """
        )

    def heartbeat(self, conn: Conn, worker: str, ids: Sequence[int]) -> set[int]:
        """Refresh the heartbeat of ``worker``'s running jobs; return those asked to cancel."""
        if not ids:
            return set()
        j = self.jobs
        stmt = (
            sa.update(j)
            .where(j.c.id.in_(list(ids)), j.c.status == "running", j.c.worker == worker)
            .values(heartbeat_at=utcnow())
            .returning(j.c.id, j.c.cancel_requested)
        )
        return {row.id for row in conn.execute(stmt) if row.cancel_requested}

    def progress(self, conn: Conn, job_id: int, worker: str, values: dict[str, Any]) -> bool:
        """Write progress fields of a running job this worker owns; False if it lost the job.

        Called with no values after log lines alone were added, so the change feed sees them.
        """
        j = self.jobs
        stmt = (
            sa.update(j)
            .where(j.c.id == job_id, j.c.status == "running", j.c.worker == worker)
            .values(**self._changed(conn), **values)
        )
        result = cast(sa.CursorResult[Any], conn.execute(stmt))
        return bool(result.rowcount)

    def finish(
        self,
        conn: Conn,
        job_id: int,
        worker: str,
        status: JobStatus,
        values: dict[str, Any],
        *,
        retry: bool = False,
    ) -> JobStatus | None:
        """End a running job this worker owns, or hand it back to pending.

        :param retry: this is an automatic retry after a failed attempt: if a cancel was
            requested meanwhile the job ends cancelled instead of going back to the queue.
        :returns: the status the job got, or ``None`` if the worker no longer owns it.
        """
        j = self.jobs
        mine = [j.c.id == job_id, j.c.worker == worker]
        if status is JobStatus.PENDING and retry:
            if self._move(
                conn,
                JobStatus.RUNNING,
                JobStatus.PENDING,
                [*mine, j.c.cancel_requested.is_(False)],
                values,
            ):
                return JobStatus.PENDING
            status = JobStatus.CANCELLED
            values = {k: v for k, v in values.items() if k in ("error", "traceback")}
            values.update(phase=None, message="cancelled")
        if status is not JobStatus.PENDING:
            values = {"finished_at": utcnow(), **values}
        return status if self._move(conn, JobStatus.RUNNING, status, mine, values) else None

    def finish_many(self, conn: Conn, worker: str, ends: Sequence[Finish]) -> list[int]:
        """Write the successful ends of several of ``worker``'s jobs in the caller's transaction.

        What :meth:`finish` does for one job, for many at once: one ``UPDATE`` per set of
        columns on PostgreSQL (the values travel as one JSON record set), then one counter
        upsert and one event insert for all. A job the worker no longer owns (a rescue took it)
        is left alone.

        :returns: the ids that were ended.
        """
        if not ends:
            return []
        j = self.jobs
        common = {"phase": None, "error": None, "traceback": None, **self._changed(conn)}
        mine = (j.c.worker == worker, j.c.status == JobStatus.RUNNING.value)
        groups: dict[tuple[str, ...], list[Finish]] = {}
        for end in ends:
            if end.status not in (JobStatus.COMPLETED, JobStatus.PARTIAL):
                raise InvalidTransition(end.job_id, "running", end.status.value)
            unknown = set(end.values) - set(_FINISH_TYPES)
            if unknown:
                raise ValueError(f"finish_many cannot set {sorted(unknown)}")
            groups.setdefault(tuple(sorted(end.values)), []).append(end)
        moved: list[tuple[int, str | None, str]] = []
        for names, group in groups.items():
            if _dialect(conn) == "postgresql":
                moved += self._finish_group_pg(conn, names, group, common, mine)
                continue
            # SQLite runs in this process: a statement per job costs no round trip.
            for end in group:
                stmt = (
                    sa.update(j)
                    .where(j.c.id == end.job_id, *mine)
                    .values(
                        status=end.status.value,
                        finished_at=end.finished_at,
                        **end.values,
                        **common,
                    )
                    .returning(j.c.id, j.c.created_by)
                )
                row = conn.execute(stmt).first()
                if row is not None:
                    moved.append((row.id, row.created_by, end.status.value))
        deltas: Counter[tuple[str, str]] = Counter()
        for _id, user, status in moved:
            deltas[(JobStatus.RUNNING.value, user or "")] -= 1
            deltas[(status, user or "")] += 1
        self._count(conn, deltas)
        done = {job_id for job_id, _user, _status in moved}
        self.add_events(
            conn, [{"job_id": e.job_id, **ev} for e in ends if e.job_id in done for ev in e.events]
        )
        return [e.job_id for e in ends if e.job_id in done]

    def _finish_group_pg(
        self,
        conn: Conn,
        names: tuple[str, ...],
        group: Sequence[Finish],
        common: dict[str, Any],
        mine: tuple[sa.ColumnElement[bool], ...],
    ) -> list[tuple[int, str | None, str]]:
        """One ``UPDATE ... FROM jsonb_to_recordset(...)`` for ends that set the same columns."""
        j = self.jobs
        payload = [
            {
                "id": e.job_id,
                "status": e.status.value,
                "finished_at": e.finished_at.isoformat(),
                **e.values,
            }
            for e in group
        ]
        v = (
            sa.func.jsonb_to_recordset(sa.bindparam("ends", payload, type_=JSONB()))
            .table_valued(
                sa.column("id", sa.BigInteger()),
                sa.column("status", sa.String(16)),
                sa.column("finished_at", sa.DateTime(timezone=True)),
                *(sa.column(name, _FINISH_TYPES[name]) for name in names),
            )
            .render_derived(name="v", with_types=True)
        )
        stmt = (
            sa.update(j)
            .where(j.c.id == v.c.id, *mine)
            .values(
                status=v.c.status,
                finished_at=v.c.finished_at,
                **{name: v.c[name] for name in names},
                **common,
            )
            .returning(j.c.id, j.c.created_by, j.c.status)
        )
        return [(row.id, row.created_by, row.status) for row in conn.execute(stmt)]

    def rescue(self, conn: Conn, stale_after: float) -> tuple[list[int], list[int]]:
        """Settle running jobs whose heartbeat is older than ``stale_after`` seconds.

        Those with attempts left go back to pending; the others fail with "worker lost".
        :returns: (ids requeued, ids failed).
        """
        j = self.jobs
        if not self.try_xact_lock(conn, "rescue"):
            # Another process is rescuing right now; its statement sees the same rows.
            return [], []
        now = utcnow()
        stale = [j.c.heartbeat_at < now - timedelta(seconds=stale_after)]
        requeued = self._move(
            conn,
            JobStatus.RUNNING,
            JobStatus.PENDING,
            [*stale, j.c.attempts < j.c.max_attempts],
            {
                "worker": None,
                "run_at": now,
                "error": "worker lost",
                "heartbeat_at": None,
                **FRESH_PROGRESS,
            },
        )
        failed = self._move(
            conn,
            JobStatus.RUNNING,
            JobStatus.FAILED,
            stale,
            {"error": "worker lost", "finished_at": now, "phase": None},
        )
        self.add_events(
            conn,
            [
                {
                    "job_id": m.id,
                    "kind": EventKind.STATUS.value,
                    "level": "warning",
                    "message": f"worker lost (no heartbeat for {stale_after:g} s); requeued",
                    "data": {"status": "pending"},
                }
                for m in requeued
            ]
            + [
                {
                    "job_id": m.id,
                    "kind": EventKind.STATUS.value,
                    "level": "error",
                    "message": (
                        f"worker lost (no heartbeat for {stale_after:g} s); no attempts left"
                    ),
                    "data": {"status": "failed"},
                }
                for m in failed
            ],
        )
        if requeued:
            self.notify_pending(conn)
        return [m.id for m in requeued], [m.id for m in failed]

    # -- admin actions ---------------------------------------------------------------------

    def retry(self, conn: Conn, job_id: int, user: str | None, max_attempts: int) -> str | None:
        """Put a failed, partial or cancelled job back to pending with ``max_attempts`` more runs.

        :returns: the result file of the previous run, to remove once this commits.
        :raises InvalidTransition: the job is pending, running or completed.
        """
        j = self.jobs
        row = conn.execute(sa.select(j.c.attempts, j.c.result_file).where(j.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(job_id)
        self._move_one(
            conn,
            job_id,
            JobStatus.PENDING,
            {
                "run_at": utcnow(),
                "max_attempts": row.attempts + max_attempts,
                "worker": None,
                "phase": None,
                "message": None,
                "error": None,
                "traceback": None,
                "result": None,
                "result_file": None,
                "progress_total": None,
                "progress_done": 0,
                "progress_failed": 0,
                "cancel_requested": False,
                "heartbeat_at": None,
                "started_at": None,
                "finished_at": None,
                "updated_by": user,
            },
            action="retry it",
            # running -> pending is the runner's automatic retry, never a manual one.
            expect=RETRYABLE,
        )
        self.event(
            conn,
            job_id,
            EventKind.ACTION,
            f"retried by {user or 'system'}",
            data={"action": "retry", "user": user},
        )
        self.notify_pending(conn)
        return cast("str | None", row.result_file)

    def current_status(self, conn: Conn, job_id: int, lock: bool = False) -> str | None:
        """A job's status as stored now (``None``: no such job).

        :param lock: on PostgreSQL, lock the row until the transaction ends.
        """
        j = self.jobs
        stmt = sa.select(j.c.status).where(j.c.id == job_id)
        if lock and _dialect(conn) == "postgresql":
            stmt = stmt.with_for_update()
        return cast("str | None", conn.execute(stmt).scalar())

    def cancel(self, conn: Conn, job_id: int, user: str | None, cancellable: bool) -> JobStatus:
        """Cancel a pending job now, or ask a running one to stop; return the status it had.

        :raises InvalidTransition: the job is finished, or running and not cancellable.
        """
        j = self.jobs
        stmt = sa.select(j.c.status).where(j.c.id == job_id)
        if _dialect(conn) == "postgresql":
            # Hold the row so a worker cannot claim it between our read and our write.
            stmt = stmt.with_for_update()
        current = conn.execute(stmt).scalar()
        if current is None:
            raise JobNotFound(job_id)
        if current == JobStatus.PENDING.value:
            moved = self._move(
                conn,
                JobStatus.PENDING,
                JobStatus.CANCELLED,
                [j.c.id == job_id],
                # A paused job's phase ends with the pause.
                {
                    "finished_at": utcnow(),
                    "updated_by": user,
                    "cancel_requested": True,
                    "phase": None,
                },
            )
            if moved:
                self.event(
                    conn,
                    job_id,
                    EventKind.ACTION,
                    f"cancelled by {user or 'system'}",
                    data={"action": "cancel", "user": user},
                )
                return JobStatus.PENDING
            # A worker claimed it in between (SQLite): it is running now.
            current = conn.execute(sa.select(j.c.status).where(j.c.id == job_id)).scalar()
        if current != JobStatus.RUNNING.value:
            raise InvalidTransition(job_id, str(current), "cancelled", "cancel it")
        if not cancellable:
            raise InvalidTransition(
                job_id, current, "cancelled", "cancel it: its type cannot stop while running"
            )
        conn.execute(
            sa.update(j)
            .where(j.c.id == job_id, j.c.status == "running")
            .values(cancel_requested=True, updated_by=user, **self._changed(conn))
        )
        self.event(
            conn,
            job_id,
            EventKind.ACTION,
            f"cancel requested by {user or 'system'}",
            data={"action": "cancel", "user": user},
        )
        return JobStatus.RUNNING

    def delete(self, conn: Conn, job_id: int) -> str | None:
        """Delete a finished job and its events; return its result file path (to remove).

        :raises InvalidTransition: the job is still active.
        """
        j = self.jobs
        row = conn.execute(
            sa.select(j.c.status, j.c.created_by, j.c.result_file).where(j.c.id == job_id)
        ).first()
        if row is None:
            raise JobNotFound(job_id)
        if JobStatus(row.status) not in FINISHED:
            raise InvalidTransition(job_id, row.status, "deleted", "delete it: it is still active")
        self._delete_ids(conn, [job_id])
        return cast("str | None", row.result_file)

    def _delete_ids(self, conn: Conn, ids: Sequence[int]) -> list[str]:
        """Delete finished jobs by id with their events; fix counters; return their files."""
        return self._delete_finished(conn, self.jobs.c.id.in_(list(ids)))[1]

    def _delete_finished(self, conn: Conn, which: sa.ColumnElement[bool]) -> tuple[int, list[str]]:
        """Delete the finished jobs ``which`` selects, with their events; fix the counters.

        :returns: how many jobs were deleted, and their result files.
        """
        j = self.jobs
        finished = [s.value for s in FINISHED]
        stmt = (
            sa.delete(j)
            .where(which, j.c.status.in_(finished))
            .returning(j.c.id, j.c.status, j.c.created_by, j.c.result_file, j.c.change_seq)
        )
        deltas: Counter[tuple[str, str]] = Counter()
        files, deleted = [], []
        top = 0
        # The status check and the delete are one statement: a job retried meanwhile stays.
        for row in conn.execute(stmt):
            deleted.append(row.id)
            deltas[(row.status, row.created_by or "")] -= 1
            top = max(top, row.change_seq or 0)
            if row.result_file:
                files.append(row.result_file)
        if deleted:
            # The counts changed: this process's live feed tells the browsers at once.
            conn.info[CHANGED_KEY] = True
            changes.raise_floor(conn, self.floor_table, top)
            if _dialect(conn) != "postgresql":
                # Do what the foreign keys' ON DELETE CASCADE / SET NULL do: SQLite enforces
                # them only on connections with PRAGMA foreign_keys=ON, which is the host's
                # choice, not jobs_admin's. "IS NOT NULL" keeps the UPDATE on the retry_of index
                # (else SQLite's planner, which sees retry_of NULL almost everywhere, scans).
                e = self.events
                conn.execute(sa.delete(e).where(e.c.job_id.in_(deleted)))
                conn.execute(
                    sa.update(j)
                    .where(j.c.retry_of.is_not(None), j.c.retry_of.in_(deleted))
                    .values(retry_of=None)
                )
        self._count(conn, deltas)
        return len(deleted), files

    def prune_batch(self, conn: Conn, cutoff: datetime, batch: int) -> tuple[int, list[str]]:
        """Delete up to ``batch`` finished jobs that finished before ``cutoff`` (the oldest
        first) with their events, and fix the counters, in the caller's transaction.

        Call it in a transaction of its own (:meth:`JobsAdmin.prune` runs one per batch): on
        PostgreSQL it turns ``synchronous_commit`` off for that transaction.

        :returns: how many jobs were deleted, and their result files.
        """
        if _dialect(conn) == "postgresql":
            return self._prune_batch_pg(conn, cutoff, batch)
        j = self.jobs
        finished = [s.value for s in FINISHED]
        doomed = (
            sa.select(j.c.id)
            .where(j.c.finished_at < cutoff, j.c.status.in_(finished))
            .order_by(j.c.finished_at)
            .limit(batch)
        )
        # The DELETE picks its rows itself (on ix_jobs_admin_job_finished): no list of ids goes
        # through Python; the events and retry links of the ids it returns go next.
        return self._delete_finished(conn, j.c.id.in_(doomed.scalar_subquery()))

    def _prune_batch_pg(self, conn: Conn, cutoff: datetime, batch: int) -> tuple[int, list[str]]:
        # A batch lost in a crash is simply deleted again by the next prune, so its commit need
        # not wait for the WAL flush (and the prune queues no fsync per batch on the server).
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
        row = conn.execute(
            self._prune_pg,
            {"cutoff": cutoff, "batch": batch, "slot": random.randrange(PG_COUNTER_SLOTS)},
        ).one()
        if row.n:
            # The counts changed: this process's live feed tells the browsers at once.
            conn.info[CHANGED_KEY] = True
        return int(row.n), list(row.files or [])

    @functools.cached_property
    def _prune_pg(self) -> sa.TextClause:
        """One prune batch on PostgreSQL in one statement: pick and lock the oldest finished
        jobs, delete them (their foreign keys delete the events and clear retry links; a plain
        DELETE of the events too measured slower), take them off the counters, and return how
        many went and their result files.

        ``SKIP LOCKED``: a job an admin is retrying right now stays (its row is locked); the
        status filter is checked again on the locked rows. The counter rows are updated in
        sorted (status, user) order, as :meth:`_count` does, so concurrent writers cannot
        deadlock with the prune.
        """
        job, count = self.jobs.name, self.counts_table.name
        finished = ", ".join(f"'{s.value}'" for s in sorted(FINISHED))
        return sa.text(
            f"""
            WITH doomed AS MATERIALIZED (
                SELECT id FROM {job}
                WHERE finished_at < :cutoff AND status IN ({finished})
                ORDER BY finished_at
                LIMIT :batch
                FOR UPDATE SKIP LOCKED
            ), gone AS (
                DELETE FROM {job} j USING doomed WHERE j.id = doomed.id
                RETURNING j.status, coalesce(j.created_by, '') AS created_by, j.result_file
            ), counted AS (
                INSERT INTO {count} (status, created_by, slot, n)
                SELECT status, created_by, :slot, -count(*) FROM gone
                GROUP BY status, created_by
                ORDER BY status, created_by
                ON CONFLICT (status, created_by, slot) DO UPDATE SET n = {count}.n + excluded.n
            )
            SELECT count(*) AS n,
                   array_agg(result_file) FILTER (WHERE result_file IS NOT NULL) AS files
            FROM gone
            """
        )

    @contextlib.contextmanager
    def pruning(self, conn: Connection) -> Iterator[None]:
        """SQLite settings of ``conn`` while it prunes, restored afterwards (nothing elsewhere).

        * No automatic WAL checkpoint in its commits: :meth:`JobsAdmin.prune` runs
          :meth:`checkpoint` after each batch, in the pause it leaves to other writers.
        * A page cache of :data:`PRUNE_CACHE_KIB`: a batch of 1,000 jobs touches thousands of
          pages of the ten indexes, the events and the search index; in SQLite's default 2 MB it
          evicts and re-reads them and spills dirty ones to the WAL mid-statement (batches took
          42-49 ms at the median and up to 130-485 ms; with 32 MB 32-42 ms and up to 96-100 ms).
        """
        if conn.dialect.name != "sqlite":
            yield
            return
        names = ("wal_autocheckpoint", "cache_size")
        old = {name: int(conn.exec_driver_sql(f"PRAGMA {name}").scalar() or 0) for name in names}
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        conn.exec_driver_sql(f"PRAGMA cache_size = -{PRUNE_CACHE_KIB}")
        conn.commit()
        try:
            yield
        finally:
            for name, value in old.items():
                conn.exec_driver_sql(f"PRAGMA {name} = {value}")
            conn.commit()

    def checkpoint(self, conn: Connection) -> None:
        """Copy SQLite's WAL into the database as far as readers allow (``PASSIVE``: it neither
        waits for nor blocks a writer). Nothing on PostgreSQL."""
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
            conn.commit()

    def count_prunable(self, conn: Conn, cutoff: datetime) -> int:
        """How many finished jobs finished before ``cutoff`` (what a prune would delete)."""
        j = self.jobs
        finished = [s.value for s in FINISHED]
        stmt = sa.select(sa.func.count()).where(j.c.finished_at < cutoff, j.c.status.in_(finished))
        return int(conn.execute(stmt).scalar() or 0)

    def of_attempt(self, attempt: int) -> sa.ColumnElement[bool]:
        """Events recorded during ``attempt`` (events without an attempt count for any)."""
        recorded = self.events.c.data["attempt"].as_integer()
        return sa.or_(recorded.is_(None), recorded == attempt)

    def failed_item_keys(self, conn: Conn, job_id: int) -> list[str]:
        """The keys of the items the job's last attempt reported as failed, in order.

        Items that failed in an earlier attempt and succeeded in the last one are not included.
        """
        e, j = self.events, self.jobs
        attempt = conn.execute(sa.select(j.c.attempts).where(j.c.id == job_id)).scalar() or 0
        rows = conn.execute(
            sa.select(e.c.data)
            .where(
                e.c.job_id == job_id,
                e.c.kind == EventKind.ITEM_FAILED.value,
                self.of_attempt(attempt),
            )
            .order_by(e.c.id)
        )
        keys: list[str] = []
        seen: set[str] = set()
        for (data,) in rows:
            key = str((data or {}).get("key"))
            if key not in seen:
                seen.add(key)
                keys.append(key)
        return keys


def remove_files(results_dir: Path, paths: Iterable[str]) -> int:
    """Remove result files that live under ``results_dir``; return how many were removed.

    Paths outside ``results_dir`` are never touched, whatever a row says.
    """
    removed = 0
    root = results_dir.resolve()
    for name in paths:
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        parent = path.parent
        # Each job writes into its own folder; drop it when it is empty.
        if parent != root:
            with contextlib.suppress(OSError):
                parent.rmdir()
    return removed
