"""The live feed's change cursor: how writes stamp it, and how readers find what changed.

Every write that changes what the admin shows sets ``jobs_admin_job.change_seq`` (the store's
:meth:`~jobs_admin.store.StoreBase._changed` is the one place that does, with the value its
database's store stamps, and :meth:`~jobs_admin.store.StoreBase.change_cursor` gives the
cursor of "now"). A reader holds a *cursor*, an opaque token, and asks :func:`read` for the
jobs that changed after it; the answer comes with the cursor to ask from next time. What a
token means depends on the engine, because the two engines fail a naive
"``change_seq > last seen``" in different ways:

**PostgreSQL.** Numbers from a sequence are handed out when a transaction *writes* but become
visible when it *commits*, and commits happen in any order: a transaction may take 41, another
take 42 and commit first, and a reader that saw 42 and moved its cursor past 41 never sees 41.
So ``change_seq`` holds the id of the writing transaction (``pg_current_xact_id()``, 64 bits,
never reused) and the cursor is a *snapshot* (``pg_current_snapshot()``: every transaction below
``xmin`` has ended, those listed as in progress and those from ``xmax`` on have not). What
changed between two snapshots is exactly the rows whose transaction is visible in the newer
snapshot and not in the older one; the newer one is the reader's own statement snapshot, so
"visible to this query" is the first half, and ``NOT pg_visible_in_snapshot(change_seq, old)``
the second. A transaction that commits late is invisible to the old snapshot however small its
id, so it is found the next time; one already delivered is visible in every later snapshot, so
it is never delivered again. An index range scan from the old snapshot's ``xmin`` finds the
candidates. This is how PgQ batches events.

**SQLite.** One writer at a time, holding the write lock from its first write to its commit: a
number taken as "one more than the highest in use" is taken under that lock, so numbers and
commits come in the same order and "``change_seq > cursor``" misses nothing. Deleting the jobs
with the highest numbers would hand those numbers out again below a reader's cursor: deletes
first record their highest number in ``jobs_admin_change_floor``, and new numbers start above it.

The token is ``"s:<number>"`` on SQLite and ``"p:<snapshot>"`` on PostgreSQL; anything else (a
tampered or foreign token) reads as "unknown", and the reader resynchronises. A well-formed token
that would be expensive to read from (crafted, or very old) or that lies in the future is not
:func:`servable`: the reader resynchronises too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

#: The PostgreSQL ``LISTEN/NOTIFY`` channel a stamp notifies: change feeds wake at once (see
#: :data:`jobs_admin.store.postgresql.PG_STAMP`).
CHANNEL = "jobs_admin_changes"

#: The columns a change carries (what the list and detail pages update in place).
COLUMNS = (
    "id",
    "type",
    "name",
    "reference",
    "status",
    "phase",
    "progress_total",
    "progress_done",
    "progress_failed",
    "message",
    "created_by",
    "attempts",
    "max_attempts",
    "cancel_requested",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    # The list's optional columns.
    "updated_by",
    "priority",
    "worker",
)

#: Characters of a job's error a change carries (the list shows it as a tooltip).
ERROR_CHARS = 300

_SNAPSHOT = re.compile(r"^(\d{1,20}):(\d{1,20}):((?:\d{1,20})(?:,\d{1,20})*)?$")
_NUMBER = re.compile(r"^\d{1,20}$")
_BIGINT = 2**63


@dataclass(frozen=True)
class Batch:
    """What :func:`read` found: the changed jobs (as dicts), the next cursor, and whether more
    jobs changed than ``limit`` (then ``jobs`` holds only some of them)."""

    jobs: list[dict[str, Any]]
    cursor: str
    overflow: bool
    #: The deleted jobs (``{"id", "created_by", "change_seq"}``) since the cursor.
    removed: list[dict[str, Any]] = field(default_factory=list)


def valid(token: str | None, dialect: str) -> bool:
    """Whether ``token`` is a well-formed cursor of ``dialect`` (``"postgresql"``/``"sqlite"``).

    Strict, as PostgreSQL's own snapshot parser is: a browser's token must never make a read of
    the shared feed fail.
    """
    if not token or len(token) > 20000:
        return False
    kind, _, value = token.partition(":")
    if dialect == "postgresql":
        match = _SNAPSHOT.match(value) if kind == "p" else None
        if match is None:
            return False
        xmin, xmax, xip = _snapshot(token)
        listed = [int(x) for x in (match.group(3) or "").split(",") if x]
        return (
            xmin <= xmax < _BIGINT
            and all(xmin <= x < xmax for x in xip)
            and listed == sorted(listed)
        )
    return kind == "s" and bool(_NUMBER.match(value)) and int(value) < _BIGINT


def _snapshot(token: str) -> tuple[int, int, frozenset[int]]:
    xmin, xmax, xip = token.partition(":")[2].split(":")
    return int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x)


def seen(cursor: str, seq: int | None) -> bool:
    """Whether a job stamped ``seq`` had already changed to that version at ``cursor``."""
    if seq is None:
        return True
    if cursor.startswith("p:"):
        xmin, xmax, xip = _snapshot(cursor)
        return seq < xmin or (seq < xmax and seq not in xip)
    return seq <= int(cursor.partition(":")[2])


def covers(cursor: str, other: str) -> bool:
    """Whether every change seen at ``other`` is seen at ``cursor`` too."""
    if cursor.startswith("p:") and other.startswith("p:"):
        _, xmax, xip = _snapshot(cursor)
        _, other_xmax, other_xip = _snapshot(other)
        return other_xmax <= xmax and all(x in other_xip for x in xip if x < other_xmax)
    if cursor.startswith("s:") and other.startswith("s:"):
        return int(cursor[2:]) >= int(other[2:])
    return False


def servable(conn: Any, jobs: sa.Table, since: str, now: str, *, scan_limit: int) -> bool:
    """Whether :func:`read` from a browser's cursor ``since`` is cheap, so worth doing.

    A read from ``since`` walks the ``change_seq`` index from the cursor's low bound (the
    snapshot's ``xmin`` on PostgreSQL, the number on SQLite) and looks at every row above it.
    A cursor the feed handed out a moment ago has few rows above it. A crafted one
    (``p:1:<xmax>:`` says "every transaction from 1 on is already seen") or a very old one has
    the whole table above it: that read costs as much as the table is big, for a catch-up that
    finds nothing new or more than fits in one message anyway. So a cursor is servable when:

    * it is not ahead of ``now`` (the feed's own cursor of this moment): one from the future
      would hide the changes until then;
    * fewer than ``scan_limit`` jobs have a change number at or above its low bound (one index
      probe of at most that many entries).

    :param since: a :func:`valid` cursor.
    :param now: the cursor of a read made just now on ``conn``'s database.
    :param scan_limit: most rows a catch-up may have to look at.
    """
    if not covers(now, since):
        return False
    kind, _, value = since.partition(":")
    if kind == "p":
        above = jobs.c.change_seq >= int(value.split(":", 1)[0])
    else:
        above = jobs.c.change_seq > int(value)
    probe = (
        sa.select(jobs.c.change_seq)
        .where(above)
        .order_by(jobs.c.change_seq)
        .offset(scan_limit)
        .limit(1)
    )
    return conn.execute(probe).first() is None


def later(first: str, second: str) -> str:
    """The cursor of two reads of one database, ``second`` made after ``first``."""
    if first.startswith("s:") and second.startswith("s:"):
        return first if int(first[2:]) >= int(second[2:]) else second
    return second


def read(
    conn: Any,
    jobs: sa.Table,
    since: str,
    *,
    limit: int,
    upto: str | None = None,
    created_by: str | None = None,
    removals: sa.Table | None = None,
) -> Batch:
    """The jobs that changed after the cursor ``since`` (a :func:`valid` token), and with
    ``removals`` (the ``jobs_admin_job_removal`` table) the jobs deleted since: one statement
    reads both, so the cursor it returns covers both.

    :param upto: SQLite: leave out changes after this cursor (a catch-up that must end where
        the feed's own read of the same moment ended). PostgreSQL needs no bound: run the reads
        of one moment in one ``REPEATABLE READ`` transaction, and they share its snapshot.
    :param created_by: only the jobs of this creator.
    :param limit: at most this many jobs (changed and deleted); ``overflow`` says when more
        changed.
    """
    kind, _, value = since.partition(":")
    parts = [sa.select(*_columns(jobs, False)).where(*_after(jobs, since, upto, created_by))]
    if removals is not None:
        parts.append(
            sa.select(*_columns(removals, True)).where(*_after(removals, since, upto, created_by))
        )
    changed = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("changed")
    if kind == "p":
        # One statement, so the snapshot it reports is the one its rows were read in; the
        # one-row subquery keeps that snapshot when no row changed.
        one = sa.select(sa.literal(1).label("one")).subquery("one")
        snap = sa.func.pg_current_snapshot().cast(sa.Text()).label("jobs_admin_snapshot")
        stmt = (
            sa.select(snap, *changed.c)
            .select_from(one.outerjoin(changed, sa.true()))
            .limit(limit + 1)
        )
        rows = conn.execute(stmt).mappings().all()
        cursor = "p:" + str(rows[0]["jobs_admin_snapshot"])
        rows = [r for r in rows if r["id"] is not None]
    else:
        start = int(value)
        stmt = sa.select(*changed.c).order_by(changed.c.change_seq).limit(limit + 1)
        rows = conn.execute(stmt).mappings().all()
        if upto is not None:
            cursor = upto
        elif len(rows) > limit:
            # Too many to send: skip to the newest number (readers resynchronise).
            tops = [sa.select(sa.func.max(t.c.change_seq)).scalar_subquery() for t in (jobs,)]
            if removals is not None:
                tops.append(sa.select(sa.func.max(removals.c.change_seq)).scalar_subquery())
            top = max(conn.execute(sa.select(*tops)).one(), key=lambda v: v or 0)
            cursor = f"s:{int(top or start)}"
        else:
            cursor = f"s:{max((int(r['change_seq']) for r in rows), default=start)}"
    overflow = len(rows) > limit
    rows = rows[:limit]
    found = [_job(r) for r in rows if not r["jobs_admin_removed"]]
    removed = [
        {"id": r["id"], "created_by": r["created_by"], "change_seq": r["change_seq"]}
        for r in rows
        if r["jobs_admin_removed"]
    ]
    return Batch(found, cursor, overflow, removed)


def _after(
    table: sa.Table, since: str, upto: str | None, created_by: str | None
) -> list[sa.ColumnElement[bool]]:
    """The rows of ``table`` (jobs or removals) changed after ``since`` (and up to ``upto``)."""
    kind, _, value = since.partition(":")
    where: list[Any] = []
    if kind == "p":
        xmin = int(value.split(":", 1)[0])
        unseen = sa.text(
            f"NOT pg_visible_in_snapshot({table.name}.change_seq::text::xid8,"
            " CAST(:jobs_admin_since AS pg_snapshot))"
        ).bindparams(jobs_admin_since=value)
        where += [table.c.change_seq >= xmin, unseen]
    else:
        where.append(table.c.change_seq > int(value))
        if upto is not None:
            where.append(table.c.change_seq <= int(upto.partition(":")[2]))
    if created_by is not None:
        where.append(table.c.created_by == created_by)
    return where


def _columns(table: sa.Table, removal: bool) -> list[Any]:
    """The columns a change carries, from the jobs table or (``NULL`` but the id, creator and
    cursor) from the removals table, and whether the row is a removal."""
    if not removal:
        columns: list[Any] = [table.c.change_seq, *(table.c[name] for name in COLUMNS)]
        columns.append(sa.func.substr(table.c.error, 1, ERROR_CHARS).label("error"))
        # Whether the job has a result file (its row offers a download), not the file's path.
        columns.append(table.c.result_file.is_not(None).label("has_result"))
        columns.append(sa.false().label("jobs_admin_removed"))
        return columns
    own = {"id": table.c.job_id, "created_by": table.c.created_by}
    return [
        table.c.change_seq,
        *(own[name].label(name) if name in own else _null(name) for name in COLUMNS),
        sa.null().cast(sa.Text()).label("error"),
        sa.false().label("has_result"),
        sa.true().label("jobs_admin_removed"),
    ]


#: The SQL type of each change column, for the removals' ``NULL`` in the union.
_TYPES: dict[str, Any] = {
    "progress_total": sa.Integer(),
    "progress_done": sa.Integer(),
    "progress_failed": sa.Integer(),
    "attempts": sa.Integer(),
    "max_attempts": sa.Integer(),
    "priority": sa.Integer(),
    "cancel_requested": sa.Boolean(),
    "created_at": sa.DateTime(timezone=True),
    "started_at": sa.DateTime(timezone=True),
    "finished_at": sa.DateTime(timezone=True),
    "updated_at": sa.DateTime(timezone=True),
}


def _null(name: str) -> Any:
    return sa.null().cast(_TYPES.get(name, sa.String())).label(name)


def _job(row: Any) -> dict[str, Any]:
    job = {name: row[name] for name in (*COLUMNS, "error")}
    job["has_result"] = bool(row["has_result"])
    job["change_seq"] = row["change_seq"]
    for name in ("created_at", "started_at", "finished_at", "updated_at"):
        if job[name] is not None:
            job[name] = job[name].isoformat()
    job["cancel_requested"] = bool(job["cancel_requested"])
    return job
