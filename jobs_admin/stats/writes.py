"""Writing rollups: the ends of a transaction added up per minute, housekeeping's folds, restat.

Every function takes the caller's connection or session and writes in its transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..statuses import FINISHED
from .failures import group_key
from .model import DAY, HOUR, KEY_COLS, MINUTE, RUN_COLS, SUM_COLS, TOTAL, WAIT_COLS, bucket_of


class End(NamedTuple):
    """One job's end as the rollups see it."""

    type: str
    status: str
    created_by: str | None
    finished_at: datetime | None
    started_at: datetime | None
    run_at: datetime | None


#: The job columns an end is made of (what the status machine returns for a finishing move).
END_COLUMNS = ("type", "status", "created_by", "finished_at", "started_at", "run_at")


def epoch(when: datetime) -> float:
    """Unix seconds of an aware (or naive UTC) datetime.

    :param when: a time.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _zero() -> dict[str, Any]:
    return {name: 0 for name in SUM_COLS}


def rows_of(ends: Iterable[End], slot: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The rows adding ``ends`` up: all-time totals, then minute rows, each sorted by key (upserts
    in one order cannot deadlock).

    :param ends: the ends to count.
    :param slot: the counter slot of the transaction.
    :param now: the end time of an end without one.
    """
    rows: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for end in ends:
        finished = end.finished_at or now or datetime.now(UTC)
        at = epoch(finished)
        bucket = int(at // MINUTE) * MINUTE
        key = (bucket, end.type, end.status, end.created_by or "")
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "span": MINUTE,
                "bucket": bucket,
                "type": end.type,
                "status": end.status,
                "created_by": end.created_by or "",
                "slot": slot,
                **_zero(),
            }
        row["n"] += 1
        if end.started_at is not None:
            run = max(at - epoch(end.started_at), 0.0)
            row["run_n"] += 1
            row["run_sum"] += run
            row[RUN_COLS[bucket_of(run) or 0]] += 1
            if end.run_at is not None:
                wait = max(epoch(end.started_at) - epoch(end.run_at), 0.0)
                row["wait_n"] += 1
                row["wait_sum"] += wait
                row[WAIT_COLS[bucket_of(wait) or 0]] += 1
    # The all-time totals (span 0, bucket 0): the metrics' counters read these few rows.
    totals: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for row in rows.values():
        key = (0, row["type"], row["status"], row["created_by"])
        total = totals.get(key)
        if total is None:
            total = totals[key] = {**row, "span": TOTAL, "bucket": 0, **_zero()}
        for name in SUM_COLS:
            total[name] += row[name]
    return [totals[k] for k in sorted(totals)] + [rows[k] for k in sorted(rows)]


class StatWriter:
    """The rollup statements of one stat table (built once; both databases accept them).

    :param table: the ``jobs_admin_stat`` table.
    """

    def __init__(self, table: sa.Table) -> None:
        self.table = table

    @functools.cached_property
    def _upsert(self) -> sa.TextClause:
        t = self.table.name
        cols = ", ".join((*KEY_COLS, *SUM_COLS))
        values = ", ".join(f":{c}" for c in (*KEY_COLS, *SUM_COLS))
        adds = ", ".join(f"{c} = {t}.{c} + excluded.{c}" for c in SUM_COLS)
        return sa.text(
            f"INSERT INTO {t} ({cols}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(KEY_COLS)}) DO UPDATE SET {adds}"
        )

    def add(self, conn: Any, ends: Sequence[End], slot: int) -> None:
        """Count ``ends`` in the caller's transaction.

        :param conn: the transaction's connection or session.
        :param ends: the ends of this transaction.
        :param slot: the counter slot of this transaction.
        """
        rows = rows_of(ends, slot)
        if rows:
            conn.execute(self._upsert, rows)

    def fold(self, conn: Any, now: datetime, retention_days: int) -> int:
        """Fold minute rows older than two days into hours, hour rows older than 32 days into
        days, and delete rows older than ``retention_days``; return the rows removed.

        :param conn: the caller's transaction.
        :param now: the current time.
        :param retention_days: ``JOBS_ADMIN_STATS_RETENTION_DAYS``.
        """
        t = self.table
        at = int(epoch(now))
        removed = 0
        for span, into, keep in ((MINUTE, HOUR, 2 * DAY), (HOUR, DAY, 32 * DAY)):
            cutoff = (at - keep) // into * into
            old = [t.c.span == span, t.c.bucket < cutoff]
            bucket = t.c.bucket - t.c.bucket % into
            sums = [sa.func.sum(t.c[c]).label(c) for c in SUM_COLS]
            select = (
                sa.select(
                    sa.literal(into).label("span"),
                    bucket.label("bucket"),
                    t.c.type,
                    t.c.status,
                    t.c.created_by,
                    sa.literal(0).label("slot"),
                    *sums,
                )
                .where(*old)
                .group_by(bucket, t.c.type, t.c.status, t.c.created_by)
            )
            rows = [dict(r._mapping) for r in conn.execute(select)]
            if rows:
                conn.execute(self._upsert, rows)
            removed += conn.execute(sa.delete(t).where(*old)).rowcount or 0
        horizon = at - retention_days * DAY
        old_rows = sa.delete(t).where(t.c.span != TOTAL, t.c.bucket < horizon)
        removed += conn.execute(old_rows).rowcount or 0
        return removed

    def restat(self, conn: Any, jobs: sa.Table, slot: int, batch: int = 5000) -> int:
        """Rebuild the rollups from the finished jobs still stored (each one's last end).

        Ends of jobs no longer stored (pruned, deleted) and earlier ends of reopened jobs are
        lost: the rollups then count what the jobs table holds.

        :param conn: the caller's transaction.
        :param jobs: the jobs table.
        :param slot: the slot to write to.
        :param batch: jobs read per round.
        :returns: how many ends were counted.
        """
        conn.execute(sa.delete(self.table))
        regroup(conn, jobs, batch)
        finished = sorted(s.value for s in FINISHED)
        last = 0
        counted = 0
        while True:
            rows = conn.execute(
                sa.select(jobs.c.id, *(jobs.c[c] for c in END_COLUMNS))
                .where(jobs.c.status.in_(finished), jobs.c.id > last)
                .order_by(jobs.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return counted
            last = rows[-1].id
            self.add(conn, [End(*r[1:]) for r in rows], slot)
            counted += len(rows)


def regroup(conn: Any, jobs: sa.Table, batch: int = 5000) -> int:
    """Set the ``error_group`` of every failed job from its error (see
    :mod:`jobs_admin.stats.failures`); return how many jobs were updated.

    :param conn: the caller's transaction.
    :param jobs: the jobs table.
    :param batch: jobs read per round.
    """
    j = jobs.c
    last, changed = 0, 0
    update = (
        sa.update(jobs)
        .where(j.id == sa.bindparam("job_id"))
        .values(error_group=sa.bindparam("key"))
    )
    while True:
        rows = conn.execute(
            sa.select(j.id, j.error, j.error_group)
            .where(j.status == "failed", j.id > last)
            .order_by(j.id)
            .limit(batch)
        ).all()
        if not rows:
            return changed
        last = rows[-1].id
        todo = [
            {"job_id": r.id, "key": key}
            for r in rows
            if (key := group_key(r.error)) != r.error_group
        ]
        if todo:
            conn.execute(update, todo)
            changed += len(todo)
