"""Writing rollups: the ends of a transaction added up per minute, hour and day, housekeeping's
trim, restat.

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
from .model import (
    DAY,
    HOUR,
    KEEP_HOURS,
    KEEP_MINUTES,
    KEY_COLS,
    MINUTE,
    RUN_COLS,
    SUM_COLS,
    TOTAL,
    WAIT_COLS,
    bucket_of,
)


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
    """The rows adding ``ends`` up: all-time totals, then day, hour and minute rows, each sorted
    by key (upserts in one order cannot deadlock).

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
    # The same ends in the hour, day and all-time rows: each chart range reads one span (a
    # 90-day chart reads 90 day rows per key, not the minutes of the last two days too).
    out: list[dict[str, Any]] = []
    for span in (TOTAL, DAY, HOUR):
        coarse: dict[tuple[int, str, str, str], dict[str, Any]] = {}
        for row in rows.values():
            bucket = row["bucket"] // span * span if span else 0
            key = (bucket, row["type"], row["status"], row["created_by"])
            into = coarse.get(key)
            if into is None:
                into = coarse[key] = {**row, "span": span, "bucket": bucket, **_zero()}
            for name in SUM_COLS:
                into[name] += row[name]
        out += [coarse[k] for k in sorted(coarse)]
    return out + [rows[k] for k in sorted(rows)]


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
        """Drop minute rows older than two days, hour rows older than 32 days and day rows older
        than ``retention_days`` (their ends stay counted in the coarser rows); return the rows
        removed. The all-time totals are never dropped.

        :param conn: the caller's transaction.
        :param now: the current time.
        :param retention_days: ``JOBS_ADMIN_STATS_RETENTION_DAYS``.
        """
        t = self.table
        at = int(epoch(now))
        removed = 0
        for span, keep in ((MINUTE, KEEP_MINUTES), (HOUR, KEEP_HOURS), (DAY, retention_days * DAY)):
            old = sa.delete(t).where(t.c.span == span, t.c.bucket < at - keep)
            removed += conn.execute(old).rowcount or 0
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
