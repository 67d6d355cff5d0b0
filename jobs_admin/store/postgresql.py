"""The PostgreSQL store: fused statements on the hot paths, row locks, advisory locks, NOTIFY.

The claim, the enqueue's bookkeeping, a group of ends and a prune batch are one statement each
(one round trip), where the portable way would take three or more; concurrent workers claim
side by side with ``FOR UPDATE SKIP LOCKED``; the counters spread over
:data:`PG_COUNTER_SLOTS` rows per (status, user) so that they rarely wait on each other.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .. import changes
from .._listener import listener_of
from ..config import PRUNE_BATCH_POSTGRESQL
from ..models import FINISHED, TRANSITIONS, JobStatus, utcnow
from ..stats.writes import END_COLUMNS, End
from .base import Conn
from .core import Ended, JobStore, Unlisten, Where
from .params import ParamsTerm, containment_clause
from .values import (
    CHANGED_KEY,
    CLAIM_COLUMNS,
    FINISH_COLUMNS,
    NOTIFY_CHANNEL,
    PAUSED,
    REMOVALS_KEPT,
    RESUMING,
    Finish,
    lock_key,
)

#: Counter rows per (status, user), so concurrent workers rarely share a row.
PG_COUNTER_SLOTS = 8

#: The value of ``change_seq`` in a write: the writing transaction's id; it also sends a
#: ``NOTIFY`` on :data:`jobs_admin.changes.CHANNEL` (delivered at commit, merged with the
#: transaction's other identical notifications) inside the same statement, so the progress
#: writes' hot path takes no extra round trip (see :mod:`jobs_admin.changes`).
PG_STAMP = (
    f"(SELECT pg_current_xact_id()::text::bigint FROM pg_notify('{changes.CHANNEL}', '') AS n)"
)

#: The types the record set of :meth:`PostgreSQLStore._finish_group` declares for the columns
#: an end may set.
_FINISH_TYPES: dict[str, Any] = {
    "result": JSONB(),
    "result_file": sa.String(500),
    "message": sa.Text(),
    "progress_total": sa.Integer(),
    "progress_done": sa.Integer(),
    "progress_failed": sa.Integer(),
}
assert set(_FINISH_TYPES) == set(FINISH_COLUMNS)


class PostgreSQLStore(JobStore):
    """The store on PostgreSQL."""

    dialect: ClassVar[str] = "postgresql"
    dialect_insert = staticmethod(pg_insert)
    prune_batch_size: ClassVar[int] = PRUNE_BATCH_POSTGRESQL
    #: ``INSERT ... ON CONFLICT`` (unique jobs, see :mod:`.unique`).
    upsert = staticmethod(pg_insert)

    def params_clause(self, term: ParamsTerm) -> sa.ColumnElement[bool]:
        return containment_clause(self.models.Job.params, term)

    # -- the change cursor, counters, locks ------------------------------------------------

    def _stamp(self) -> Any:
        return sa.literal_column(PG_STAMP, sa.BigInteger())

    def change_cursor(self, conn: Conn) -> str:
        """The snapshot of "now" (``"p:<xmin>:<xmax>:<xip>"``)."""
        return "p:" + str(conn.execute(sa.text("SELECT pg_current_snapshot()::text")).scalar())

    def _counter_slot(self) -> int:
        # One random slot per transaction: concurrent workers rarely wait on one row, and
        # rows are locked in sorted (status, user) order, so they cannot deadlock.
        return random.randrange(PG_COUNTER_SLOTS)

    def _for_update(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        return stmt.with_for_update()

    def _deleted(self, conn: Conn, ids: Sequence[int], top: int) -> None:
        # The foreign keys' ON DELETE CASCADE / SET NULL took the events and retry links, and
        # the cursor (transaction ids) is never reused: nothing to do.
        return None

    def notify_pending(self, conn: Conn) -> None:
        """Tell listening workers that jobs are due; sent when ``conn`` commits."""
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})

    def try_xact_lock(self, conn: Conn, name: str) -> bool:
        """Take the advisory lock ``name`` until ``conn``'s transaction ends, if it is free."""
        stmt = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
        return bool(conn.execute(stmt, {"key": lock_key(name)}).scalar())

    def session_lock(self, conn: Connection, name: str, wait: bool) -> bool:
        """Take the advisory lock ``name`` for ``conn``'s whole session.

        :param wait: block until it is free; else give up at once if another process holds it.
        """
        fn = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        result = conn.execute(sa.text(f"SELECT {fn}(:key)"), {"key": lock_key(name)}).scalar()
        conn.commit()
        return wait or bool(result)

    def session_unlock(self, conn: Connection, name: str) -> None:
        """Release a lock taken by :meth:`session_lock`."""
        conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
        conn.commit()

    def listen(self, engine: sa.Engine, channel: str, callback: Callable[[], None]) -> Unlisten:
        """Subscribe ``callback`` to ``channel`` on the process's one ``LISTEN`` connection
        (:func:`jobs_admin._listener.listener_of`)."""
        return listener_of(engine).subscribe(channel, callback)

    @contextlib.contextmanager
    def guarded(self, conn: Conn) -> Iterator[None]:
        """A savepoint: a failed statement would abort the whole transaction."""
        with conn.begin_nested():
            yield

    # -- enqueue, claim, finish ------------------------------------------------------------

    def _enqueued(self, session: Session, job: Any) -> None:
        session.execute(
            self._enqueued_sql,
            {
                "id": job.id,
                "user": job.created_by or "",
                "slot": random.randrange(PG_COUNTER_SLOTS),
                "now": utcnow(),
            },
        )

    @functools.cached_property
    def _enqueued_sql(self) -> sa.TextClause:
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

    def _claim(
        self,
        conn: Conn,
        worker: str,
        limit: int,
        now: datetime,
        only: str | None = None,
        skip: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        self._changed(conn)  # marks the transaction for the live feed
        params: dict[str, Any] = {
            "now": now,
            "limit": limit,
            "worker": worker,
            "slot": random.randrange(PG_COUNTER_SLOTS),
        }
        if only is not None:
            sql, params["only"] = self._claim_only_sql, only
        elif skip:
            sql, params["skip"] = self._claim_skip_sql, list(skip)
        else:
            sql = self._claim_sql  # the plain claim: exactly the statement of before
        return [dict(row._mapping) for row in conn.execute(sql, params)]

    @functools.cached_property
    def _claim_sql(self) -> sa.TextClause:
        return self._claim_statement("")

    @functools.cached_property
    def _claim_only_sql(self) -> sa.TextClause:
        """The claim of one limited type (see :meth:`~.flow.FlowStore.claim_limited`)."""
        return self._claim_statement("AND type = CAST(:only AS text)")

    @functools.cached_property
    def _claim_skip_sql(self) -> sa.TextClause:
        """The claim that skips the paused and limited types."""
        return self._claim_statement("AND type <> ALL(CAST(:skip AS text[]))")

    def _claim_statement(self, extra: str) -> sa.TextClause:
        """The claim on PostgreSQL, in one statement: pick, move, count and log.

        What :meth:`~.base.StoreBase._move` and :meth:`add_events` do in three round trips,
        fused for the worker's hot path: ``FOR UPDATE SKIP LOCKED`` in a MATERIALIZED pick (run
        once, never more rows than the limit), the counter rows upserted in (status, creator)
        order like :meth:`~.base.StoreBase._count` (so claims cannot deadlock on them), one
        start event per job.
        """
        assert JobStatus.RUNNING in TRANSITIONS[JobStatus.PENDING]
        job, count, event = self.jobs.name, self.counts_table.name, self.events.name
        cols = ", ".join(f"j.{name}" for name in ("id", "created_by", *CLAIM_COLUMNS))
        return sa.text(
            f"""
            WITH picked AS MATERIALIZED (
                SELECT id FROM {job}
                WHERE status = 'pending' AND run_at <= CAST(:now AS timestamptz) {extra}
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
                    unique_key = CASE WHEN j.unique_key LIKE 'p:%' THEN NULL
                        ELSE j.unique_key END,
                    updated_at = CAST(:now AS timestamptz),
                    change_seq = {PG_STAMP}
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

    def _finish_group(
        self, conn: Conn, group: Sequence[Finish], common: dict[str, Any], mine: Where
    ) -> list[Ended]:
        """One ``UPDATE ... FROM jsonb_to_recordset(...)`` for ends that set the same columns."""
        j = self.jobs
        names = tuple(sorted(group[0].values))
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
            .returning(j.c.id, j.c.created_by, *(j.c[c] for c in END_COLUMNS))
        )
        return [
            (row.id, row.created_by, row.status, End(*(row._mapping[c] for c in END_COLUMNS)))
            for row in conn.execute(stmt)
        ]

    # -- prune -----------------------------------------------------------------------------

    def prune_batch(self, conn: Conn, cutoff: datetime, batch: int) -> tuple[int, list[str]]:
        """:meth:`~.base.StoreBase.prune_batch` in one statement (:meth:`_prune_sql`), with
        ``synchronous_commit`` off for the caller's transaction."""
        # A batch lost in a crash is simply deleted again by the next prune, so its commit need
        # not wait for the WAL flush (and the prune queues no fsync per batch on the server).
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
        r = self.removals
        conn.execute(sa.delete(r).where(r.c.removed_at < utcnow() - REMOVALS_KEPT))
        row = conn.execute(
            self._prune_sql,
            {"cutoff": cutoff, "batch": batch, "slot": random.randrange(PG_COUNTER_SLOTS)},
        ).one()
        if row.n:
            # The counts changed: this process's live feed tells the browsers at once.
            conn.info[CHANGED_KEY] = True
        return int(row.n), list(row.files or [])

    @functools.cached_property
    def _prune_sql(self) -> sa.TextClause:
        """One prune batch on PostgreSQL in one statement: pick and lock the oldest finished
        jobs, delete them (their foreign keys delete the events and clear retry links; a plain
        DELETE of the events too measured slower), take them off the counters, and return how
        many went and their result files; the deleted jobs are recorded for the live feed
        (:meth:`~.actions.ActionStore._record_removals`).

        ``SKIP LOCKED``: a job an admin is retrying right now stays (its row is locked); the
        status filter is checked again on the locked rows. The counter rows are updated in
        sorted (status, user) order, as :meth:`~.base.StoreBase._count` does, so concurrent
        writers cannot deadlock with the prune.
        """
        job, count, removal = self.jobs.name, self.counts_table.name, self.removals.name
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
                RETURNING j.id, j.status, coalesce(j.created_by, '') AS created_by,
                    j.created_by AS owner, j.result_file
            ), removed AS (
                INSERT INTO {removal} (job_id, created_by, change_seq, removed_at)
                SELECT id, owner, {PG_STAMP}, now() FROM gone
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
