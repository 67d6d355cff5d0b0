"""The SQL of schedules: pick the due ones, add their jobs exactly once, keep the audit trail.

Exactly once: a fired job carries ``(schedule_id, scheduled_for)``, unique together, and is
added with ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` on both databases, so a second
process firing the same tick adds nothing; the counters and the "enqueued" event are written
only for the rows the INSERT returned, so a skipped insert leaves them right. On PostgreSQL the
due schedules are also taken ``FOR UPDATE SKIP LOCKED``, so processes share the work of a tick
instead of queueing behind each other; on SQLite the write transaction does the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..models import ACTIVE, EventKind, JobStatus, utcnow
from .base import Conn
from .core import JobStore


def schedules_table(store: JobStore) -> sa.Table:
    """``jobs_admin_schedule``."""
    table: sa.Table = store.models.Schedule.__table__
    return table


def due(store: JobStore, conn: Conn, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Enabled schedules whose next tick is at or before ``now``, the oldest first, locked for
    this transaction (skipping those another process holds, on PostgreSQL)."""
    s = schedules_table(store)
    stmt = (
        sa.select(s)
        .where(s.c.enabled.is_(True), s.c.next_run_at <= now)
        .order_by(s.c.next_run_at, s.c.id)
        .limit(limit)
    )
    # SKIP LOCKED on PostgreSQL; SQLite renders no FOR UPDATE (its write lock covers it).
    stmt = stmt.with_for_update(skip_locked=True, of=s)
    return [dict(row) for row in conn.execute(stmt).mappings()]


def next_due(store: JobStore, conn: Conn) -> datetime | None:
    """The earliest next tick of the enabled schedules (served by the ``next_run_at`` index)."""
    s = schedules_table(store)
    value: datetime | None = conn.execute(
        sa.select(sa.func.min(s.c.next_run_at)).where(s.c.enabled.is_(True))
    ).scalar()
    if value is not None and value.tzinfo is None:  # a bare aggregate skips the type decorator
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


def active_jobs(store: JobStore, conn: Conn, ids: Sequence[int | None]) -> set[int]:
    """Which of the jobs ``ids`` are pending or running."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return set()
    j = store.jobs
    rows = conn.execute(
        sa.select(j.c.id).where(j.c.id.in_(wanted), j.c.status.in_([s.value for s in ACTIVE]))
    )
    return {row[0] for row in rows}


def insert_or_skip(store: JobStore, keys: list[str]) -> Any:
    """``INSERT INTO jobs_admin_schedule ... ON CONFLICT (keys) DO NOTHING``."""
    return store.dialect_insert(schedules_table(store)).on_conflict_do_nothing(index_elements=keys)


def add_jobs(store: JobStore, conn: Conn, jobs: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Add pending jobs (values of ``jobs_admin_job``, each with its own ``schedule_id`` and a
    ``scheduled_for``, all with the same columns) in one statement, each unless a job of the
    same tick exists; count them and log them.

    :returns: ``schedule_id`` -> the new job's id, for the jobs added (a tick that had a job
        already is left out).
    """
    if not jobs:
        return {}
    now = utcnow()
    j = store.jobs
    make = store.dialect_insert
    stamp = store._changed(conn)
    seq = stamp.pop("change_seq")
    rows = [
        {"status": JobStatus.PENDING.value, "run_at": now, "created_at": now, **v, **stamp}
        for v in jobs
    ]
    # One statement for every row (SQLAlchemy's "insertmanyvalues": batched VALUES, compiled
    # once and cached), the change cursor's SQL expression shared by all rows.
    statement = (
        make(j)
        .values(change_seq=seq)
        .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
        .returning(j.c.id, j.c.schedule_id, j.c.created_by)
    )
    added = conn.execute(statement, rows).all()
    if added:
        counts: Counter[tuple[str, str]] = Counter(
            (JobStatus.PENDING.value, r.created_by or "") for r in added
        )
        store._count(conn, counts)
        store.add_events(
            conn,
            [
                {
                    "job_id": r.id,
                    "kind": EventKind.STATUS.value,
                    "message": "enqueued",
                    "data": {"status": JobStatus.PENDING.value},
                    "at": now,
                }
                for r in added
            ],
        )
        store.notify_pending(conn)
    return {r.schedule_id: r.id for r in added}


def update_many(store: JobStore, conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    """Set ``next_run_at``, ``last_scheduled_for`` and ``last_job_id`` of many schedules in one
    round trip (rows: dicts with ``sid`` and those three)."""
    if not rows:
        return
    s = schedules_table(store)
    conn.execute(
        sa.update(s)
        .where(s.c.id == sa.bindparam("sid"))
        .values(
            next_run_at=sa.bindparam("next_run_at"),
            last_scheduled_for=sa.bindparam("last_scheduled_for"),
            last_job_id=sa.bindparam("last_job_id"),
        ),
        list(rows),
    )


def update_schedule(store: JobStore, conn: Conn, schedule_id: int, **values: Any) -> None:
    """Set columns of one schedule."""
    s = schedules_table(store)
    conn.execute(sa.update(s).where(s.c.id == schedule_id).values(**values))


def add_events(store: JobStore, conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    """Insert schedule events (dicts with schedule_id, schedule_name, kind, and optionally who,
    message, data)."""
    if not rows:
        return
    now = utcnow()
    table: sa.Table = store.models.ScheduleEvent.__table__
    conn.execute(
        sa.insert(table),
        [
            {
                "schedule_id": r["schedule_id"],
                "schedule_name": r["schedule_name"],
                "kind": r["kind"],
                "who": r.get("who"),
                "message": r.get("message"),
                "data": r.get("data"),
                "at": r.get("at", now),
            }
            for r in rows
        ],
    )
